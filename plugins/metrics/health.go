package metrics

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

// storeStale is how long the store may stay silent before /healthz fails.
// macpin asks it for its data version every second, so a healthy store
// answers many times within this window.
const storeStale = 15 * time.Second

// health remembers the store's recent answers for /healthz.
type health struct {
	mu        sync.Mutex
	lastOK    time.Time // last store call that answered (not-found counts)
	lastErr   error
	writeErr  error     // set by a failed write, cleared by the next good one
	writeErrT time.Time // when writes started failing
	now       func() time.Time
}

var writeOps = map[string]bool{"Pin": true, "Unpin": true, "Touch": true, "Decline": true, "ClearDeclined": true}

func (h *health) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

func (h *health) storeOp(op string, failed bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock()
	if !failed {
		h.lastOK = now
		if writeOps[op] && h.writeErr != nil {
			h.writeErr = nil
			log.WithField("op", op).Info("store accepts writes again")
		}
		return
	}
	h.lastErr = err
	if writeOps[op] && h.writeErr == nil {
		h.writeErr, h.writeErrT = err, now
	}
}

// problems lists why the DHCP service is not healthy; empty means healthy.
// Healthy: at least one DHCPv4 socket is being read and, when a macpin
// store is open, it answered within storeStale and its last write worked.
func (c *Collector) problems() []string {
	var out []string
	listening := 0
	for _, l := range c.loops() {
		listening += l.Listening()
	}
	if listening == 0 {
		out = append(out, "no DHCPv4 listener is serving")
	}
	if store.Instrumented() == 0 {
		return out
	}
	h := &c.health
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock()
	if age := now.Sub(h.lastOK); h.lastOK.IsZero() || age > storeStale {
		msg := "node store has not answered"
		if !h.lastOK.IsZero() {
			msg += fmt.Sprintf(" for %s", age.Round(time.Second))
		}
		if h.lastErr != nil {
			msg += fmt.Sprintf(" (last error: %v)", h.lastErr)
		}
		out = append(out, msg)
	}
	if h.writeErr != nil {
		out = append(out, fmt.Sprintf("node store refuses writes since %s (new boards get no address): %v",
			h.writeErrT.UTC().Format(time.RFC3339), h.writeErr))
	}
	return out
}

// serveHealth answers 200 "ok" or 503 with one reason a line, for load
// balancers and systemd-style watchdogs that only read the status.
func (c *Collector) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	p := c.problems()
	if len(p) == 0 {
		fmt.Fprintln(w, "ok")
		return
	}
	log.WithFields(logrus.Fields{"peer": r.RemoteAddr, "reasons": strings.Join(p, "; ")}).Debug("health check failed")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, strings.Join(p, "\n"))
}
