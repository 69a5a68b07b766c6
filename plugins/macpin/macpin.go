package macpin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/loglimit"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

// maxBatch bounds one group commit; larger bursts take several.
const maxBatch = 1024

// storeTimeout bounds one store operation; a stuck disk must not hold
// handlers forever (the board retries its DISCOVER after ~5 s anyway).
const storeTimeout = 10 * time.Second

// Errors a handler turns into "no answer".
var (
	errExhausted = errors.New("pool exhausted")
	errBusy      = errors.New("too many DISCOVERs waiting for a commit")
	errClosed    = errors.New("macpin is closed")
)

// Macpin is the state of one macpin stanza: every pin in memory, a free-address
// pool, a group-commit writer for new pins and a batched last-seen writer.
// Several stanzas each get their own Macpin.
type Macpin struct {
	cfg   Config
	store store.Store
	log   logrus.FieldLogger

	mu       sync.RWMutex
	byMAC    map[string]netip.Addr // key: string(mac bytes)
	byIP     map[netip.Addr]string
	source   map[string]store.Source
	lastSeen map[string]time.Time     // per pinned MAC, as of the last flush
	declined map[netip.Addr]time.Time // address → when it was declined (probation start)
	pending  map[string]*pendingPin
	pool     *pool
	localGen uint64 // bumped by memory changes made outside the writer goroutine
	closed   bool

	sem     chan struct{}    // bounds handlers waiting on a commit
	commitQ chan *pendingPin // to the group-commit writer
	seen    *seenQueue
	limiter *loglimit.Limiter
	// declines holds each MAC's DECLINE budget (nil: decline-budget=0).
	declines *loglimit.Limiter
	// reclaim caches the oldest reclaimable pins between scans of the pins.
	reclaim reclaimCache
	stats   counters

	version  int64 // last store DataVersion seen by the writer goroutine
	quit     chan struct{}
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
}

// pendingPin is a new pin reserved in memory and waiting for its commit.
type pendingPin struct {
	node store.Node
	done chan struct{} // closed once node is durable (err nil) or given up
	err  error
	// evict is the MAC whose learned pin this one took over (pool full),
	// unpinned in the store before this pin commits; nil for a free address.
	evict net.HardwareAddr
}

// counters are exported through Stats.
type counters struct {
	newPins, exhausted, dropped, commitErrors, naks, declines, declinesIgnored, reclaims, released, reloads atomic.Uint64
}

// Stats is a snapshot of what the plugin did since it started.
type Stats struct {
	Pins         int    // pins held in memory
	PoolSize     int    // addresses in the ranges
	PoolUsed     int    // of which pinned, pending or declined
	NewPins      uint64 // pins created from the pool
	Exhausted    uint64 // requests left unanswered because the pool was full
	Dropped      uint64 // requests dropped because too many waited on a commit
	CommitErrors uint64 // new pins that failed to commit (no OFFER sent)
	NAKs         uint64
	Declines     uint64 // DECLINEs acted upon: the address went to probation
	// DeclinesIgnored are DECLINEs not acted upon (not for this server, not
	// the sender's address, a reservation, too late, over budget).
	DeclinesIgnored uint64
	OnProbation     int    // declined addresses still out of the pool
	Released        uint64 // declined addresses back in the pool after probation
	Reclaims        uint64 // learned pins taken over by new MACs on a full pool
	Reloads         uint64 // admin changes picked up from the store
}

