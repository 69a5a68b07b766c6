package dhcpserver

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// setReceiveBuffer asks for a receive buffer of want bytes: SO_RCVBUFFORCE
// first (root or CAP_NET_ADMIN may exceed net.core.rmem_max), then
// SO_RCVBUF, which the kernel silently caps at rmem_max. It returns the size
// the kernel reports afterwards (Linux doubles the value asked for, to
// account for its own overhead, and reports the doubled value), and whether
// the forced call worked.
func setReceiveBuffer(c syscall.Conn, want int) (got int, forced bool, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false, fmt.Errorf("receive buffer: %w", err)
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want) == nil {
			forced = true
		} else if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, want); e != nil {
			serr = fmt.Errorf("SO_RCVBUF %d: %w", want, e)
		}
		got, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if cerr != nil {
		return 0, false, fmt.Errorf("receive buffer: %w", cerr)
	}
	if serr != nil {
		return got, false, serr
	}
	if err != nil {
		return 0, forced, fmt.Errorf("receive buffer: getsockopt: %w", err)
	}
	return got, forced, nil
}
