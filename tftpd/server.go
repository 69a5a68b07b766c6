// Package tftpd is rpi-tftpd as a library: a read-only TFTP server that
// resolves each request through per-serial, per-MAC, per-model and default
// trees, renders per-board files from templates (U-Boot stage-2 scripts,
// cmdline.txt, config.txt), keeps hot files in memory and exports
// Prometheus metrics. README.md explains the design.
package tftpd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/loglimit"
	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/sirupsen/logrus"
)

// staleClaim is how long a claimed request may wait for its goroutine to
// mark it running before an identical request replaces it.
const staleClaim = 5 * time.Second

// sentMemory is how long after its last block left a complete transfer is
// remembered, to recognise duplicates of its request read only afterwards.
const sentMemory = 10 * time.Second

// maxNetascii bounds files converted for netascii mode (done in memory).
const maxNetascii = 64 << 20

// Options are the parts of a Server the caller may supply.
type Options struct {
	// Log receives the server's log lines; default logger "rpi-tftpd".
	Log *logrus.Entry
	// OpenStore opens the node store; nil means no store (path prefixes and
	// the default tree only). It is retried until it succeeds.
	OpenStore func() (NodeSource, error)
	// Models overrides the model table named by Config.Models.
	Models *models.Table
}

// Server is one running rpi-tftpd.
type Server struct {
	cfg   *Config
	log   *logrus.Entry
	root  *os.Root
	res   *Resolver
	cache *fileCache
	nodes *nodeCache
	m     *metrics
	sem   chan struct{}
	fe    *frontend
	done  chan struct{}
	wg    sync.WaitGroup

	shutdown sync.Once

	mu      sync.Mutex
	pending map[string]*pending
	// When the last block of each transfer completed within sentMemory was
	// first sent, by key, and the same keys in completion order, so expired
	// ones go from the front.
	sent      map[string]time.Time
	sentOrder []sentKey

	// warn holds back repeats of a client's warnings (one broken or
	// hostile client must not flood the log).
	warn *loglimit.Limiter
}

// Limits of per-client warnings: a few at once, then one a minute per
// client and message, for up to warnClients clients at a time.
const (
	warnBurst    = 5
	warnInterval = time.Minute
	warnClients  = 4096
)

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

// New prepares a server for cfg; Serve or ListenAndServe starts it.
func New(cfg *Config, opt Options) (*Server, error) {
	log := opt.Log
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger()).WithField("prefix", "rpi-tftpd")
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", cfg.Root, err)
	}
	if fi, err := root.Stat(dirDefault); err != nil || !fi.IsDir() {
		log.WithField("root", cfg.Root).Warn("root has no default/ directory; only per-node and per-model trees will serve")
	}
	table := opt.Models
	if table == nil && cfg.Models != "" {
		if table, err = models.Load(cfg.Models); err != nil {
			root.Close()
			return nil, err
		}
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		warn:    loglimit.New(warnBurst, warnInterval, warnClients),
		root:    root,
		res:     NewResolver(root, table, cfg.Prefix),
		cache:   newFileCache(cfg.CacheBytes),
		nodes:   newNodeCache(opt.OpenStore, cfg.NodeCacheTTL, log),
		sem:     make(chan struct{}, cfg.MaxTransfers),
		done:    make(chan struct{}),
		pending: make(map[string]*pending),
		sent:    make(map[string]time.Time),
	}
	s.m = newMetrics(s.cache.size)
	return s, nil
}

// MetricsHandler serves this server's Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler { return s.m.handler() }

// ListenAndServe opens cfg.Listen and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	a, err := net.ResolveUDPAddr("udp4", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	conn, err := net.ListenUDP("udp4", a)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(conn)
}

// Serve serves requests arriving on conn until Shutdown.
func (s *Server) Serve(conn *net.UDPConn) error {
	fe := newFrontend(conn)
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		conn.Close()
		return errors.New("server is shut down")
	default:
	}
	s.fe = fe
	s.mu.Unlock()
	s.log.WithFields(logrus.Fields{
		"listen": conn.LocalAddr().String(), "root": s.cfg.Root,
		"max_transfers": s.cfg.MaxTransfers, "cache_bytes": s.cfg.CacheBytes,
	}).Info("serving TFTP")
	s.serveRequests(fe)
	s.wg.Wait()
	return nil
}

