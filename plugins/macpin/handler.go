package macpin

import (
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/replyhold"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

// Handler4 answers DHCPv4 requests from the pins; it is the plugin's handler.
func (m *Macpin) Handler4(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if !usableMAC(req.ClientHWAddr) {
		if m.allowLog("chaddr", req.ClientHWAddr) {
			m.log.WithFields(logrus.Fields{"chaddr_len": len(req.ClientHWAddr), "chaddr": req.ClientHWAddr.String()}).
				Warn("request without a usable client hardware address, ignored")
		}
		return nil, true
	}
	if m.cfg.NetbootOnly {
		if _, ok := m.Lookup(req.ClientHWAddr); !ok && !m.netboot(req) {
			// Not pinned and not a board: the next plugin (range) leases it.
			return resp, false
		}
	}
	// Ours: the answer is final. A plugin after macpin (range, for the
	// clients pin=netboot leaves alone) would otherwise put its own address
	// over the pin.
	out, _ := m.handle(req, resp)
	return out, true
}

// handle answers a request from the pins.
func (m *Macpin) handle(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return m.discover(req, resp)
	case dhcpv4.MessageTypeRequest:
		return m.request(req, resp)
	case dhcpv4.MessageTypeRelease:
		// Pins are forever: a RELEASE changes nothing and gets no reply.
		m.log.WithField("mac", req.ClientHWAddr.String()).Debug("RELEASE ignored, pin kept")
		return nil, true
	case dhcpv4.MessageTypeDecline:
		m.decline(req, resp)
		return nil, true
	default:
		// INFORM and the rest: no address to hand out, nothing to allocate.
		return resp, false
	}
}

func (m *Macpin) discover(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	ip, err := m.addressFor(req, requested(req, false), func(resp *dhcpv4.DHCPv4, _, got netip.Addr) {
		m.answer(resp, got)
	})
	if err != nil {
		return nil, true
	}
	m.answer(resp, ip)
	return resp, false
}

func (m *Macpin) request(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if forOtherServer(req, resp) {
		// SELECTING state, another server's OFFER won (RFC 2131 §4.3.2):
		// stay silent; pinning or NAKing here would fight that server.
		m.log.WithFields(logrus.Fields{"mac": req.ClientHWAddr.String(), "server": req.ServerIdentifier().String()}).Debug("REQUEST for another server, ignored")
		return nil, true
	}
	want := requested(req, true)
	ip, err := m.addressFor(req, want, func(resp *dhcpv4.DHCPv4, reserved, got netip.Addr) {
		if !want.IsValid() || want == reserved { // not NAKed already
			m.ackOrNak(req, resp, want, got)
		}
	})
	if err != nil {
		return nil, true
	}
	if !m.ackOrNak(req, resp, want, ip) {
		return resp, true
	}
	return resp, false
}

// addressFor returns the address pinned to req's MAC, reserving a new one
// (preferring preferred) for an unknown MAC. A new pin's commit is waited
// for by the packet loop, which holds the reply (replyhold) and calls moved
// on it if a conflict gave the pin another address than the one reserved;
// where the loop cannot hold replies, it is waited for here.
func (m *Macpin) addressFor(req *dhcpv4.DHCPv4, preferred netip.Addr, moved func(resp *dhcpv4.DHCPv4, reserved, got netip.Addr)) (netip.Addr, error) {
	if ip, ok := m.known(req); ok {
		return ip, nil
	}
	r, err := m.reserve(req, preferred)
	if err != nil || r.p == nil {
		return r.ip, err
	}
	held := replyhold.Defer(req, func(resp *dhcpv4.DHCPv4) error {
		got, err := m.await(r)
		if err == nil && resp != nil && got != r.ip {
			moved(resp, r.ip, got)
		}
		return err
	})
	if held {
		return r.ip, nil
	}
	return m.await(r)
}

// ackOrNak makes resp an ACK of ip, or a NAK when the client asked for
// another address; it reports whether resp is an ACK.
func (m *Macpin) ackOrNak(req, resp *dhcpv4.DHCPv4, want, ip netip.Addr) bool {
	if want.IsValid() && want != ip {
		m.stats.naks.Add(1)
		if m.allowLog("nak", req.ClientHWAddr) {
			m.log.WithFields(logrus.Fields{"mac": req.ClientHWAddr.String(), "requested": want.String(), "pinned": ip.String()}).
				Info("NAK: client asked for an address other than its pin")
		}
		nak(resp)
		return false
	}
	m.answer(resp, ip)
	return true
}

// forOtherServer reports whether req names a server identifier other than
// the one this server puts in its replies (set earlier in the chain by
// server_id).
func forOtherServer(req, resp *dhcpv4.DHCPv4) bool {
	theirs, ours := req.ServerIdentifier(), resp.ServerIdentifier()
	return theirs != nil && ours != nil && !theirs.Equal(ours)
}

// requested is the address the client asks for: option 50, or for a REQUEST
// without it (renewing, rebinding) ciaddr. Invalid when absent.
func requested(req *dhcpv4.DHCPv4, useCiaddr bool) netip.Addr {
	if a, ok := netip.AddrFromSlice(req.RequestedIPAddress().To4()); ok && !a.IsUnspecified() {
		return a
	}
	if useCiaddr {
		if a, ok := netip.AddrFromSlice(req.ClientIPAddr.To4()); ok && !a.IsUnspecified() {
			return a
		}
	}
	return netip.Addr{}
}

