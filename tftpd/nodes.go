package tftpd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

// NodeSource is the part of store.Store the daemon uses.
type NodeSource interface {
	NodeByIP(ctx context.Context, ip netip.Addr) (store.Node, error)
}

// storeRetry is how often a store that failed to open is tried again;
// coredhcp creates the file, so at first start it may not exist yet.
const storeRetry = 5 * time.Second

// lookupTimeout bounds one node store query so a slow disk delays a
// transfer's start but never wedges it.
const lookupTimeout = 2 * time.Second

// maxCachedNodes bounds the node cache; stale entries are pruned past it.
const maxCachedNodes = 8192

// nodeCache answers "which node holds this IP" from the store, reusing an
// answer (found or not) for a few seconds so a board fetching ten files
// costs one query. The store is opened lazily and reopened until it works.
//
// An IP the store does not know (proxy mode: another server hands out the
// addresses, so no pin names them) is looked up in the kernel's neighbour
// table instead: the board ARPs for this server before its first RRQ, and
// Linux records the sender, so the table maps the board's IP to its MAC.
// The MAC's pin, if an admin made one, then supplies model and serial.
type nodeCache struct {
	open      func() (NodeSource, error) // nil: no store configured
	ttl       time.Duration
	log       *logrus.Entry
	neighbour func(ip netip.Addr) (net.HardwareAddr, bool)

	mu      sync.Mutex
	src     NodeSource
	lastTry time.Time
	lastErr string
	entries map[netip.Addr]cachedNode
}

type cachedNode struct {
	node  store.Node
	found bool
	at    time.Time
}

// macSource is the optional part of a store that finds a pin by MAC.
type macSource interface {
	Node(ctx context.Context, mac net.HardwareAddr) (store.Node, error)
}

func newNodeCache(open func() (NodeSource, error), ttl time.Duration, log *logrus.Entry) *nodeCache {
	return &nodeCache{open: open, ttl: ttl, log: log, neighbour: procNeighbour, entries: make(map[netip.Addr]cachedNode)}
}

// lookup returns the node at ip: its pin in the store, else a node known
// only by the MAC the neighbour table holds for ip (with the facts of that
// MAC's pin, if any).
func (c *nodeCache) lookup(ip netip.Addr) (store.Node, bool) {
	if !ip.IsValid() {
		return store.Node{}, false
	}
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.entries[ip]; ok && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.node, e.found
	}
	var src NodeSource
	if c.open != nil {
		src = c.source(now)
	}
	c.mu.Unlock()
	var n store.Node
	found := false
	if src != nil {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		var err error
		n, err = src.NodeByIP(ctx, ip)
		found = err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.WithFields(logrus.Fields{"client": ip.String(), "error": err}).Warn("node store lookup failed")
			return store.Node{}, false // do not cache a failure
		}
	}
	if !found && c.neighbour != nil {
		n, found = c.byNeighbour(src, ip)
	}
	if src == nil && c.open != nil {
		return n, found // the store may open any moment: cache nothing yet
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedNodes {
		for k, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		}
	}
	c.entries[ip] = cachedNode{node: n, found: found, at: now}
	c.mu.Unlock()
	return n, found
}

// byNeighbour finds ip's MAC in the neighbour table and that MAC's pin.
func (c *nodeCache) byNeighbour(src NodeSource, ip netip.Addr) (store.Node, bool) {
	mac, ok := c.neighbour(ip)
	if !ok {
		return store.Node{}, false
	}
	n := store.Node{MAC: mac, IP: ip}
	if ms, ok := src.(macSource); ok {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		if pin, err := ms.Node(ctx, mac); err == nil {
			n.Model, n.Serial, n.Hostname = pin.Model, pin.Serial, pin.Hostname
		}
	}
	c.log.WithFields(logrus.Fields{"client": ip.String(), "mac": mac.String(), "model": n.Model, "serial": n.Serial}).
		Debug("client known by the neighbour table, not by a pin")
	return n, true
}

// source returns the open store, trying to open it at most every storeRetry.
// Called with c.mu held; opening a local SQLite file is quick.
func (c *nodeCache) source(now time.Time) NodeSource {
	if c.src != nil || now.Sub(c.lastTry) < storeRetry {
		return c.src
	}
	c.lastTry = now
	src, err := c.open()
	if err != nil {
		if msg := err.Error(); msg != c.lastErr {
			c.lastErr = msg
			c.log.WithField("error", err).Warn("node store not available yet; serving by path and default tree, retrying")
		}
		return nil
	}
	c.src = src
	c.log.Info("node store opened")
	return src
}

// close releases the store if it has a Close method.
func (c *nodeCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.src.(interface{ Close() error }); ok {
		_ = cl.Close()
	}
	c.src = nil
}
