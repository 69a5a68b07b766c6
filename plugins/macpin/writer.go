package macpin

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

// writer is the only goroutine that commits new pins and reloads admin
// changes, so the two never interleave: each batch of pending pins is one
// transaction and one fsync (group commit).
func (m *Macpin) writer() {
	defer m.wg.Done()
	poll := time.NewTicker(m.cfg.PollInterval)
	defer poll.Stop()
	batch := make([]*pendingPin, 0, maxBatch)
	for {
		select {
		case p := <-m.commitQ:
			batch = append(batch[:0], p)
		drain:
			for len(batch) < maxBatch {
				select {
				case p := <-m.commitQ:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			m.commit(batch)
		case <-poll.C:
			m.pollAdmin()
			m.endProbation(time.Now())
		case <-m.quit:
			// Handlers already waiting get their answer; none can queue more.
			for {
				select {
				case p := <-m.commitQ:
					m.commit([]*pendingPin{p})
				default:
					return
				}
			}
		}
	}
}

// commit makes a batch durable in one transaction. On a conflict (an admin,
// or a peer server sharing the store, pinned one of those MACs or IPs meanwhile) it asks the store who holds
// what, adopts those pins, allocates again where needed and commits the rest
// of the batch again: never an address the store gave someone else, and
// still one fsync for the batch, not one per member.
func (m *Macpin) commit(batch []*pendingPin) {
	batch = m.evict(batch)
	for attempt := 1; len(batch) > 0; attempt++ {
		nodes := make([]store.Node, len(batch))
		for i, p := range batch {
			nodes[i] = p.node
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := m.store.Pin(ctx, nodes...)
		cancel()
		switch {
		case err == nil:
			m.settle(batch)
			return
		case errors.Is(err, store.ErrConflict) && attempt < 8:
			m.log.WithField("batch", len(batch)).WithError(err).Info("new pins collide with pins made outside this server (a peer or rpinetctl); re-reading the store")
			m.refresh()
			batch = m.resolve(batch)
		default:
			// The store is down or refusing writes: known MACs are still
			// answered from memory, new ones get nothing until it is back.
			// One error line per minute for the pool (a flood of new MACs
			// during an outage must not bury the log), every MAC at debug.
			m.stats.commitErrors.Add(uint64(len(batch)))
			if m.allowLog("commit", nil) {
				m.log.WithFields(logrus.Fields{"mac": batch[0].node.MAC.String(), "batch": len(batch), "failed_total": m.stats.commitErrors.Load()}).
					WithError(err).Error("commit of new pins failed; no OFFER sent, addresses released (repeats are counted, logged once a minute)")
			}
			for _, p := range batch {
				m.log.WithFields(logrus.Fields{"mac": p.node.MAC.String(), "ip": p.node.IP.String()}).WithError(err).Debug("new pin not committed")
				m.fail(p, err)
			}
			return
		}
	}
}

// resolve re-reads the store for each member of a conflicting batch: a MAC
// pinned meanwhile is answered with that pin, an address taken meanwhile is
// replaced by another. It returns the members still to commit.
func (m *Macpin) resolve(batch []*pendingPin) []*pendingPin {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	keep := batch[:0]
	for _, p := range batch {
		owned, errMAC := m.store.Node(ctx, p.node.MAC)
		if errMAC == nil { // an admin pinned this very MAC: answer with that
			m.mu.Lock()
			m.adopt(owned)
			m.finish(p, owned.IP)
			m.mu.Unlock()
			m.log.WithFields(logrus.Fields{"mac": owned.MAC.String(), "ip": owned.IP.String(), "source": owned.Source}).Info("pin made outside this server adopted")
			close(p.done)
			continue
		}
		holder, errIP := m.store.NodeByIP(ctx, p.node.IP)
		if errIP != nil || holder.MAC.String() == p.node.MAC.String() {
			keep = append(keep, p)
			continue
		}
		m.mu.Lock()
		m.adopt(holder) // the reserved address went to someone else
		ip, ok := m.pool.take(netip.Addr{})
		if !ok {
			delete(m.pending, string(p.node.MAC))
			m.mu.Unlock()
			m.stats.exhausted.Add(1)
			p.err = errExhausted
			close(p.done)
			continue
		}
		p.node.IP = ip
		m.mu.Unlock()
		keep = append(keep, p)
	}
	return keep
}

// refresh reloads every pin before a conflicting batch is resolved: the
// other writer (a peer server sharing the store, or rpinetctl) has usually
// pinned a run of addresses, and learning them all at once keeps the retry
// from walking into them one conflict at a time.
func (m *Macpin) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	m.mu.RLock()
	gen := m.localGen
	m.mu.RUnlock()
	nodes, declined, err := m.loadStore(ctx)
	if err != nil {
		return // resolve asks the store member by member
	}
	m.mu.RLock()
	raced := m.localGen != gen
	m.mu.RUnlock()
	if !raced {
		m.install(nodes, declined)
	}
}

// settle moves committed pins from pending to the pin maps and releases
// their handlers, whose OFFERs may now leave.
func (m *Macpin) settle(batch []*pendingPin) {
	m.mu.Lock()
	for _, p := range batch {
		k := string(p.node.MAC)
		m.byMAC[k], m.byIP[p.node.IP], m.source[k], m.lastSeen[k] = p.node.IP, k, p.node.Source, time.Now()
		delete(m.pending, k)
	}
	m.mu.Unlock()
	m.stats.newPins.Add(uint64(len(batch)))
	now := time.Now()
	for _, p := range batch {
		m.seen.mark(store.Seen{MAC: p.node.MAC, At: now, Model: p.node.Model, Serial: p.node.Serial, Hostname: p.node.Hostname})
	}
	for _, p := range batch {
		m.log.WithFields(logrus.Fields{"mac": p.node.MAC.String(), "ip": p.node.IP.String(), "model": p.node.Model,
			"serial": p.node.Serial, "source": p.node.Source}).Info("new pin")
		close(p.done)
	}
}

// finish ends p with ip without a commit of its own. Caller holds mu.
func (m *Macpin) finish(p *pendingPin, ip netip.Addr) {
	if _, held := m.byIP[p.node.IP]; !held && p.node.IP != ip {
		m.pool.release(p.node.IP)
	}
	p.node.IP = ip
	delete(m.pending, string(p.node.MAC))
}

// fail gives up on p: its address returns to the pool, its handler sends nothing.
func (m *Macpin) fail(p *pendingPin, err error) {
	m.mu.Lock()
	if _, held := m.byIP[p.node.IP]; !held {
		if _, dec := m.declined[p.node.IP]; !dec {
			m.pool.release(p.node.IP)
		}
	}
	delete(m.pending, string(p.node.MAC))
	m.mu.Unlock()
	p.err = err
	close(p.done)
}

// pollAdmin reloads pins and declined addresses when another process (an
// rpinetctl pin or unpin) has committed since the last look.
func (m *Macpin) pollAdmin() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	v, err := m.store.DataVersion(ctx)
	if err != nil {
		if m.allowLog("poll", nil) {
			m.log.WithError(err).Error("cannot check the store for admin changes")
		}
		return
	}
	if v == m.version {
		return
	}
	m.mu.RLock()
	gen, before := m.localGen, len(m.byMAC)
	m.mu.RUnlock()
	nodes, declined, err := m.loadStore(ctx)
	if err != nil {
		m.log.WithError(err).Error("cannot reload admin changes; will retry")
		return
	}
	m.mu.RLock()
	raced := m.localGen != gen
	m.mu.RUnlock()
	if raced { // a DECLINE changed memory while we read: read again next tick
		return
	}
	m.install(nodes, declined)
	m.version = v
	m.stats.reloads.Add(1)
	m.log.WithFields(logrus.Fields{"pins_before": before, "pins": len(nodes), "declined": len(declined)}).Info("reloaded pins changed outside this server")
}