// netboot reports whether req comes from a client pin=netboot pins: a
// Raspberry Pi MAC or a netboot client by the request's classification (a
// Pi ROM/EEPROM, a U-Boot bootp_vci, a PXE/HTTP client of a configured
// architecture; the `classify` stanza says which). A bare "PXEClient"
// vendor class is not enough.
func (m *Macpin) netboot(req *dhcpv4.DHCPv4) bool {
	f := classify.Of(req)
	return f.PiOUI || f.Netboot
}

// known answers a pinned MAC from memory and queues its last-seen update.
func (m *Macpin) known(req *dhcpv4.DHCPv4) (netip.Addr, bool) {
	ip, ok := m.Lookup(req.ClientHWAddr)
	if ok {
		facts := classify.Of(req)
		m.seen.add(store.Seen{MAC: req.ClientHWAddr, At: time.Now(), Model: facts.KnownModel(), Serial: facts.Serial, Hostname: facts.Hostname})
	}
	return ip, ok
}

func (m *Macpin) answer(resp *dhcpv4.DHCPv4, ip netip.Addr) {
	resp.YourIPAddr = net.IP(ip.AsSlice())
	resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(m.cfg.LeaseTime))
	resp.UpdateOption(dhcpv4.OptRenewTimeValue(m.cfg.LeaseTime / 2))
	resp.UpdateOption(dhcpv4.OptRebindingTimeValue(m.cfg.LeaseTime * 7 / 8))
}

// nak turns resp into a DHCPNAK: no address, no boot data, only the message
// type and the server identifier (RFC 2131 table 3).
func nak(resp *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	sid := resp.Options.Get(dhcpv4.OptionServerIdentifier)
	resp.Options = dhcpv4.Options{}
	resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
	if sid != nil {
		resp.Options[uint8(dhcpv4.OptionServerIdentifier)] = sid
	}
	resp.YourIPAddr = net.IPv4zero
	resp.ClientIPAddr = net.IPv4zero
	resp.ServerIPAddr = net.IPv4zero
	resp.ServerHostName, resp.BootFileName = "", ""
	return resp
}

// reservation is an address found or reserved for an unknown MAC: p is
// the pending pin to wait for (nil when the MAC was pinned meanwhile), and
// created says this request made it (so it announces the new node).
type reservation struct {
	ip      netip.Addr
	p       *pendingPin
	created bool
}

// reserve finds or reserves an address for an unknown MAC (preferring
// preferred) and, for a new one, hands it to the group-commit writer. It
// never blocks: the caller waits with await, or has the loop hold the reply
// (replyhold) and wait there. A reservation with p set holds one of the
// MaxPending slots until await.
func (m *Macpin) reserve(req *dhcpv4.DHCPv4, preferred netip.Addr) (reservation, error) {
	select {
	case m.sem <- struct{}{}:
	default:
		m.stats.dropped.Add(1)
		if m.allowLog("busy", nil) {
			m.log.WithField("max_pending", m.cfg.MaxPending).Warn("too many new MACs waiting for a commit; dropping requests, boards will retry")
		}
		return reservation{}, errBusy
	}
	mac := req.ClientHWAddr
	key := string(mac)
	m.mu.Lock()
	if ip, ok := m.byMAC[key]; ok { // pinned meanwhile
		m.mu.Unlock()
		<-m.sem
		return reservation{ip: ip}, nil
	}
	if p, ok := m.pending[key]; ok { // a retransmit: share the first commit
		ip := p.node.IP
		m.mu.Unlock()
		return reservation{ip: ip, p: p}, nil
	}
	if m.closed {
		m.mu.Unlock()
		<-m.sem
		return reservation{}, errClosed
	}
	ip, ok := m.pool.take(preferred)
	var evict net.HardwareAddr
	var idle time.Duration
	if !ok {
		var victim string
		if victim, ip, idle, ok = m.takeOver(time.Now()); ok {
			evict = net.HardwareAddr(victim)
		}
	}
	if !ok {
		m.mu.Unlock()
		<-m.sem
		n := m.stats.exhausted.Add(1)
		// One line per minute for the pool, not per MAC: a flood of random
		// MACs would otherwise write one line per packet.
		if m.allowLog("exhausted", nil) {
			m.log.WithFields(logrus.Fields{"mac": mac.String(), "pool_size": m.pool.size, "refused_total": n}).
				Error("pool exhausted: no address for new MAC (one line a minute; see rpi_dhcp_macpin_events_total)")
		}
		return reservation{}, errExhausted
	}
	facts := classify.Of(req)
	p := &pendingPin{
		node: store.Node{MAC: append(net.HardwareAddr(nil), mac...), IP: ip, Model: facts.KnownModel(),
			Serial: facts.Serial, Hostname: facts.Hostname, Source: store.SourcePool},
		done:  make(chan struct{}),
		evict: evict,
	}
	m.pending[key] = p
	// Queued under mu, so Close (which sets closed under mu before the
	// writer's last drain) can never strand it. Never blocks: the queue is
	// as large as the semaphore.
	m.commitQ <- p
	m.mu.Unlock()
	if evict != nil {
		m.announceReclaim(mac, string(evict), ip, idle)
	}
	return reservation{ip: ip, p: p, created: true}, nil
}

// await waits until r's pin is durable (or given up) and frees its slot.
// The address may differ from r.ip when a conflict moved the pin.
func (m *Macpin) await(r reservation) (netip.Addr, error) {
	<-r.p.done
	<-m.sem
	if r.p.err == nil && r.created {
		m.announce(r.p.node) // only queues: the OFFER never waits for a hook
	}
	return r.p.node.IP, r.p.err
}
