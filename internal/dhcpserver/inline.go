package dhcpserver

import (
	"net"
	"runtime/debug"

	"github.com/coredhcp/coredhcp/config"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/replyhold"
	"github.com/sirupsen/logrus"
	"golang.org/x/net/ipv4"
)

// heldQueue is how many read batches with held replies may wait for their
// sender before the reader stops reading (the socket buffer absorbs the rest).
const heldQueue = 1024

// held is a reply the chain built but a plugin asked to hold (replyhold):
// it leaves once every finisher has returned nil.
type held struct {
	req, resp *dhcpv4.DHCPv4
	finish    []replyhold.Finish
	facts     classify.Facts
	ifindex   int
	peer      *net.UDPAddr
}

// inlineMode reports whether every `server4:` plugin is one the caller
// vouched never blocks its handler (safe names), so the chain can run on the
// reader goroutine itself: no goroutine start and no thread wake-up per
// packet, which on a small machine cost more CPU than the DORA itself.
func inlineMode(sc *config.ServerConfig, safe map[string]bool) bool {
	if sc == nil || len(safe) == 0 {
		return false
	}
	for _, p := range sc.Plugins {
		if !safe[p.Name] {
			return false
		}
	}
	return true
}

// runBatch runs the chain for each datagram of a read batch in turn and
// sends the replies that need nothing more at once; replies held for a
// plugin (a new pin's commit) go to the sender goroutine as one batch, so a
// whole read batch waits on one group commit, and in order.
func (l *listener) runBatch(msgs []ipv4.Message) {
	var hs []held
	for i := range msgs {
		l.srv.stats.received.Add(1)
		if h, ok := l.runInline(&msgs[i]); ok {
			hs = append(hs, h)
		}
	}
	if len(hs) > 0 {
		l.heldQ <- hs
	}
}

// runInline runs one datagram through the chain on the reader goroutine. A
// panicking plugin costs this one request, never the server.
func (l *listener) runInline(m *ipv4.Message) (h held, isHeld bool) {
	s := l.srv
	ifindex, peer := l.origin(m)
	defer func() {
		if r := recover(); r != nil {
			s.stats.panics.Add(1)
			log.WithFields(logrus.Fields{"peer": peer.String(), "panic": r, "stack": string(debug.Stack())}).
				Error("handler chain panicked; request dropped")
			if isHeld {
				// Already deferred work must still be waited for and released.
				h.resp = nil
			}
		}
	}()
	// The chain may keep the request (a held reply does): it must not share
	// the read buffer the next batch overwrites.
	pkt := append([]byte(nil), m.Buffers[0][:m.N]...)
	req, resp, facts, finish := s.handleHold(pkt, peer)
	if len(finish) > 0 {
		return held{req: req, resp: resp, finish: finish, facts: facts, ifindex: ifindex, peer: peer}, true
	}
	observe(req, resp, facts)
	if resp != nil {
		l.reply(req, resp, ifindex, peer)
	}
	return held{}, false
}

// handleHold is handle with replyhold open for the request, returning what
// plugins deferred.
func (s *Servers) handleHold(pkt []byte, peer *net.UDPAddr) (req, resp *dhcpv4.DHCPv4, facts classify.Facts, finish []replyhold.Finish) {
	var opened *dhcpv4.DHCPv4
	defer func() {
		if opened != nil {
			finish = replyhold.End(opened)
		}
	}()
	req, resp, facts = s.handleWith(pkt, peer, func(r *dhcpv4.DHCPv4) {
		opened = r
		replyhold.Begin(r)
	})
	return req, resp, facts, finish
}

// sendHeld waits for each held reply's finishers, in the order read, and
// sends the reply when all of them let it go. Every finisher is called even
// when an earlier one refused or the server is closing: they release what
// the plugin holds for the request.
func (l *listener) sendHeld() {
	defer close(l.heldDone)
	for hs := range l.heldQ {
		for _, h := range hs {
			l.finishHeld(h)
		}
	}
}

func (l *listener) finishHeld(h held) {
	s := l.srv
	defer func() {
		if r := recover(); r != nil {
			s.stats.panics.Add(1)
			log.WithFields(logrus.Fields{"peer": h.peer.String(), "panic": r, "stack": string(debug.Stack())}).
				Error("finishing a held reply panicked; reply dropped")
		}
	}()
	resp := h.resp
	for _, f := range h.finish {
		if err := f(resp); err != nil {
			if resp != nil {
				s.stats.noReply.Add(1)
				log.WithFields(logrus.Fields{"mac": h.req.ClientHWAddr.String(), "type": h.req.MessageType().String()}).
					WithError(err).Debug("held reply dropped by its plugin")
			}
			resp = nil
		}
	}
	observe(h.req, resp, h.facts)
	if resp != nil && !s.closed.Load() {
		l.reply(h.req, resp, h.ifindex, h.peer)
	}
}
