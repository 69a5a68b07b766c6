package tftpd

// Duplicate requests: a board retransmits its RRQ while it waits, the Pi
// EEPROM sends some twice, and a probe it aborts races its real request.
// One key per client address, port and file keeps one transfer each.

import (
	"net"
	"time"

	"github.com/sirupsen/logrus"
)

// staleClaim is how long a claimed request may wait for its goroutine to
// mark it running before an identical request replaces it.
const staleClaim = 5 * time.Second

// sentMemory is how long after its last block left a complete transfer is
// remembered, to recognise duplicates of its request read only afterwards.
const sentMemory = 10 * time.Second

// pending is a request from the moment the front end accepts it to the end
// of its transfer; its key collapses duplicate RRQs.
type pending struct {
	from     *net.UDPAddr
	file     string
	dst      net.IP // local address the request was sent to, or nil
	blksize  int
	req      request
	at       time.Time
	arrived  time.Time // when the kernel received the request (wall clock)
	running  bool
	deferred *pending // latest identical request collapsed into this one
}

func (p *pending) key() string { return transferKey(p.from, p.file) }

func transferKey(from *net.UDPAddr, file string) string {
	return from.String() + "\x00" + file
}

// claim records p as accepted. A request identical to one already queued
// or running (same client address, port and file) is collapsed into it: the
// board retransmitted while queued, or sent duplicate RRQs. The latest such
// request is kept aside: if the running transfer turns out to be a tsize
// probe the board aborts, the board's next RRQ may have raced that abort,
// and it is served as soon as the probe ends (see finish).
func (s *Server) claim(p *pending) bool {
	k := p.key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= maxPending(s.cfg) {
		s.m.requests.WithLabelValues("overload").Inc()
		s.log.WithFields(logrus.Fields{"client": p.from.String(), "file": p.file}).Debug("request dropped: queue full")
		return false
	}
	if last, ok := s.sent[k]; ok {
		// A request that reached us before the file's last block left was
		// sent before the board had the whole file: a duplicate of the one
		// served (typically sent right behind it, and read only after a
		// one-block file was sent and acknowledged). One that came later is
		// the board asking again. (Without an arrival time, assume the
		// latter.)
		if !p.arrived.IsZero() && p.arrived.Before(last) {
			s.m.requests.WithLabelValues("duplicate").Inc()
			s.log.WithFields(logrus.Fields{"client": p.from.String(), "file": p.file}).Debug("duplicate of a finished transfer dropped")
			return false
		}
		delete(s.sent, k)
	}
	old, exists := s.pending[k]
	if exists && (old.running || time.Since(old.at) < staleClaim) {
		s.m.requests.WithLabelValues("duplicate").Inc()
		s.log.WithFields(logrus.Fields{"client": p.from.String(), "file": p.file}).Debug("duplicate request collapsed")
		old.deferred = p
		return false
	}
	if !exists {
		ip := p.from.IP.String()
		if s.perClient[ip] >= s.cfg.MaxPerClient {
			s.m.requests.WithLabelValues("client_limit").Inc()
			s.m.transfers.WithLabelValues(resultBusy).Inc()
			s.warn.Warn(s.log.WithFields(logrus.Fields{"client": p.from.String(), "file": p.file, "max_per_client": s.cfg.MaxPerClient}),
				ip, "request refused: too many transfers from this address")
			s.replyError(p.from, errCodeUndefined, "too many transfers from your address, retry")
			return false
		}
		s.perClient[ip]++
	}
	s.pending[k] = p
	return true
}

// release forgets p's slot in its client address's count. Caller holds s.mu.
func (s *Server) release(p *pending) {
	ip := p.from.IP.String()
	if s.perClient[ip]--; s.perClient[ip] <= 0 {
		delete(s.perClient, ip)
	}
}

// finish forgets p once its transfer ended. If the board aborted it at the
// option reply (a tsize probe), an identical request that arrived meanwhile
// is the real download and starts now; after any other end it was a true
// duplicate and is dropped. After a complete transfer (lastSent: when its
// last block first left) so is any identical request that arrived before
// that, so a finished file is never sent twice.
func (s *Server) finish(p *pending, probe bool, lastSent time.Time) {
	k := p.key()
	s.mu.Lock()
	delete(s.pending, k)
	if !lastSent.IsZero() {
		s.rememberSent(k, lastSent)
	}
	next := p.deferred
	select {
	case <-s.done:
		next = nil
	default:
	}
	if !probe || next == nil {
		s.release(p)
		s.mu.Unlock()
		return
	}
	next.at, next.deferred = time.Now(), nil
	s.pending[k] = next
	s.mu.Unlock()
	s.startTransfer(next)
}

// sentKey is one entry of Server.sentOrder: a key and its time in
// Server.sent.
type sentKey struct {
	key  string
	last time.Time
}

// rememberSent records that k's file went out in full, its last block
// first at last (s.mu held). At most maxPending keys are kept: in a flood
// of completions beyond that within sentMemory a key is not recorded, and
// a late duplicate of it is served, as by servers without this check.
func (s *Server) rememberSent(k string, last time.Time) {
	now := time.Now()
	for len(s.sentOrder) > 0 && now.Sub(s.sentOrder[0].last) >= sentMemory {
		old := s.sentOrder[0]
		if s.sent[old.key].Equal(old.last) {
			delete(s.sent, old.key)
		}
		s.sentOrder = s.sentOrder[1:]
	}
	if len(s.sentOrder) >= maxPending(s.cfg) {
		return
	}
	s.sent[k] = last
	s.sentOrder = append(s.sentOrder, sentKey{k, last})
}
