package dhcpserver

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/sirupsen/logrus"
	"golang.org/x/net/ipv4"
)

const (
	// maxDatagram is the largest datagram read; anything longer is cut and
	// then fails to parse, which is what it deserves.
	maxDatagram = 1 << 16
	// batch is how many datagrams one recvmmsg may return: a storm is read
	// in a few system calls instead of one per packet.
	batch = 64
	// maxReadErrors ends a listener after this many consecutive failed
	// reads; fewer are treated as transient.
	maxReadErrors = 100
)

// listener is one `listen` address of `server4:`.
type listener struct {
	srv  *Servers
	conn *ipv4.PacketConn
	addr net.UDPAddr
	ifi  net.Interface // zero unless bound to an interface ("%eth0")

	// Inline mode only: read batches whose replies wait for a plugin, to
	// the sender goroutine; heldDone closes when it has finished them all.
	heldQ    chan []held
	heldDone chan struct{}
}

// listen opens addr with the same socket options as upstream (SO_BINDTODEVICE
// for a zone, SO_REUSEADDR, SO_BROADCAST) plus a large receive buffer.
func (s *Servers) listen(addr net.UDPAddr) (*listener, error) {
	l := &listener{srv: s, addr: addr}
	if addr.Zone != "" {
		ifi, err := net.InterfaceByName(addr.Zone)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", addr.Zone, err)
		}
		l.ifi = *ifi
	}
	udp, err := server4.NewIPv4UDPConn(addr.Zone, &addr)
	if err != nil {
		return nil, err
	}
	l.conn = ipv4.NewPacketConn(udp)
	if addr.Zone == "" {
		// Not bound to an interface: each packet must say where it came
		// from, for broadcasts and layer-2 replies.
		if err := l.conn.SetControlMessage(ipv4.FlagInterface, true); err != nil {
			udp.Close()
			return nil, fmt.Errorf("IP_PKTINFO: %w", err)
		}
	}
	if addr.IP.IsMulticast() {
		var ifi *net.Interface
		if l.ifi.Index != 0 {
			ifi = &l.ifi
		}
		if err := l.conn.JoinGroup(ifi, &addr); err != nil {
			udp.Close()
			return nil, fmt.Errorf("join %s: %w", addr.IP, err)
		}
	}
	got, forced, err := setReceiveBuffer(udp, s.opts.ReceiveBuffer)
	fields := logrus.Fields{"listen": listenName(addr), "rcvbuf": got}
	switch {
	case err != nil:
		log.WithFields(fields).WithError(err).Warn("could not enlarge the receive buffer; a boot storm may lose DISCOVERs")
	case !forced && got < s.opts.ReceiveBuffer:
		log.WithFields(fields).WithField("wanted", s.opts.ReceiveBuffer).Warnf("receive buffer capped by net.core.rmem_max; "+
			"a boot storm may lose DISCOVERs. Raise it (sysctl -w net.core.rmem_max=%d, or install "+
			"packaging/sysctl.d/50-rpinetboot.conf) or give coredhcp CAP_NET_ADMIN", s.opts.ReceiveBuffer)
	}
	log.WithFields(fields).WithField("max_inflight", s.opts.MaxInflight).Info("listening for DHCPv4")
	return l, nil
}

// listenName is how a listen address reads in logs: "0.0.0.0:67%eth0".
func listenName(a net.UDPAddr) string {
	ip := a.IP
	if ip == nil {
		ip = net.IPv4zero
	}
	s := net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
	if a.Zone != "" {
		s += "%" + a.Zone
	}
	return s
}

// serve reads datagrams in batches. In inline mode it runs the chain for
// each itself (the chain never blocks there: plugins that must wait hold the
// reply instead); otherwise it hands each to a handler goroutine and does no
// other work, since a reader that stops to think is a buffer that overflows.
func (l *listener) serve() error {
	s := l.srv
	if l.heldQ != nil {
		go l.sendHeld()
		defer func() {
			close(l.heldQ)
			<-l.heldDone
		}()
	}
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, maxDatagram)}
		if l.ifi.Index == 0 {
			msgs[i].OOB = ipv4.NewControlMessage(ipv4.FlagInterface)
		}
	}
	failures := 0
	for {
		n, err := l.conn.ReadBatch(msgs, 0)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			s.stats.readErrors.Add(1)
			failures++
			if failures >= maxReadErrors {
				return fmt.Errorf("dhcpv4: read on %s: %w", listenName(l.addr), err)
			}
			if ok, missed := s.warn.Allow("", "read"); ok {
				log.WithFields(logrus.Fields{"listen": listenName(l.addr), "suppressed": missed}).WithError(err).Warn("read failed")
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		failures = 0
		if l.heldQ != nil {
			l.runBatch(msgs[:n])
			continue
		}
		for i := range msgs[:n] {
			l.dispatch(&msgs[i])
		}
	}
}

// dispatch copies one datagram out of the read buffer and starts its
// handler, or drops it when MaxInflight handlers are already running.
func (l *listener) dispatch(m *ipv4.Message) {
	s := l.srv
	s.stats.received.Add(1)
	select {
	case s.sem <- struct{}{}:
	default:
		s.stats.busy.Add(1)
		if ok, missed := s.warn.Allow("", "busy"); ok {
			log.WithFields(logrus.Fields{"max_inflight": s.opts.MaxInflight, "dropped_since_last_warning": missed}).
				Warn("too many requests in the handler chain; dropping, clients will retry (see --max-inflight)")
		}
		return
	}
	pkt := append([]byte(nil), m.Buffers[0][:m.N]...)
	ifindex, peer := l.origin(m)
	go func() {
		defer func() { <-s.sem }()
		l.serveOne(pkt, ifindex, peer)
	}()
}

// origin is the interface a datagram came in on and its sender.
func (l *listener) origin(m *ipv4.Message) (int, *net.UDPAddr) {
	ifindex := l.ifi.Index
	if ifindex == 0 && m.NN > 0 {
		var cm ipv4.ControlMessage
		if cm.Parse(m.OOB[:m.NN]) == nil {
			ifindex = cm.IfIndex
		}
	}
	peer, _ := m.Addr.(*net.UDPAddr)
	return ifindex, peer
}
