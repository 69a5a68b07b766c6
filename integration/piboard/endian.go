package piboard

import "encoding/binary"

// nativeEndian is the byte order of netlink messages (the host's).
var nativeEndian = binary.NativeEndian
