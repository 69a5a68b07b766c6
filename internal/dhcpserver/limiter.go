package dhcpserver

import (
	"sync"
	"time"
)

// warnEvery is how often a repeating warning (a storm of drops, a broken
// interface) may reach the log; a flood of identical lines helps nobody.
const warnEvery = time.Minute

// limiter lets one event per key through per interval and counts the rest,
// so the line that gets through can say how many it stands for.
type limiter struct {
	mu     sync.Mutex
	every  time.Duration
	last   map[string]time.Time
	missed map[string]int
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, last: map[string]time.Time{}, missed: map[string]int{}}
}

// allow reports whether the event for key may be logged now and how many
// events for key were suppressed since the last one that was.
func (l *limiter) allow(key string) (bool, int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.missed[key]++
		return false, 0
	}
	l.last[key] = now
	n := l.missed[key]
	delete(l.missed, key)
	return true, n
}