// New opens cfg.Store, applies the reservations, loads every pin and starts
// the writer goroutines. Close stops them.
func New(cfg Config) (*Macpin, error) {
	if len(cfg.Ranges) == 0 || cfg.LeaseTime <= 0 {
		return nil, errors.New("macpin: config needs a range and a lease time (use ParseArgs)")
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = defaultMaxPending
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 2 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	// Errors from the store name it redacted; never wrap cfg.Store itself.
	st, err := store.Open(cfg.Store, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("macpin: %w", err)
	}
	st = store.Instrument(st) // latency histogram and health (plugins/metrics)
	m := &Macpin{
		cfg:      cfg,
		store:    st,
		log:      log.WithField("store", store.Redact(cfg.Store)),
		sem:      make(chan struct{}, cfg.MaxPending),
		commitQ:  make(chan *pendingPin, cfg.MaxPending),
		seen:     newSeenQueue(),
		limiter:  loglimit.New(1, time.Minute, maxLimited),
		declines: declineLimiter(cfg),
		quit:     make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if m.version, err = st.DataVersion(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("macpin: %w", err)
	}
	if err := m.applyReservations(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("macpin: %w", err)
	}
	nodes, declined, err := m.loadStore(ctx)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("macpin: %w", err)
	}
	m.install(nodes, declined)
	m.log.WithFields(logrus.Fields{
		"pins": len(nodes), "declined": len(declined), "reservations": len(cfg.Reservations),
		"pool_size": m.pool.size, "pool_free": m.pool.size - m.pool.used, "lease": cfg.LeaseTime,
	}).Info("macpin ready")
	m.wg.Add(2)
	go m.writer()
	go m.flusher()
	return m, nil
}

// maxLimited bounds the log limiter's memory of (MAC, message) pairs.
const maxLimited = 4096

// allowLog reports whether a warning about what (and mac, if any) may be
// logged now: one line a minute per pair, so a board stuck retrying or a
// flood of MACs cannot flood the log.
func (m *Macpin) allowLog(what string, mac net.HardwareAddr) bool {
	ok, _ := m.limiter.Allow(string(mac), what)
	return ok
}

// Close stops the writers, flushes pending last-seen updates and closes the
// store. Requests arriving afterwards from unknown MACs get no answer.
func (m *Macpin) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		close(m.quit)
		m.wg.Wait()
		m.closeErr = m.store.Close()
	})
	return m.closeErr
}

// Stats returns a snapshot of the counters and the pool use.
func (m *Macpin) Stats() Stats {
	m.mu.RLock()
	s := Stats{Pins: len(m.byMAC), PoolSize: m.pool.size, PoolUsed: m.pool.used, OnProbation: len(m.declined)}
	m.mu.RUnlock()
	s.NewPins, s.Exhausted, s.Dropped = m.stats.newPins.Load(), m.stats.exhausted.Load(), m.stats.dropped.Load()
	s.CommitErrors, s.NAKs, s.Declines, s.Reloads = m.stats.commitErrors.Load(), m.stats.naks.Load(), m.stats.declines.Load(), m.stats.reloads.Load()
	s.DeclinesIgnored, s.Reclaims, s.Released = m.stats.declinesIgnored.Load(), m.stats.reclaims.Load(), m.stats.released.Load()
	return s
}

// Lookup returns the address pinned to mac, from memory.
func (m *Macpin) Lookup(mac net.HardwareAddr) (netip.Addr, bool) {
	m.mu.RLock()
	ip, ok := m.byMAC[string(mac)]
	m.mu.RUnlock()
	return ip, ok
}

// loadStore reads every pin and declined address.
func (m *Macpin) loadStore(ctx context.Context) ([]store.Node, []store.Declined, error) {
	nodes, err := m.store.Nodes(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load pins: %w", err)
	}
	declined, err := m.store.DeclinedAddrs(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load declined addresses: %w", err)
	}
	return nodes, declined, nil
}

