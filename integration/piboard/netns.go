package piboard

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/rpinetboot/rpinetboot/internal/harness"
	"golang.org/x/sys/unix"
)

// addAddr adds ip/bits to iface through netlink (one `ip addr add` per board
// would cost a process each under a storm); an address already there is fine.
func addAddr(ns, iface string, ip netip.Addr, bits int) error {
	return harness.InNS(ns, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("add address %s: %w", ip, err)
		}
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("add address %s: netlink: %w", ip, err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("add address %s: netlink bind: %w", ip, err)
		}
		msg := newAddrMsg(ifc.Index, ip, bits)
		if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("add address %s: netlink send: %w", ip, err)
		}
		buf := make([]byte, 4096)
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("add address %s: netlink receive: %w", ip, err)
		}
		if n >= unix.NLMSG_HDRLEN+4 && nativeEndian.Uint16(buf[4:6]) == unix.NLMSG_ERROR {
			code := -int32(nativeEndian.Uint32(buf[unix.NLMSG_HDRLEN:]))
			if code != 0 && unix.Errno(code) != unix.EEXIST {
				return fmt.Errorf("add address %s/%d dev %s: %w", ip, bits, iface, unix.Errno(code))
			}
		}
		return nil
	})
}

// newAddrMsg builds RTM_NEWADDR for ip/bits with an ack request.
func newAddrMsg(ifindex int, ip netip.Addr, bits int) []byte {
	a := ip.As4()
	attr := func(typ uint16, val []byte) []byte {
		b := make([]byte, 4+len(val))
		nativeEndian.PutUint16(b[0:], uint16(4+len(val)))
		nativeEndian.PutUint16(b[2:], typ)
		copy(b[4:], val)
		return b
	}
	body := []byte{unix.AF_INET, byte(bits), 0, unix.RT_SCOPE_UNIVERSE, 0, 0, 0, 0}
	nativeEndian.PutUint32(body[4:], uint32(ifindex))
	body = append(body, attr(unix.IFA_LOCAL, a[:])...)
	body = append(body, attr(unix.IFA_ADDRESS, a[:])...)
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	msg = append(msg, body...)
	nativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	nativeEndian.PutUint16(msg[4:], unix.RTM_NEWADDR)
	nativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	nativeEndian.PutUint32(msg[8:], 1)
	return msg
}
