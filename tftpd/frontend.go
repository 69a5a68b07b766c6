package tftpd

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// frontend owns the request port (69). One goroutine drains it and never
// waits for a transfer: it parses each request, refuses WRQs and malformed
// packets on the spot, clamps blksize to the link MTU, collapses duplicate
// RRQs and starts a goroutine per surviving request. Those queue for a
// transfer slot; the request port keeps being read whatever happens.
type frontend struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
	done chan struct{}
	once sync.Once
}

// requestBuffer is the receive buffer asked for on port 69: a rack powering
// on sends thousands of RRQs (and retransmissions) within a second, and the
// kernel default (about 200 KiB, some 270 requests) would drop the excess.
const requestBuffer = 4 << 20

func newFrontend(conn *net.UDPConn) *frontend {
	growReadBuffer(conn, requestBuffer)
	f := &frontend{conn: conn, pc: ipv4.NewPacketConn(conn), done: make(chan struct{})}
	if err := f.pc.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		f.pc = nil // no per-packet addresses: fall back to plain reads
	}
	return f
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

// read returns the next packet on port 69 with the local address it was
// sent to and the MTU of the interface it came in on (0 if unknown).
func (f *frontend) read(buf []byte) (n int, from *net.UDPAddr, dst net.IP, mtu int, err error) {
	if f.pc == nil {
		n, from, err = f.conn.ReadFromUDP(buf)
		return n, from, nil, 0, err
	}
	n, cm, src, err := f.pc.ReadFrom(buf)
	if err != nil {
		return 0, nil, nil, 0, err
	}
	from, _ = src.(*net.UDPAddr)
	if cm != nil {
		dst = cm.Dst
		mtu = ifaceMTU(cm.IfIndex)
	}
	return n, from, dst, mtu, nil
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
	buf := make([]byte, 65536)
	for {
		n, from, dst, mtu, err := fe.read(buf)
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
		s.handleRequest(buf[:n], from, dst, mtu)
	}
}

// handleRequest triages one packet that arrived on port 69.
func (s *Server) handleRequest(b []byte, from *net.UDPAddr, dst net.IP, mtu int) {
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
	blksize := 512
	if v, ok := req.opt("blksize"); ok {
		want, err := strconv.Atoi(v)
		if err != nil || want < 8 {
			s.warn.Warn(log.WithField("blksize", v), from.IP.String(), "request refused: invalid blksize option")
			s.m.transfers.WithLabelValues(resultRefused).Inc()
			s.replyError(from, errCodeOptionAbort, "invalid blksize")
			return
		}
		blksize = min(want, s.cfg.MaxBlksize)
		if mtu > 0 {
			// One block per IP datagram: a client asking for more than the
			// link carries gets the largest unfragmented size (RFC 2348).
			blksize = min(blksize, max(512, mtu-28-4))
		}
		req.setOpt("blksize", strconv.Itoa(blksize))
	}
	p := &pending{from: from, file: req.file, dst: dst, blksize: blksize, at: time.Now()}
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
