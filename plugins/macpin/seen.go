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

// seenEvery is how stale a stored last-seen time may get while a board
// keeps talking with unchanged facts. A booting board sends a dozen DHCP
// packets within seconds (ROM, U-Boot, kernel); recording each would make
// the store's single writer busy with updates nobody reads at that
// resolution, and hold back the commits new boards' OFFERs wait for.
const seenEvery = time.Minute

// seenQueue coalesces last-seen/facts updates per MAC between flushes, so a
// board that sends ten packets costs one row update, and the hot path never
// touches the disk.
type seenQueue struct {
	mu   sync.Mutex
	m    map[string]store.Seen
	last map[string]store.Seen // per MAC, the newest update queued or pinned
	// answered holds, for the last declineWindow, when each MAC was last
	// answered, to the packet (last may lag by seenEvery).
	answered map[string]time.Time
}

func newSeenQueue() *seenQueue {
	return &seenQueue{m: map[string]store.Seen{}, last: map[string]store.Seen{}, answered: map[string]time.Time{}}
}

// answeredAt is when mac was last answered, within the last declineWindow
// (zero otherwise).
func (q *seenQueue) answeredAt(mac string) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.answered[mac]
}

// mark records that s is already in the store (a pin just committed), so
// the board's next packets within seenEvery need no update.
func (q *seenQueue) mark(s store.Seen) {
	q.mu.Lock()
	q.last[string(s.MAC)] = s
	if len(q.answered) < maxSeen {
		q.answered[string(s.MAC)] = s.At
	}
	q.mu.Unlock()
}

// add merges s into the queue; facts a packet lacks keep the queued ones. An
// update within seenEvery of the last one that brings no new fact is
// skipped.
func (q *seenQueue) add(s store.Seen) {
	k := string(s.MAC)
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.answered) < maxSeen {
		q.answered[k] = s.At
	}
	if prev, ok := q.last[k]; ok && s.At.Sub(prev.At) < seenEvery && sameFacts(prev, s) {
		return
	}
	old, ok := q.m[k]
	if !ok {
		if len(q.m) >= maxSeen {
			return
		}
		q.m[k], q.last[k] = s, s
		return
	}
	q.last[k] = s
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

// sameFacts reports whether s brings no fact that differs from prev (a
// packet without a fact says nothing about it).
func sameFacts(prev, s store.Seen) bool {
	return (s.Model == "" || s.Model == prev.Model) && (s.Serial == "" || s.Serial == prev.Serial) &&
		(s.Hostname == "" || s.Hostname == prev.Hostname)
}

// take empties the queue, returns it with when each MAC was last answered
// (within declineWindow: to the packet, where the queue lags by up to
// seenEvery), and forgets answers older than that.
func (q *seenQueue) take() ([]store.Seen, map[string]time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	recent := make(map[string]time.Time, len(q.answered))
	for k, at := range q.answered {
		if now.Sub(at) > declineWindow {
			delete(q.answered, k)
		} else {
			recent[k] = at
		}
	}
	if len(q.m) == 0 {
		return nil, recent
	}
	out := make([]store.Seen, 0, len(q.m))
	for _, s := range q.m {
		out = append(out, s)
	}
	clear(q.m)
	return out, recent
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
	batch, recent := m.seen.take()
	m.mu.Lock()
	for k, at := range recent { // reclaim decides on these: keep them exact
		if _, pinned := m.byMAC[k]; pinned && at.After(m.lastSeen[k]) {
			m.lastSeen[k] = at
		}
	}
	m.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := m.store.Touch(ctx, batch); err != nil && m.allowLog("touch", nil) {
		m.log.WithField("updates", len(batch)).WithError(err).Warn("last-seen updates not written (dropped)")
	}
}
