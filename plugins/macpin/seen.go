package macpin

import (
	"context"
	"sync"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

// maxSeen bounds the queued last-seen updates; past it updates are dropped
// (the next packet from the board brings them again).
const maxSeen = 1 << 16

// seenQueue coalesces last-seen/facts updates per MAC between flushes, so a
// board that sends ten packets costs one row update, and the hot path never
// touches the disk.
type seenQueue struct {
	mu sync.Mutex
	m  map[string]store.Seen
}

func newSeenQueue() *seenQueue { return &seenQueue{m: map[string]store.Seen{}} }

// add merges s into the queue; facts a packet lacks keep the queued ones.
func (q *seenQueue) add(s store.Seen) {
	k := string(s.MAC)
	q.mu.Lock()
	defer q.mu.Unlock()
	old, ok := q.m[k]
	if !ok {
		if len(q.m) >= maxSeen {
			return
		}
		q.m[k] = s
		return
	}
	old.At = s.At
	if s.Model != "" {
		old.Model = s.Model
	}
	if s.Serial != "" {
		old.Serial = s.Serial
	}
	if s.Hostname != "" {
		old.Hostname = s.Hostname
	}
	q.m[k] = old
}

// take empties the queue.
func (q *seenQueue) take() []store.Seen {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.m) == 0 {
		return nil
	}
	out := make([]store.Seen, 0, len(q.m))
	for _, s := range q.m {
		out = append(out, s)
	}
	clear(q.m)
	return out
}

// flusher writes the queued updates every FlushInterval, and once more on Close.
func (m *Macpin) flusher() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.flushSeen()
		case <-m.quit:
			m.flushSeen()
			return
		}
	}
}

func (m *Macpin) flushSeen() {
	batch := m.seen.take()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := m.store.Touch(ctx, batch); err != nil && m.limiter.allow("touch") {
		m.log.WithField("updates", len(batch)).WithError(err).Warn("last-seen updates not written (dropped)")
	}
}
