// Package tftpd is rpi-tftpd as a library: a read-only TFTP server that
// resolves each request through per-serial, per-MAC, per-model and default
// trees, renders per-board files from templates (U-Boot stage-2 scripts,
// cmdline.txt, config.txt), keeps hot files in memory and exports
// Prometheus metrics. README.md explains the design.
package tftpd

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/loglimit"
	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/sirupsen/logrus"
)

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
	// perClient counts each client address's queued and running transfers
	// (max_per_client); unverified is each address's budget for packets
	// sent before it acknowledged anything (see session.mayQueue).
	perClient  map[string]int
	unverified *loglimit.Limiter
}

// Limits of per-client warnings: a few at once, then one a minute per
// client and message, for up to warnClients clients at a time.
const (
	warnBurst    = 5
	warnInterval = time.Minute
	warnClients  = 4096
)

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
		// A forged RRQ's victim gets at most 8 packets at once and one
		// every 500 ms after, however many RRQs name it.
		perClient:  map[string]int{},
		unverified: loglimit.New(8, 500*time.Millisecond, 1<<16),
		sent:       make(map[string]time.Time),
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
