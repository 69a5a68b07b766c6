package piboard

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/harness"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Reply is one DHCP message received for a board.
type Reply struct {
	Msg *dhcpv4.DHCPv4
	Raw []byte // the DHCP payload as received (for byte-level checks)
	At  time.Time
}

// Link is the raw DHCP side of one interface, shared by every board on it:
// it sends broadcast DHCP frames with any source MAC and hands received
// replies to whoever subscribed to their chaddr.
type Link struct {
	ns      string // the namespace iface lives in ("" = the opener's)
	iface   *net.Interface
	fd      int
	closed  atomic.Bool
	done    chan struct{}
	mu      sync.Mutex
	subs    map[string]chan Reply // by chaddr
	deaf    bool                  // bound to deafProto while nobody waits for a reply (under mu)
	Dropped atomic.Int64          // replies nobody waited for, or that overflowed a queue
	// ProxyDHCP says another server hands out this segment's addresses and
	// a proxyDHCP server the boot answer (see acquireProxy).
	ProxyDHCP atomic.Bool
}

// OpenLink opens the raw socket on iface inside namespace ns ("" = here).
func OpenLink(ns, iface string) (*Link, error) {
	l := &Link{ns: ns, subs: map[string]chan Reply{}, done: make(chan struct{})}
	err := harness.InNS(ns, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		l.iface = ifc
		l.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("piboard: open %s: %w", iface, err)
	}
	if err := l.setup(); err != nil {
		unix.Close(l.fd)
		return nil, fmt.Errorf("piboard: open %s: %w", iface, err)
	}
	go l.receive()
	return l, nil
}

func (l *Link) setup() error {
	prog, err := bpf.Assemble(dhcpReplyFilter)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	if err := unix.SetsockoptSockFprog(l.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	if err := l.bind(unix.ETH_P_IP); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	// Replies go to each board's own MAC, not the interface's.
	if err := unix.SetsockoptPacketMreq(l.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP,
		&unix.PacketMreq{Ifindex: int32(l.iface.Index), Type: unix.PACKET_MR_PROMISC}); err != nil {
		return fmt.Errorf("promiscuous: %w", err)
	}
	// A thousand boards answered at once must not overflow the queue.
	_ = unix.SetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	return unix.SetsockoptTimeval(l.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// dhcpReplyFilter accepts IPv4 UDP to port 68, unfragmented.
var dhcpReplyFilter = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 12, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: 8},
	bpf.LoadAbsolute{Off: 23, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: 6},
	bpf.LoadAbsolute{Off: 20, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4},
	bpf.LoadMemShift{Off: 14},
	bpf.LoadIndirect{Off: 16, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: clientPort, SkipFalse: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Iface is the interface the link runs on.
func (l *Link) Iface() string { return l.iface.Name }

// Subscribe returns the queue of replies whose chaddr is mac, until
// Unsubscribe. One subscriber per MAC.
func (l *Link) Subscribe(mac net.HardwareAddr) <-chan Reply {
	ch := make(chan Reply, 32)
	l.mu.Lock()
	l.subs[string(mac)] = ch
	if l.deaf && l.bind(unix.ETH_P_IP) == nil {
		l.deaf = false
	}
	l.mu.Unlock()
	return ch
}

// Unsubscribe stops delivering replies for mac. When nobody waits for a
// reply any more the socket stops receiving: otherwise every packet into
// the boards' namespace (a storm's TFTP traffic, millions of them) is
// handed to it (and so cloned for the IP stack), at the cost of whoever
// sends it, the server under test.
func (l *Link) Unsubscribe(mac net.HardwareAddr) {
	l.mu.Lock()
	delete(l.subs, string(mac))
	if len(l.subs) == 0 && !l.deaf && l.bind(deafProto) == nil {
		l.deaf = true
	}
	l.mu.Unlock()
}

// deafProto is an EtherType nobody on the test networks sends (IEEE 802
// local experimental). Binding to it is how a packet socket stops
// receiving: binding to protocol 0 keeps the current one.
const deafProto = 0x88b5

// bind (re)binds the socket to the interface for protocol (sending needs
// no binding).
func (l *Link) bind(protocol uint16) error {
	return unix.Bind(l.fd, &unix.SockaddrLinklayer{Protocol: htons(protocol), Ifindex: l.iface.Index})
}

// Send broadcasts a DHCP message from its chaddr.
func (l *Link) Send(m *dhcpv4.DHCPv4) error {
	return l.SendRaw(m.ClientHWAddr, m.ToBytes())
}

// SendRaw broadcasts payload as a DHCP request from src, whatever it holds;
// tests use it for malformed packets.
func (l *Link) SendRaw(src net.HardwareAddr, payload []byte) error {
	f := broadcastFrame(src, payload)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: l.iface.Index, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for {
		err := unix.Sendto(l.fd, f, 0, sa)
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
			time.Sleep(time.Millisecond) // a storm filled the device queue; the ROM would retry too
			continue
		}
		if err != nil {
			return fmt.Errorf("piboard: send from %s: %w", src, err)
		}
		return nil
	}
}

// Close stops the receiver and closes the socket.
func (l *Link) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	<-l.done
	return unix.Close(l.fd)
}

func (l *Link) receive() {
	defer close(l.done)
	buf := make([]byte, 65536)
	for !l.closed.Load() {
		n, from, err := unix.Recvfrom(l.fd, buf, 0)
		if err != nil {
			continue // timeout (to notice Close) or EINTR
		}
		if sa, ok := from.(*unix.SockaddrLinklayer); ok && sa.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		payload := dhcpPayload(buf[:n])
		if payload == nil {
			continue
		}
		raw := append([]byte(nil), payload...)
		m, err := dhcpv4.FromBytes(raw)
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		l.mu.Lock()
		ch := l.subs[string(m.ClientHWAddr)]
		l.mu.Unlock()
		if ch == nil {
			l.Dropped.Add(1)
			continue
		}
		select {
		case ch <- Reply{Msg: m, Raw: raw, At: time.Now()}:
		default:
			l.Dropped.Add(1)
		}
	}
}
