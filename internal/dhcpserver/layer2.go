package dhcpserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// l2Sender sends IPv4/UDP datagrams to a hardware address, for clients that
// have no IP address yet (so no ARP answer): one AF_PACKET socket for every
// interface, opened at start (so it lives in the listeners' network
// namespace) and shared by all handlers, since sendto is thread-safe.
// Protocol 0 means the socket receives nothing: it costs no CPU per frame
// on the wire.
type l2Sender struct {
	mu sync.RWMutex // held for reading while sending, for writing by close
	fd int          // -1 once closed
}

func newL2Sender() (*l2Sender, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket for replies to clients without an address (needs CAP_NET_RAW): %w", err)
	}
	return &l2Sender{fd: fd}, nil
}

// errClosed is returned for replies finished after Close.
var errClosed = errors.New("layer-2 sender closed")

// send puts an IPv4/UDP datagram from src:67 to dst:68 carrying payload
// on interface ifindex, addressed to the hardware address mac. The kernel
// adds the Ethernet header (SOCK_DGRAM) with the interface's MAC as source.
func (s *l2Sender) send(ifindex int, mac net.HardwareAddr, src, dst net.IP, payload []byte) error {
	pkt, err := ipv4UDP(src, dst, dhcpv4.ServerPort, dhcpv4.ClientPort, payload)
	if err != nil {
		return err
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifindex, Halen: uint8(len(mac))}
	copy(sa.Addr[:], mac)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return errClosed
	}
	for tries := 0; ; tries++ {
		err = unix.Sendto(s.fd, pkt, 0, sa)
		// A storm can fill the device queue for a moment; the frame is
		// worth a short wait, a lost OFFER costs a Pi 3 five seconds.
		if (errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN)) && tries < 50 {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return fmt.Errorf("send to %s at %s (ifindex %d): %w", dst, mac, ifindex, err)
		}
		return nil
	}
}

func (s *l2Sender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ipv4UDP builds an IPv4 header (no options, TTL 64, don't fragment) and a
// UDP header with its checksum in front of payload.
func ipv4UDP(src, dst net.IP, sport, dport int, payload []byte) ([]byte, error) {
	s4, d4 := src.To4(), dst.To4()
	if s4 == nil || d4 == nil {
		return nil, fmt.Errorf("IPv4 packet from %v to %v: not IPv4 addresses", src, dst)
	}
	const ipLen, udpLen = 20, 8
	total := ipLen + udpLen + len(payload)
	if total > 0xffff {
		return nil, fmt.Errorf("IPv4 packet of %d bytes: too long", total)
	}
	p := make([]byte, total)
	ip := p[:ipLen]
	ip[0] = 0x45 // version 4, 5 words of header
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
	ip[8] = 64                                 // TTL
	ip[9] = unix.IPPROTO_UDP
	copy(ip[12:16], s4)
	copy(ip[16:20], d4)
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip)))
	udp := p[ipLen:]
	binary.BigEndian.PutUint16(udp[0:], uint16(sport))
	binary.BigEndian.PutUint16(udp[2:], uint16(dport))
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen+len(payload)))
	copy(udp[udpLen:], payload)
	// The pseudo-header: addresses, protocol, UDP length.
	ph := sum(s4) + sum(d4) + unix.IPPROTO_UDP + uint32(udpLen+len(payload))
	c := ^fold(ph + sum(udp))
	if c == 0 {
		c = 0xffff // 0 means "no checksum" in UDP over IPv4
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return p, nil
}

// sum adds b as big-endian 16-bit words (RFC 1071), an odd last byte padded.
func sum(b []byte) uint32 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
