// Package loglimit keeps one misbehaving client from flooding the log: a
// warning caused by a client's packet is logged a few times, then at most
// once per interval for that client and message, with the count of the
// ones left out.
package loglimit

import (
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Limiter decides which repeats of a (client, message) warning to log.
// Its zero value is not usable; use New.
type Limiter struct {
	burst    int
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu   sync.Mutex
	keys map[key]*state
}

type key struct{ client, msg string }

// state is one key's allowance: tokens left, refilled one per interval,
// and how many lines were left out since the last one logged.
type state struct {
	tokens     int
	refilled   time.Time
	suppressed int
}

// New returns a limiter that lets burst lines per key through at once and
// then one per interval, remembering at most maxKeys keys (see evict for
// which go when a flood of clients fills the table).
func New(burst int, interval time.Duration, maxKeys int) *Limiter {
	return &Limiter{burst: max(burst, 1), interval: interval, maxKeys: max(maxKeys, 1),
		now: time.Now, keys: map[key]*state{}}
}

// Allow reports whether the warning msg about client may be logged now,
// and how many of the same were left out before it.
func (l *Limiter) Allow(client, msg string) (ok bool, suppressed int) {
	now := l.now()
	k := key{client, msg}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[k]
	if st == nil {
		if len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		st = &state{tokens: l.burst, refilled: now}
		l.keys[k] = st
	}
	if gained := int(now.Sub(st.refilled) / l.interval); gained > 0 {
		st.tokens = min(l.burst, st.tokens+gained)
		st.refilled = st.refilled.Add(time.Duration(gained) * l.interval)
	}
	if st.tokens == 0 {
		st.suppressed++
		return false, 0
	}
	st.tokens--
	suppressed, st.suppressed = st.suppressed, 0
	return true, suppressed
}

// evict makes room in a full table: it forgets the keys whose allowance is
// full again (quiet long enough to be as good as new) and, if that is not
// a quarter of the table, arbitrary others until it is, so that a flood
// of new clients costs one pass over the table per quarter of it, not one
// per packet.
func (l *Limiter) evict(now time.Time) {
	for k, st := range l.keys {
		if st.suppressed == 0 && st.tokens+int(now.Sub(st.refilled)/l.interval) >= l.burst {
			delete(l.keys, k)
		}
	}
	for k := range l.keys { // map order is random: no client is favoured
		if len(l.keys) <= l.maxKeys*3/4 {
			break
		}
		delete(l.keys, k)
	}
}

// Warn logs msg on e at warning level unless the limiter holds it back
// for client; a line logged after some were held back says how many.
func (l *Limiter) Warn(e *logrus.Entry, client, msg string) {
	ok, n := l.Allow(client, msg)
	if !ok {
		return
	}
	if n > 0 {
		e = e.WithField("suppressed", n)
	}
	e.Warn(msg)
}
