package dhcpserver

import (
	"net"
	"runtime/debug"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/classify"
)

// serveOne runs one datagram through the chain and sends the answer, if
// any. A panicking plugin costs this one request, never the server.
func (l *listener) serveOne(pkt []byte, ifindex int, peer *net.UDPAddr) {
	s := l.srv
	defer func() {
		if r := recover(); r != nil {
			s.stats.panics.Add(1)
			log.WithFields(logrus.Fields{"peer": peer.String(), "panic": r, "stack": string(debug.Stack())}).
				Error("handler chain panicked; request dropped")
		}
	}()
	req, resp, facts := s.handleWith(pkt, peer, nil)
	observe(req, resp, facts)
	if resp == nil {
		return
	}
	l.reply(req, resp, ifindex, peer)
}

// handle parses pkt and runs the plugin chain the way upstream does:
// DISCOVER gets an OFFER template, REQUEST and INFORM an ACK template.
// Unlike upstream, DECLINE and RELEASE run through the chain too (macpin
// needs to see DECLINE), with a template whose message type is left alone;
// for them handle always returns a nil reply, whatever the chain built,
// because RFC 2131 has the server answer neither. It returns the request
// and the reply to send, or a nil reply.
func (s *Servers) handle(pkt []byte, peer *net.UDPAddr) (*dhcpv4.DHCPv4, *dhcpv4.DHCPv4) {
	req, resp, _ := s.handleWith(pkt, peer, nil)
	return req, resp
}

// handleWith is handle calling begin, if set, with the parsed request just
// before the chain runs, and also returning the request's facts: computed
// once (classify.Begin) for every plugin of the chain and for the observers.
func (s *Servers) handleWith(pkt []byte, peer *net.UDPAddr, begin func(*dhcpv4.DHCPv4)) (_, _ *dhcpv4.DHCPv4, facts classify.Facts) {
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		s.stats.malformed.Add(1)
		log.WithFields(logrus.Fields{"peer": peer.String(), "bytes": len(pkt)}).WithError(err).Debug("malformed DHCPv4 packet dropped")
		return nil, nil, facts
	}
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		s.stats.malformed.Add(1)
		log.WithFields(logrus.Fields{"peer": peer.String(), "opcode": req.OpCode}).Debug("not a BOOTREQUEST, dropped")
		return nil, nil, facts
	}
	resp, err := dhcpv4.NewReplyFromRequest(req)
	if err != nil {
		log.WithFields(logrus.Fields{"peer": peer.String(), "mac": req.ClientHWAddr.String()}).WithError(err).Warn("cannot build a reply")
		return nil, nil, facts
	}
	answer := true
	switch mt := req.MessageType(); mt {
	case dhcpv4.MessageTypeDiscover:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	case dhcpv4.MessageTypeDecline:
		s.stats.declines.Add(1)
		answer = false
	case dhcpv4.MessageTypeRelease:
		s.stats.releases.Add(1)
		answer = false
	default:
		s.stats.unknownType.Add(1)
		log.WithFields(logrus.Fields{"peer": peer.String(), "mac": req.ClientHWAddr.String(), "type": mt.String()}).
			Debug("message type a server does not answer, dropped")
		return nil, nil, facts
	}
	if begin != nil {
		begin(req)
	}
	facts = classify.Begin(req)
	defer classify.End(req)
	for _, h := range s.handlers {
		var stop bool
		if resp, stop = h(req, resp); stop {
			break
		}
	}
	if !answer {
		log.WithFields(logrus.Fields{"mac": req.ClientHWAddr.String(), "type": req.MessageType().String()}).
			Debug("handled by the plugin chain; no reply by design")
		return req, nil, facts
	}
	if resp == nil {
		s.stats.noReply.Add(1)
		log.WithFields(logrus.Fields{"mac": req.ClientHWAddr.String(), "type": req.MessageType().String()}).
			Debug("plugin chain returned no reply")
		return req, nil, facts
	}
	return req, resp, facts
}
