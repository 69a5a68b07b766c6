package dhcpserver

import (
	"time"

	"github.com/rpinetboot/rpinetboot/internal/loglimit"

	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/coredhcp/coredhcp/config"
	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/coredhcp/coredhcp/server"
)

var log = logger.GetLogger("dhcpserver")

// warnEvery is how often a repeating warning (a storm of drops, a broken
// interface) may reach the log; a flood of identical lines helps nobody.
const warnEvery = time.Minute

// Servers is a running DHCP service: our DHCPv4 listeners plus, when the
// configuration has `server6:`, upstream's DHCPv6 server.
type Servers struct {
	opts     Options
	handlers []handler.Handler4
	sem      chan struct{} // one token per packet in the handler chain
	stats    counters
	warn     *loglimit.Limiter
	l2       *l2Sender
	addrs    *ifaceAddrs

	listeners []*listener
	v6        *server.Servers
	errors    chan error
	running   int
	closeOnce sync.Once
	closed    atomic.Bool // set by Close; Listening reports 0 after it
}

// Start loads the `server4:` plugins with upstream's plugins.LoadPlugins
// (so each stanza is set up once, exactly as upstream would), opens one
// listener per `listen` address and serves until Close or a fatal socket
// error. A `server6:` section is handed to upstream's server.Start.
func Start(cfg *config.Config, o Options) (*Servers, error) {
	if cfg == nil || (cfg.Server4 == nil && cfg.Server6 == nil) {
		return nil, errors.New("dhcpserver: no server4 or server6 configuration")
	}
	o = o.withDefaults()
	s := &Servers{
		opts:  o,
		sem:   make(chan struct{}, o.MaxInflight),
		warn:  loglimit.New(1, warnEvery, 64),
		addrs: newIfaceAddrs(),
	}
	if cfg.Server4 != nil {
		// LoadPlugins sets up v4 handlers only for Server4 and v6 only for
		// Server6, so splitting the config runs every setup exactly once.
		v4 := *cfg
		v4.Server6 = nil
		h4, _, err := plugins.LoadPlugins(&v4)
		if err != nil {
			return nil, err
		}
		s.handlers = h4
		if err := s.startV4(cfg.Server4); err != nil {
			s.Close()
			return nil, err
		}
	}
	if cfg.Server6 != nil {
		v6 := *cfg
		v6.Server4 = nil
		srv6, err := server.Start(&v6)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dhcpv6: %w", err)
		}
		s.v6 = srv6
	}
	// Buffered for every source so no goroutine blocks on its final error.
	s.errors = make(chan error, len(s.listeners)+1)
	for _, l := range s.listeners {
		s.running++
		go func() { s.errors <- l.serve() }()
	}
	if s.v6 != nil {
		s.running++
		go func() { s.errors <- s.v6.Wait() }()
	}
	track(s)
	return s, nil
}

func (s *Servers) startV4(sc *config.ServerConfig) error {
	l2, err := newL2Sender()
	if err != nil {
		return fmt.Errorf("dhcpv4: %w", err)
	}
	s.l2 = l2
	inline := inlineMode(sc, s.opts.NonBlocking)
	for _, addr := range sc.Addresses {
		l, err := s.listen(addr)
		if err != nil {
			return fmt.Errorf("dhcpv4: listen %s: %w", listenName(addr), err)
		}
		if inline {
			l.heldQ, l.heldDone = make(chan []held, heldQueue), make(chan struct{})
		}
		s.listeners = append(s.listeners, l)
	}
	mode := "goroutine per request (a plugin may block)"
	if inline {
		mode = "inline (every plugin is non-blocking)"
	}
	log.WithField("mode", mode).Info("DHCPv4 handler chain")
	return nil
}

// Wait blocks until a listener fails or Close is called, then closes
// everything and returns the listeners' errors (nil after a clean Close).
func (s *Servers) Wait() error {
	if s.running == 0 {
		return nil
	}
	errs := []error{<-s.errors}
	s.Close()
	for i := 1; i < s.running; i++ {
		errs = append(errs, <-s.errors)
	}
	return errors.Join(errs...)
}

// Close stops the listeners; replies still being built are not sent.
func (s *Servers) Close() {
	s.closeOnce.Do(func() {
		untrack(s)
		for _, l := range s.listeners {
			l.conn.Close()
		}
		if s.v6 != nil {
			s.v6.Close()
		}
		if s.l2 != nil {
			s.l2.close()
		}
	})
}

// Stats returns the DHCPv4 counters so far.
func (s *Servers) Stats() Stats { return s.stats.snapshot() }
