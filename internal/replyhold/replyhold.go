// Package replyhold lets a DHCP plugin ask the packet loop to keep a reply
// back until work behind it is done (macpin: a new pin made durable),
// instead of blocking the goroutine that runs the plugin chain.
//
// Why: a loop that runs the chain inline, packet after packet, on the
// goroutine that read them does not pay a goroutine start and two thread
// wake-ups per packet; measured on a 2-core machine, those context switches
// cost more CPU than everything else a DORA does. Such a loop must never
// block in a plugin, so a plugin that has to wait hands the wait to the loop
// with Defer, and the loop sends the reply once the wait is over.
//
// A plugin that runs under a loop without this support (upstream's server,
// a unit test calling the handler) sees Defer return false and waits itself.
package replyhold

import (
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Finish waits for the work behind a held reply, then returns nil to have
// resp sent (the function may still change resp, e.g. the address after a
// conflict), or an error to have it dropped.
type Finish func(resp *dhcpv4.DHCPv4) error

var (
	mu   sync.Mutex
	open = map[*dhcpv4.DHCPv4][]Finish{} // by request: plugins may replace the reply, never the request
)

// Begin tells Defer that req's chain runs in a loop that can hold its reply.
func Begin(req *dhcpv4.DHCPv4) {
	mu.Lock()
	open[req] = nil
	mu.Unlock()
}

// End returns what the chain deferred for req, in order, and forgets req.
func End(req *dhcpv4.DHCPv4) []Finish {
	mu.Lock()
	f := open[req]
	delete(open, req)
	mu.Unlock()
	return f
}

// Defer hands f to the loop running req's chain and reports true, or
// reports false when that loop cannot hold replies (the caller must then
// wait itself).
func Defer(req *dhcpv4.DHCPv4, f Finish) bool {
	mu.Lock()
	defer mu.Unlock()
	fs, ok := open[req]
	if !ok {
		return false
	}
	open[req] = append(fs, f)
	return true
}
