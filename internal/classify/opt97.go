package classify

import (
	"encoding/binary"
	"fmt"
	"net"
)

// GUID is what option 97 (client machine identifier) told us.
type GUID struct {
	Family   string // "RPi4", "RPi5" (any "RPi"+digit magic), or "" for other layouts
	Revision uint32 // board revision code, 0 if the layout carries none
	Serial   string // 8 lower-case hex digits, or ""
	Ignored  string // why nothing was decoded, "" when something was
}

// DecodeOpt97 reads option 97 as sent by Raspberry Pi bootloaders: type 0
// followed by a 16-byte GUID. Pi 4/5 EEPROMs lay the GUID out as magic,
// revision, 4 low MAC bytes, serial (all 32-bit little-endian); older
// EEPROMs and the Pi 3 ROM repeat the serial four times. DHCP_OPTION97 in
// the EEPROM can replace the magic, so the MAC bytes, not the magic, decide
// whether the rest is trusted. mac may be nil.
func DecodeOpt97(b []byte, mac net.HardwareAddr) GUID {
	if len(b) != 17 {
		return GUID{Ignored: fmt.Sprintf("option 97 is %d bytes, want 17 (type 0 + 16-byte GUID)", len(b))}
	}
	if b[0] != 0 {
		return GUID{Ignored: fmt.Sprintf("option 97 type %d, want 0 (GUID)", b[0])}
	}
	guid := b[1:]
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(guid[4*i:]) }
	magic := string(guid[:4])
	family := ""
	if magic[:3] == "RPi" && magic[3] >= '0' && magic[3] <= '9' {
		family = magic
	}
	macMatches := len(mac) == 6 && string(guid[8:12]) == string(mac[2:6])
	switch {
	case w(0) == w(1) && w(1) == w(2) && w(2) == w(3):
		if w(0) == 0 {
			return GUID{Ignored: "option 97 GUID is all zeros"}
		}
		return GUID{Serial: fmt.Sprintf("%08x", w(0))}
	case family != "" || macMatches:
		g := GUID{Family: family, Serial: fmt.Sprintf("%08x", w(3))}
		if rev := w(1); rev&newStyleFlag != 0 {
			g.Revision = rev
		}
		return g
	default:
		return GUID{Ignored: "option 97 GUID has neither a Raspberry Pi magic, the client's MAC, nor a repeated serial"}
	}
}
