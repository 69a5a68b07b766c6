package tftpd

import (
	"context"
	"errors"
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
type nodeCache struct {
	open func() (NodeSource, error) // nil: no store configured
	ttl  time.Duration
	log  *logrus.Entry

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

func newNodeCache(open func() (NodeSource, error), ttl time.Duration, log *logrus.Entry) *nodeCache {
	return &nodeCache{open: open, ttl: ttl, log: log, entries: make(map[netip.Addr]cachedNode)}
}

// lookup returns the node pinned to ip, if the store knows it.
func (c *nodeCache) lookup(ip netip.Addr) (store.Node, bool) {
	if c.open == nil || !ip.IsValid() {
		return store.Node{}, false
	}
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.entries[ip]; ok && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.node, e.found
	}
	src := c.source(now)
	c.mu.Unlock()
	if src == nil {
		return store.Node{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	n, err := src.NodeByIP(ctx, ip)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.log.WithFields(logrus.Fields{"client": ip.String(), "error": err}).Warn("node store lookup failed")
		return store.Node{}, false // do not cache a failure
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
