package piboard

import (
	"net"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The TFTP client moves one block per packet, and in a storm it shares the
// machine's cores with the server it measures, so its per-packet path goes
// straight to the kernel: no address allocated per packet, and RawSyscall
// rather than Syscall. Both calls below are non-blocking (the socket is
// O_NONBLOCK), and with Syscall the runtime's bookkeeping cost more CPU
// than the calls themselves: a sendto carries the packet through the veth
// pair and the bridge into the server's socket, long enough for sysmon to
// keep polling every 20 µs and hand the P to another thread.

// udpReader reads datagrams into one buffer reused for every packet.
type udpReader struct {
	buf     []byte
	from    unix.RawSockaddrInet4
	fromLen uint32
}

func newUDPReader(size int) *udpReader {
	return &udpReader{buf: make([]byte, size)}
}

// recv reads the next datagram waiting on fd without waiting for one: it
// returns unix.EAGAIN when there is none. The datagram and its sender stay
// valid until the next recv.
func (r *udpReader) recv(fd int) ([]byte, *unix.RawSockaddrInet4, error) {
	for {
		r.fromLen = unix.SizeofSockaddrInet4
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
			0, uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&r.fromLen)))
		switch e {
		case 0:
			return r.buf[:n], &r.from, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return nil, nil, e
		default:
			return nil, nil, os.NewSyscallError("recvfrom", e)
		}
	}
}

// inet4 is the socket address of addr:port.
func inet4(addr netip.Addr, port uint16) unix.RawSockaddrInet4 {
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr.As4()}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return sa
}

// sameInet4 says whether a and b are the same address and port.
func sameInet4(a, b *unix.RawSockaddrInet4) bool {
	return a.Port == b.Port && a.Addr == b.Addr
}

// udpAddr is sa as the net package spells it.
func udpAddr(sa *unix.RawSockaddrInet4) *net.UDPAddr {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	return &net.UDPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: int(p[0])<<8 | int(p[1])}
}

// sendTo sends p from conn (whose descriptor is fd) to to. A full send
// buffer, which the non-blocking call reports as EAGAIN, falls back to
// conn's own write, which waits for room as the client always did.
func sendTo(conn *net.UDPConn, fd int, p []byte, to *unix.RawSockaddrInet4) error {
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			0, uintptr(unsafe.Pointer(to)), unix.SizeofSockaddrInet4)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			_, err := conn.WriteToUDP(p, udpAddr(to))
			return err
		default:
			return os.NewSyscallError("sendto", e)
		}
	}
}
