package tftpd

// One transfer, from its slot to its log line: resolve, open, negotiate,
// send, count.

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"
)

// transfer serves one RRQ: queue for a slot, resolve, open or render,
// negotiate options, send.
func (s *Server) transfer(p *pending) {
	s.mu.Lock()
	p.running = true
	s.mu.Unlock()
	probe := false
	var lastSent time.Time // zero unless the file went out in full
	defer func() { s.finish(p, probe, lastSent) }()
	log := s.log.WithFields(logrus.Fields{"client": p.from.IP.String(), "file": p.file})

	// Queue before opening the transfer socket, so waiting requests hold
	// no file descriptor.
	if err := s.acquire(p); err != nil {
		s.m.transfers.WithLabelValues(resultBusy).Inc()
		s.warn.Warn(log.WithFields(logrus.Fields{"queued": time.Since(p.at).Round(time.Millisecond).String(), "error": err}),
			p.from.IP.String(), "transfer refused: no slot free")
		if conn, err := dialSession(p.dst, p.from); err == nil {
			conn.Write(packError(errCodeUndefined, "server busy, retry"))
			conn.Close()
		}
		return
	}
	defer func() { <-s.sem; s.m.active.Dec() }()
	s.m.active.Inc()

	conn, err := dialSession(p.dst, p.from)
	if err != nil {
		s.m.transfers.WithLabelValues(resultError).Inc()
		log.WithField("error", err).Error("transfer failed: cannot open a socket")
		return
	}
	defer conn.Close()
	client := p.from.IP.String()
	sess := &session{conn: conn, retries: s.cfg.Retries, timeout: s.cfg.Timeout, recv: make([]byte, 2048),
		deadline: time.Now().Add(s.cfg.MaxTransferTime),
		budget:   func() bool { ok, _ := s.unverified.Allow(client, ""); return ok }}
	if err := sess.openIO(); err != nil {
		s.m.transfers.WithLabelValues(resultError).Inc()
		log.WithField("error", err).Error("transfer failed: cannot open a socket")
		return
	}

	res, err := s.res.Resolve(p.file, s.facts(p.from.IP, p.dst))
	if err != nil {
		code, msg := s.refuse(log, p.from.IP.String(), err)
		sess.sendError(code, msg)
		return
	}
	log = log.WithField("path", res.Path)
	r, size, err := s.open(res)
	if err == nil && p.req.mode == "netascii" {
		r, size, err = netascii(r, size)
	}
	if err != nil {
		s.m.transfers.WithLabelValues(resultError).Inc()
		log.WithField("error", err).Error("transfer failed: cannot read file")
		if errors.Is(err, errRender) {
			sess.sendError(errCodeUndefined, "template error")
		} else {
			sess.sendError(errCodeUndefined, "read error")
		}
		return
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}

	begin := time.Now()
	var n int64
	if ack := sess.negotiate(p.req, p, size, s.cfg.Timeout, s.cfg.MaxWindow); len(ack) > 0 {
		err = sess.sendOACK(ack)
	}
	if err == nil {
		n, err = sess.sendFile(r, size)
		if err == nil {
			lastSent = sess.lastSent
		}
	}
	probe = s.record(log, p.from.IP.String(), sess, n, time.Since(begin), err)
}

// record counts and logs the end of a transfer; it reports whether the
// board ended it at the option reply (a tsize probe).
func (s *Server) record(log *logrus.Entry, client string, sess *session, n int64, d time.Duration, err error) (probe bool) {
	result := resultOf(err)
	s.m.transfers.WithLabelValues(result).Inc()
	s.m.bytes.Add(float64(n))
	fields := logrus.Fields{
		"bytes": n, "duration": d.Round(time.Microsecond).String(), "blksize": sess.blksize,
		"datagrams": sess.sent, // more than bytes/blksize+1 means retransmissions
	}
	if sess.window > 1 {
		fields["windowsize"] = sess.window
	}
	var ce *clientError
	switch {
	case result == resultOK:
		s.m.duration.Observe(d.Seconds())
		log.WithFields(fields).Info("sent")
	case errors.As(err, &ce) && ce.atOACK:
		// The Pi EEPROM learns the size and aborts: normal, not alarming.
		log.WithFields(fields).Debug("client ended the transfer at the option reply (tsize probe)")
		return true
	default:
		s.warn.Warn(log.WithFields(fields).WithField("error", err), client, "transfer failed")
	}
	return false
}

// resultOf maps a transfer's error to its metric label.
func resultOf(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, errClientAbort):
		return resultAborted
	case errors.Is(err, errClientGone):
		return resultGone
	case errors.Is(err, errSilent):
		return resultTimeout
	}
	return resultError
}

// refuse logs a resolution failure and returns the ERROR the client sees.
func (s *Server) refuse(log *logrus.Entry, client string, err error) (uint16, string) {
	if errors.Is(err, ErrNotFound) {
		s.m.transfers.WithLabelValues(resultNotFound).Inc()
		log.Info("file not found")
		return errCodeNotFound, "file not found"
	}
	s.m.transfers.WithLabelValues(resultRefused).Inc()
	s.warn.Warn(log.WithField("reason", err.Error()), client, "request refused")
	return errCodeAccess, "access violation: path refused"
}

// facts gathers what the store knows about the client at ip.
func (s *Server) facts(ip net.IP, dst net.IP) Facts {
	f := Facts{IP: ip.String(), Vars: s.cfg.Vars}
	if dst != nil && !dst.IsUnspecified() && !dst.Equal(net.IPv4bcast) {
		f.ServerIP = dst.String()
	} else if h, _, err := net.SplitHostPort(s.cfg.Listen); err == nil && h != "" {
		f.ServerIP = h
	}
	if f.Vars == nil {
		f.Vars = map[string]string{}
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return f
	}
	if n, found := s.nodes.lookup(addr.Unmap()); found {
		f.fromNode(n)
	}
	return f
}
