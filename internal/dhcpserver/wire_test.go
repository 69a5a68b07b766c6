//go:build integration

package dhcpserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/harness"
	"golang.org/x/sys/unix"
)

// frame is a reply the server put on the wire, as the client side saw it.
type frame struct {
	dstMAC       net.HardwareAddr
	srcIP, dstIP net.IP
	sport, dport uint16
	ipOK, udpOK  bool // checksums verify (udpOK also when the sender sent none)
	msg          *dhcpv4.DHCPv4
}

// wire is the client side of a test network: one AF_PACKET socket on an
// interface of the client namespace that sends hand-made DHCP broadcasts
// from any MAC and captures every IPv4/UDP frame from port 67, whatever
// MAC it is addressed to.
type wire struct {
	fd      int
	ifindex int
	frames  chan frame
	closed  atomic.Bool
	done    chan struct{}
	dropped atomic.Int64
}

func openWire(ns, iface string) (*wire, error) {
	w := &wire{frames: make(chan frame, 1<<15), done: make(chan struct{})}
	err := harness.InNS(ns, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		w.ifindex = ifi.Index
		w.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("wire %s/%s: %w", ns, iface, err)
	}
	setup := []error{
		unix.Bind(w.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: w.ifindex}),
		unix.SetsockoptPacketMreq(w.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP,
			&unix.PacketMreq{Ifindex: int32(w.ifindex), Type: unix.PACKET_MR_PROMISC}),
		unix.SetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20),
		unix.SetsockoptTimeval(w.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000}),
	}
	if err := errors.Join(setup...); err != nil {
		unix.Close(w.fd)
		return nil, fmt.Errorf("wire %s/%s: %w", ns, iface, err)
	}
	go w.receive()
	return w, nil
}

func (w *wire) close() {
	if !w.closed.Swap(true) {
		<-w.done
		unix.Close(w.fd)
	}
}

// send broadcasts m as a client without an address does: 0.0.0.0:68 to
// 255.255.255.255:67, Ethernet broadcast from m's chaddr.
func (w *wire) send(m *dhcpv4.DHCPv4) error { return w.sendRaw(m.ClientHWAddr, m.ToBytes()) }

func (w *wire) sendRaw(src net.HardwareAddr, payload []byte) error {
	pkt, err := ipv4UDP(net.IPv4zero, net.IPv4bcast, 68, 67, payload)
	if err != nil {
		return err
	}
	f := make([]byte, 14, 14+len(pkt))
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	f = append(f, pkt...)
	for {
		err := unix.Sendto(w.fd, f, 0, &unix.SockaddrLinklayer{Ifindex: w.ifindex})
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		return err
	}
}

func (w *wire) receive() {
	defer close(w.done)
	buf := make([]byte, 1<<16)
	for !w.closed.Load() {
		n, from, err := unix.Recvfrom(w.fd, buf, 0)
		if err != nil {
			continue // timeout (to notice close) or EINTR
		}
		if sa, ok := from.(*unix.SockaddrLinklayer); ok && sa.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f, ok := parseFrame(buf[:n])
		if !ok {
			continue
		}
		select {
		case w.frames <- f:
		default:
			w.dropped.Add(1)
		}
	}
}

// parseFrame decodes an Ethernet/IPv4/UDP frame from port 67 carrying DHCP.
func parseFrame(b []byte) (frame, bool) {
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:]) != unix.ETH_P_IP {
		return frame{}, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8 {
		return frame{}, false
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total > len(ip) || total < ihl+8 {
		return frame{}, false
	}
	udp := ip[ihl:total]
	f := frame{
		dstMAC: append(net.HardwareAddr(nil), b[0:6]...),
		srcIP:  append(net.IP(nil), ip[12:16]...), dstIP: append(net.IP(nil), ip[16:20]...),
		sport: binary.BigEndian.Uint16(udp[0:]), dport: binary.BigEndian.Uint16(udp[2:]),
		ipOK: fold(sum(ip[:ihl])) == 0xffff,
	}
	if f.sport != 67 {
		return frame{}, false
	}
	pseudo := append(append(append([]byte{}, ip[12:20]...), 0, unix.IPPROTO_UDP), udp[4:6]...)
	f.udpOK = binary.BigEndian.Uint16(udp[6:]) == 0 || fold(sum(pseudo)+sum(udp)) == 0xffff
	m, err := dhcpv4.FromBytes(udp[8:])
	if err != nil {
		return frame{}, false
	}
	f.msg = m
	return f, true
}
