package classify

import (
	"net"
	"sync"
	"time"
)

// recent remembers, by MAC (never by xid: Pi 3 boards may share one), which
// clients sent a Raspberry Pi netboot request lately. Two generations of at
// most max entries each keep memory bounded without per-entry bookkeeping.
type recent struct {
	ttl      time.Duration
	max      int
	mu       sync.Mutex
	cur, old map[[6]byte]time.Time // MAC → expiry
	rotated  time.Time
}

func newRecent(ttl time.Duration, max int) *recent {
	return &recent{ttl: ttl, max: max, cur: map[[6]byte]time.Time{}, old: map[[6]byte]time.Time{}}
}

func key(mac net.HardwareAddr) ([6]byte, bool) {
	var k [6]byte
	if len(mac) != 6 {
		return k, false
	}
	copy(k[:], mac)
	return k, true
}

// remember records mac as seen at now.
func (r *recent) remember(mac net.HardwareAddr, now time.Time) {
	k, ok := key(mac)
	if !ok || r.ttl <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cur) >= r.max || now.Sub(r.rotated) >= r.ttl {
		r.old, r.cur, r.rotated = r.cur, make(map[[6]byte]time.Time), now
	}
	r.cur[k] = now.Add(r.ttl)
}

// seen reports whether mac was remembered less than the TTL ago.
func (r *recent) seen(mac net.HardwareAddr, now time.Time) bool {
	k, ok := key(mac)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if exp, ok := r.cur[k]; ok && now.Before(exp) {
		return true
	}
	exp, ok := r.old[k]
	return ok && now.Before(exp)
}

// size is the number of entries held, for tests of the bound.
func (r *recent) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cur) + len(r.old)
}
