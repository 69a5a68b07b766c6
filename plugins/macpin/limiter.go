package macpin

import (
	"sync"
	"time"
)

// maxLimited bounds the limiter's memory; when full it forgets everything,
// which at worst lets one extra line per key through.
const maxLimited = 4096

// limiter lets one log line per key through per interval, so a board stuck
// retrying (or a flood) cannot flood the log.
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, last: map[string]time.Time{}}
}

// allow reports whether a line for key may be logged now.
func (l *limiter) allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	if len(l.last) >= maxLimited {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