// install replaces the in-memory state with the store's, keeping addresses
// reserved by pins still waiting for their commit. Caller must not hold mu.
func (m *Macpin) install(nodes []store.Node, declined []store.Declined) {
	byMAC := make(map[string]netip.Addr, len(nodes))
	byIP := make(map[netip.Addr]string, len(nodes))
	source := make(map[string]store.Source, len(nodes))
	seen := make(map[string]time.Time, len(nodes))
	dec := make(map[netip.Addr]time.Time, len(declined))
	p := newPool(m.cfg.Ranges)
	for _, n := range nodes {
		k := string(n.MAC)
		byMAC[k], byIP[n.IP], source[k], seen[k] = n.IP, k, n.Source, n.LastSeen
		p.mark(n.IP)
	}
	for _, d := range declined {
		dec[d.IP] = d.At
		p.mark(d.IP)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, pp := range m.pending {
		p.mark(pp.node.IP)
	}
	if m.pool != nil {
		p.cur = m.pool.cur
		for i := range p.ranges {
			p.ranges[i].next = m.pool.ranges[i].next
		}
	} else if store.IsPostgresDSN(m.cfg.Store) {
		// Servers sharing a store (active/active) would all scan from the
		// first free address and collide on every new pin; each starts its
		// scan at its own random point instead. A single server (SQLite)
		// keeps handing out the lowest free address first.
		p.scatter()
	}
	m.byMAC, m.byIP, m.source, m.lastSeen, m.declined, m.pool = byMAC, byIP, source, seen, dec, p
	m.reclaim = reclaimCache{}
	if m.pending == nil {
		m.pending = map[string]*pendingPin{}
	}
}

// adopt records a pin found in the store (an admin's, or a reservation's),
// dropping whatever memory believed about its MAC and IP. Caller holds mu.
func (m *Macpin) adopt(n store.Node) {
	k := string(n.MAC)
	if old, ok := m.byMAC[k]; ok && old != n.IP {
		delete(m.byIP, old)
		m.pool.release(old)
	}
	if other, ok := m.byIP[n.IP]; ok && other != k {
		delete(m.byMAC, other)
		delete(m.source, other)
		delete(m.lastSeen, other)
	}
	m.byMAC[k], m.byIP[n.IP], m.source[k], m.lastSeen[k] = n.IP, k, n.Source, n.LastSeen
	m.pool.mark(n.IP)
}

// applyReservations makes the store agree with the stanza's reservations
// before anything is served: each reserved MAC holds its IP, moving the MAC's
// old pin and evicting a pool pin that held the IP.
func (m *Macpin) applyReservations(ctx context.Context) error {
	var batch []store.Node
	for _, r := range m.cfg.Reservations {
		fields := logrus.Fields{"mac": r.MAC.String(), "ip": r.IP.String()}
		cur, err := m.store.Node(ctx, r.MAC)
		switch {
		case err == nil && cur.IP == r.IP:
			if cur.Source == store.SourceReservation && (r.Hostname == "" || r.Hostname == cur.Hostname) {
				continue
			}
		case err == nil:
			// ErrNotFound: a peer server sharing the store moved it first.
			if err := m.store.Unpin(ctx, r.MAC); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("reservation %s=%s: %w", r.MAC, r.IP, err)
			}
			m.log.WithFields(fields).WithField("old_ip", cur.IP.String()).Info("reservation moves pin")
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("reservation %s=%s: %w", r.MAC, r.IP, err)
		}
		holder, err := m.store.NodeByIP(ctx, r.IP)
		switch {
		case err == nil && holder.MAC.String() != r.MAC.String():
			if err := m.store.Unpin(ctx, holder.MAC); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("reservation %s=%s: evict %s: %w", r.MAC, r.IP, holder.MAC, err)
			}
			m.log.WithFields(fields).WithField("evicted_mac", holder.MAC.String()).
				Warn("reservation takes an address pinned to another MAC; that board gets a new address on its next DISCOVER")
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("reservation %s=%s: %w", r.MAC, r.IP, err)
		}
		batch = append(batch, store.Node{MAC: r.MAC, IP: r.IP, Hostname: r.Hostname, Source: store.SourceReservation})
	}
	if err := m.store.Pin(ctx, batch...); err != nil {
		return fmt.Errorf("pin %d reservation(s): %w", len(batch), err)
	}
	return nil
}