// Shutdown stops reading requests, waits for running transfers (each ends
// within its retry budget, queued ones at once) and releases the trees and
// the store.
func (s *Server) Shutdown() {
	s.shutdown.Do(func() {
		s.mu.Lock()
		close(s.done)
		fe := s.fe
		s.mu.Unlock()
		if fe != nil {
			fe.close()
		}
		s.wg.Wait()
		s.nodes.close()
		s.root.Close()
	})
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
	if old, ok := s.pending[k]; ok && (old.running || time.Since(old.at) < staleClaim) {
		s.m.requests.WithLabelValues("duplicate").Inc()
		s.log.WithFields(logrus.Fields{"client": p.from.String(), "file": p.file}).Debug("duplicate request collapsed")
		old.deferred = p
		return false
	}
	s.pending[k] = p
	return true
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

// maxPending bounds requests queued or running: beyond it a flood is
// dropped rather than growing goroutines without end.
func maxPending(c *Config) int { return 8 * c.MaxTransfers }

// startTransfer runs p's transfer on its own goroutine.
func (s *Server) startTransfer(p *pending) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.transfer(p)
	}()
}

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
	sess := &session{conn: conn, retries: s.cfg.Retries, timeout: s.cfg.Timeout, recv: make([]byte, 2048)}
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

// acquire waits for a transfer slot; requests queue rather than being dropped.
func (s *Server) acquire(p *pending) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	default:
	}
	s.m.queued.Inc()
	defer s.m.queued.Dec()
	t := time.NewTimer(max(s.cfg.QueueTimeout-time.Since(p.at), 0))
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-t.C:
		return errors.New("queue timeout")
	case <-s.done:
		return errors.New("shutting down")
	}
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
		if len(n.MAC) == 6 {
			f.MAC = n.MAC.String()
		}
		f.Serial, f.Model, f.Hostname = n.Serial, n.Model, n.Hostname
	}
	return f
}

// errRender marks template failures (logged with the template's error).
var errRender = errors.New("render")

// open returns the content of res as a reader and its size: rendered for
// templates, from the cache for shared files, streamed from disk for files
// too large to cache.
func (s *Server) open(res Resolved) (io.ReaderAt, int64, error) {
	if res.Template {
		src, err := s.readSmall(res.Path, res.Info)
		if err != nil {
			return nil, 0, err
		}
		out, err := render(res, src)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", errRender, err)
		}
		return memFile(out), int64(len(out)), nil
	}
	if s.cache.cacheable(res.Info.Size()) {
		data, hit, err := s.cache.get(s.root, res.Path, res.Info)
		if err != nil {
			return nil, 0, err
		}
		if hit {
			s.m.cacheHits.Inc()
		} else {
			s.m.cacheMiss.Inc()
		}
		return memFile(data), int64(len(data)), nil
	}
	f, err := s.root.Open(res.Path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// readSmall reads a template source, through the cache when it fits.
func (s *Server) readSmall(path string, fi fs.FileInfo) ([]byte, error) {
	if s.cache.cacheable(fi.Size()) {
		data, _, err := s.cache.get(s.root, path, fi)
		return data, err
	}
	return s.root.ReadFile(path)
}

// netascii converts content for netascii mode (RFC 764 line endings:
// LF becomes CR LF, a bare CR becomes CR NUL). Boards use octet; this is
// for people testing with a stock tftp client.
func netascii(r io.ReaderAt, size int64) (io.ReaderAt, int64, error) {
	if size > maxNetascii {
		return nil, 0, fmt.Errorf("netascii conversion of %d bytes: over the %d limit, use octet mode", size, maxNetascii)
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	in := make([]byte, size)
	if _, err := r.ReadAt(in, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	out := make([]byte, 0, size+size/16)
	for _, c := range in {
		switch c {
		case '\n':
			out = append(out, '\r', '\n')
		case '\r':
			out = append(out, '\r', 0)
		default:
			out = append(out, c)
		}
	}
	return memFile(out), int64(len(out)), nil
}
