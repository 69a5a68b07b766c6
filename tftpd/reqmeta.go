package tftpd

import (
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reqMeta is what the kernel tells about one packet on the request port
// besides its payload: the local address it was sent to (replies leave
// from it), the MTU of the interface it came in on (0 if unknown), and
// when it arrived.
type reqMeta struct {
	dst     net.IP
	mtu     int
	arrived time.Time
}

// metaSpace is room for the two control messages asked for: IP_PKTINFO
// and a nanosecond timestamp.
var metaSpace = unix.CmsgSpace(unix.SizeofInet4Pktinfo) + unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))

// askMeta makes the kernel attach IP_PKTINFO and the arrival time
// (SO_TIMESTAMPNS) to every packet on conn. Either may be refused: replies
// then leave from the kernel's choice of address, and the time of reading
// stands in for the arrival time, which is what tells a duplicate request
// that waited in the socket buffer from a board's new one (Server.claim).
func askMeta(conn *net.UDPConn) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
}

// parseMeta reads the control messages of one packet; what is missing
// stays zero.
func parseMeta(oob []byte) reqMeta {
	var m reqMeta
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return m
	}
	for _, c := range msgs {
		switch {
		case c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_PKTINFO && len(c.Data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&c.Data[0]))
			m.dst = net.IPv4(pi.Addr[0], pi.Addr[1], pi.Addr[2], pi.Addr[3]).To4()
			m.mtu = ifaceMTU(int(pi.Ifindex))
		case c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SCM_TIMESTAMPNS && len(c.Data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&c.Data[0]))
			m.arrived = time.Unix(ts.Unix())
		}
	}
	return m
}
