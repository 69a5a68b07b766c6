package dhcpserver

import (
	"net"
	"sync"
	"testing"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/loglimit"
)

// chainLog records what the plugin chain was shown.
type chainLog struct {
	mu   sync.Mutex
	seen []dhcpv4.MessageType
}

// recorder is a plugin that notes each request and answers everything,
// DECLINE and RELEASE included, so a test sees whether the loop sends it.
func (c *chainLog) recorder() handler.Handler4 {
	return func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		c.mu.Lock()
		c.seen = append(c.seen, req.MessageType())
		c.mu.Unlock()
		resp.YourIPAddr = net.IPv4(10, 99, 0, 5)
		return resp, false
	}
}

func newTestServers(h ...handler.Handler4) *Servers {
	return &Servers{handlers: h, warn: loglimit.New(1, warnEvery, 64), sem: make(chan struct{}, 1)}
}

func request(t testing.TB, mt dhcpv4.MessageType) []byte {
	t.Helper()
	m, err := dhcpv4.New(dhcpv4.WithHwAddr(net.HardwareAddr{0xdc, 0xa6, 0x32, 1, 2, 3}), dhcpv4.WithMessageType(mt))
	if err != nil {
		t.Fatal(err)
	}
	return m.ToBytes()
}

func TestChainSeesEveryClientMessageButRepliesOnlyWhereRFCSays(t *testing.T) {
	cases := []struct {
		in    dhcpv4.MessageType
		reply dhcpv4.MessageType // MessageTypeNone: nothing may be sent
	}{
		{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeOffer},
		{dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeAck},
		{dhcpv4.MessageTypeInform, dhcpv4.MessageTypeAck},
		{dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeNone},
		{dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeNone},
	}
	for _, c := range cases {
		var log chainLog
		s := newTestServers(log.recorder())
		_, resp := s.handle(request(t, c.in), nil)
		if len(log.seen) != 1 || log.seen[0] != c.in {
			t.Errorf("%s: the chain saw %v", c.in, log.seen)
		}
		switch {
		case c.reply == dhcpv4.MessageTypeNone && resp != nil:
			t.Errorf("%s: a %s would be sent; RFC 2131 has no reply to it", c.in, resp.MessageType())
		case c.reply != dhcpv4.MessageTypeNone && (resp == nil || resp.MessageType() != c.reply):
			t.Errorf("%s: reply %v, want %s", c.in, resp, c.reply)
		}
	}
	st := newTestServers()
	st.handle(request(t, dhcpv4.MessageTypeDecline), nil)
	st.handle(request(t, dhcpv4.MessageTypeRelease), nil)
	if s := st.stats.snapshot(); s.Declines != 1 || s.Releases != 1 {
		t.Errorf("counted %d declines, %d releases; want 1 and 1", s.Declines, s.Releases)
	}
}

func TestChainNeverSeesWhatIsNotAClientRequest(t *testing.T) {
	reply, _ := dhcpv4.New(dhcpv4.WithReply(&dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest}), dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	inputs := map[string][]byte{
		"empty":           {},
		"short":           []byte("hello"),
		"BOOTREPLY":       reply.ToBytes(),
		"no type (BOOTP)": request(t, dhcpv4.MessageTypeNone),
		"type NAK":        request(t, dhcpv4.MessageTypeNak),
		"bad cookie":      append(request(t, dhcpv4.MessageTypeDiscover)[:236], 1, 2, 3, 4, 53, 1, 1, 255),
		"option overrun":  append(request(t, dhcpv4.MessageTypeDiscover)[:240], 53, 200, 1),
	}
	for name, in := range inputs {
		var log chainLog
		s := newTestServers(log.recorder())
		if _, resp := s.handle(in, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 68}); resp != nil || len(log.seen) != 0 {
			t.Errorf("%s: chain saw %v, reply %v; want it dropped before the chain", name, log.seen, resp)
		}
	}
	var log chainLog
	s := newTestServers(log.recorder())
	for _, in := range inputs {
		s.handle(in, nil)
	}
	if st := s.stats.snapshot(); st.Malformed+st.UnknownType != uint64(len(inputs)) {
		t.Errorf("counted %d malformed + %d unknown type, want %d in all", st.Malformed, st.UnknownType, len(inputs))
	}
}

// FuzzHandle feeds arbitrary datagrams to the loop's parser and dispatcher:
// it must never panic, and a reply may only leave for a DISCOVER, REQUEST
// or INFORM, carrying the request's xid and chaddr.
func FuzzHandle(f *testing.F) {
	for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest,
		dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeInform} {
		f.Add(request(f, mt))
	}
	f.Add([]byte{1, 1, 6, 0})
	s := newTestServers(func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		resp.YourIPAddr = net.IPv4(10, 99, 0, 5)
		return resp, false
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, resp := s.handle(b, nil)
		if resp == nil {
			return
		}
		switch req.MessageType() {
		case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
		default:
			t.Fatalf("reply %s to a %s", resp.MessageType(), req.MessageType())
		}
		if resp.OpCode != dhcpv4.OpcodeBootReply || resp.TransactionID != req.TransactionID ||
			resp.ClientHWAddr.String() != req.ClientHWAddr.String() {
			t.Fatalf("reply %s does not answer request %s", resp.Summary(), req.Summary())
		}
		route(req, resp) // must not panic either
	})
}
