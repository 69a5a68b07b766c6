package tftpd

import (
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// frontend owns the request port (69). One goroutine drains it and never
// waits for a transfer: it parses each request, refuses WRQs and malformed
// packets on the spot, clamps blksize to the link MTU, collapses duplicate
// RRQs and starts a goroutine per surviving request. Those queue for a
// transfer slot; the request port keeps being read whatever happens.
type frontend struct {
	conn *net.UDPConn
	done chan struct{}
	once sync.Once
}

// requestBuffer is the receive buffer asked for on port 69: a rack powering
// on sends thousands of RRQs (and retransmissions) within a second, and the
// kernel default (about 200 KiB, some 270 requests) would drop the excess.
const requestBuffer = 4 << 20

func newFrontend(conn *net.UDPConn) *frontend {
	growReadBuffer(conn, requestBuffer)
	askMeta(conn)
	return &frontend{conn: conn, done: make(chan struct{})}
}

// growReadBuffer raises the socket's receive buffer to size, past
// net.core.rmem_max when the process may (CAP_NET_ADMIN), else as far as
// the kernel allows.
func growReadBuffer(conn *net.UDPConn, size int) {
	if rc, err := conn.SyscallConn(); err == nil {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		}); err == nil && serr == nil {
			return
		}
	}
	_ = conn.SetReadBuffer(size)
}

// close stops the reader.
func (f *frontend) close() {
	f.once.Do(func() {
		close(f.done)
		f.conn.Close()
	})
}

// read returns the next packet on port 69 and what the kernel told about
// it; oob is scratch space of metaSpace bytes.
func (f *frontend) read(buf, oob []byte) (n int, from *net.UDPAddr, m reqMeta, err error) {
	n, oobn, _, from, err := f.conn.ReadMsgUDP(buf, oob)
	if err != nil {
		return 0, nil, m, err
	}
	m = parseMeta(oob[:oobn])
	if m.arrived.IsZero() {
		m.arrived = time.Now()
	}
	return n, from, m, nil
}

// mtuCache avoids a netlink dump per request: interface MTUs rarely change.
var mtuCache sync.Map // ifindex -> mtuEntry

type mtuEntry struct {
	mtu int
	at  time.Time
}

func ifaceMTU(index int) int {
	if index <= 0 {
		return 0
	}
	if e, ok := mtuCache.Load(index); ok && time.Since(e.(mtuEntry).at) < time.Minute {
		return e.(mtuEntry).mtu
	}
	ifi, err := net.InterfaceByIndex(index)
	if err != nil {
		return 0
	}
	mtuCache.Store(index, mtuEntry{ifi.MTU, time.Now()})
	return ifi.MTU
}

// serveRequests is the port-69 loop: it never blocks on a transfer.
func (s *Server) serveRequests(fe *frontend) {
	buf, oob := make([]byte, 65536), make([]byte, metaSpace)
	for {
		n, from, m, err := fe.read(buf, oob)
		if err != nil {
			select {
			case <-fe.done:
				return
			default:
			}
			s.log.WithField("error", err).Debug("read request port")
			continue
		}
		if from == nil {
			continue
		}
		s.handleRequest(buf[:n], from, m)
	}
}

// handleRequest triages one packet that arrived on port 69.
func (s *Server) handleRequest(b []byte, from *net.UDPAddr, m reqMeta) {
	req, err := parseRequest(b)
	if err != nil {
		s.m.requests.WithLabelValues("malformed").Inc()
		log := s.log.WithFields(logrus.Fields{"client": from.String(), "error": err})
		if len(b) >= 2 && b[0] == 0 && (b[1] == opRRQ || b[1] == opWRQ) {
			s.warn.Warn(log, from.IP.String(), "malformed request refused")
			s.replyError(from, errCodeIllegal, "malformed request")
			return
		}
		// Stray DATA/ACK/ERROR on port 69 come from confused or late
		// clients; not worth a reply or more than a debug line.
		log.Debug("ignored packet on request port")
		return
	}
	log := s.log.WithFields(logrus.Fields{"client": from.String(), "file": req.file})
	if req.op == opWRQ {
		s.m.requests.WithLabelValues("wrq").Inc()
		s.m.transfers.WithLabelValues(resultRefused).Inc()
		s.warn.Warn(log, from.IP.String(), "write request refused: this server is read-only")
		s.replyError(from, errCodeAccess, "write requests are not accepted")
		return
	}
	s.m.requests.WithLabelValues("rrq").Inc()
	if req.mode != "octet" && req.mode != "netascii" {
		s.warn.Warn(log.WithField("mode", req.mode), from.IP.String(), "request refused: unsupported transfer mode")
		s.m.transfers.WithLabelValues(resultRefused).Inc()
		s.replyError(from, errCodeIllegal, "unsupported mode")
		return
	}
	blksize, err := requestBlksize(req, s.cfg.MaxBlksize, m.mtu, s.cfg.MinBlksize)
	if err != nil {
		v, _ := req.opt("blksize")
		s.warn.Warn(log.WithField("blksize", v), from.IP.String(), "request refused: invalid blksize option")
		s.m.transfers.WithLabelValues(resultRefused).Inc()
		s.replyError(from, errCodeOptionAbort, "invalid blksize")
		return
	}
	p := &pending{from: from, file: req.file, dst: m.dst, blksize: blksize, at: time.Now(), arrived: m.arrived}
	p.req = req
	if s.claim(p) {
		s.startTransfer(p)
	}
}

// replyError answers a request with an ERROR from the request port.
func (s *Server) replyError(to *net.UDPAddr, code uint16, msg string) {
	if _, err := s.fe.conn.WriteToUDP(packError(code, msg), to); err != nil {
		s.log.WithFields(logrus.Fields{"client": to.String(), "error": err}).Debug("send error reply")
	}
}
