package dhcpserver

import (
	"sync"
	"sync/atomic"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/internal/classify"
)

// Observer sees every parsed BOOTREQUEST, the reply the chain built (nil
// when nothing is sent) and the request's facts, after the chain ran. It
// exists so the metrics plugin can count by message type and board class
// without a place in the chain; it runs on the handler goroutine, so it must
// be quick and must not keep or modify either packet.
type Observer func(req, resp *dhcpv4.DHCPv4, facts classify.Facts)

var (
	observers atomic.Pointer[[]Observer] // copy-on-write; read on every packet
	obsMu     sync.Mutex

	runningMu sync.Mutex
	running   []*Servers
)

// AddObserver registers o for every DHCPv4 loop in this process, including
// loops started later. Plugins call it from their setup, which runs before
// Start opens the listeners.
func AddObserver(o Observer) {
	obsMu.Lock()
	defer obsMu.Unlock()
	var next []Observer
	if cur := observers.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	observers.Store(&next)
}

func observe(req, resp *dhcpv4.DHCPv4, facts classify.Facts) {
	if obs := observers.Load(); obs != nil && req != nil {
		for _, o := range *obs {
			o(req, resp, facts)
		}
	}
}

// Running returns the DHCPv4 loops of this process that are serving now
// (started and not closed), for the metrics and health endpoints.
func Running() []*Servers {
	runningMu.Lock()
	defer runningMu.Unlock()
	return append([]*Servers(nil), running...)
}

// Listening is how many DHCPv4 sockets s reads; 0 once it is closed.
func (s *Servers) Listening() int {
	if s.closed.Load() {
		return 0
	}
	return len(s.listeners)
}

func track(s *Servers) {
	runningMu.Lock()
	running = append(running, s)
	runningMu.Unlock()
}

func untrack(s *Servers) {
	s.closed.Store(true)
	runningMu.Lock()
	defer runningMu.Unlock()
	for i, r := range running {
		if r == s {
			running = append(running[:i], running[i+1:]...)
			return
		}
	}
}
