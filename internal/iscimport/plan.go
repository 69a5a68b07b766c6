package iscimport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

// Pin is one node to write, with where it came from for messages.
type Pin struct {
	Node   store.Node
	Origin string // e.g. `host pi-01 (dhcpd.conf:12)`
}

// Plan is everything an import would do: the pins (written in one Store.Pin
// call) and the parsed config the stanzas are printed from.
type Plan struct {
	Conf     *Config
	Pins     []Pin
	Warnings []Warning
	Hosts    int // pins from host declarations
	Leases   int // pins from active leases
}

// ConflictError lists every reason an import was refused; nothing is written.
type ConflictError struct {
	Conflicts []string
}

// Error lists every conflict, one a line.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%d conflict(s), nothing imported:\n  %s", len(e.Conflicts), strings.Join(e.Conflicts, "\n  "))
}

// Unwrap lets callers test errors.Is(err, store.ErrConflict).
func (e *ConflictError) Unwrap() error { return store.ErrConflict }

// NewPlan turns a parsed config and leases (nil when there is no leases file) into pins. Host
// reservations win over leases of the same MAC; every other disagreement —
// two MACs for one address, one MAC at two host addresses, an address outside
// every declared subnet — refuses the whole import. now stamps host pins.
func NewPlan(conf *Config, leases *Leases, now time.Time) (*Plan, error) {
	if len(conf.Subnets) == 0 {
		return nil, fmt.Errorf("%s declares no subnet: is it a dhcpd.conf? (includes are not followed)", conf.File)
	}
	if leases == nil {
		leases = &Leases{}
	}
	p := &Plan{Conf: conf, Warnings: append(append([]Warning(nil), conf.Warnings...), leases.Warnings...)}
	var conflicts []string
	byMAC := map[string]int{}    // MAC -> index in p.Pins
	byIP := map[netip.Addr]int{} // IP -> index in p.Pins
	warn := func(file string, line int, format string, a ...any) {
		p.Warnings = append(p.Warnings, Warning{File: file, Line: line, Msg: fmt.Sprintf(format, a...)})
	}

	for _, h := range conf.Hosts {
		where := fmt.Sprintf("host %s (%s:%d)", h.Name, conf.File, h.Line)
		switch {
		case h.MAC == nil:
			warn(conf.File, h.Line, "host %s has no hardware ethernet; not pinned", h.Name)
			continue
		case len(h.IPs) == 0:
			warn(conf.File, h.Line, "host %s has no fixed-address; not pinned", h.Name)
			continue
		case len(h.IPs) > 1:
			conflicts = append(conflicts, fmt.Sprintf("%s: %s has %d fixed addresses (%s); a pin holds one", where, h.MAC, len(h.IPs), joinAddrs(h.IPs)))
			continue
		}
		ip := h.IPs[0]
		if _, ok := conf.SubnetOf(ip); !ok {
			conflicts = append(conflicts, fmt.Sprintf("%s: fixed-address %s is outside every declared subnet", where, ip))
			continue
		}
		mac := h.MAC.String()
		if i, ok := byMAC[mac]; ok {
			if p.Pins[i].Node.IP != ip {
				conflicts = append(conflicts, fmt.Sprintf("%s: %s would get %s, but %s gives it %s", where, mac, ip, p.Pins[i].Origin, p.Pins[i].Node.IP))
			}
			continue // the same reservation written twice is harmless
		}
		if i, ok := byIP[ip]; ok {
			conflicts = append(conflicts, fmt.Sprintf("%s: %s is given to %s, but %s gives it to %s", where, ip, mac, p.Pins[i].Origin, p.Pins[i].Node.MAC))
			continue
		}
		byMAC[mac], byIP[ip] = len(p.Pins), len(p.Pins)
		p.Pins = append(p.Pins, Pin{Origin: where, Node: store.Node{
			MAC: h.MAC, IP: ip, Hostname: h.Hostname, Source: store.SourceImport,
			FirstSeen: now, LastSeen: now,
		}})
		p.Hosts++
	}

	// A MAC may hold several active leases (a client id changed, a board
	// moved); keep its most recent one.
	var active []Lease
	for _, l := range leases.Entries {
		switch {
		case !l.Active():
			continue
		case l.MAC == nil:
			warn(leases.File, l.Line, "active lease %s has no hardware ethernet; not pinned", l.IP)
			continue
		}
		active = append(active, l)
	}
	sort.SliceStable(active, func(i, j int) bool { return active[i].Starts.After(active[j].Starts) })
	newestLease := map[string]Lease{}
	var leasePins []Pin
	for _, l := range active {
		mac := l.MAC.String()
		where := fmt.Sprintf("lease %s (%s:%d)", l.IP, leases.File, l.Line)
		if _, ok := conf.SubnetOf(l.IP); !ok {
			conflicts = append(conflicts, fmt.Sprintf("%s: active lease of %s is outside every declared subnet", where, mac))
			continue
		}
		if i, ok := byMAC[mac]; ok && i < p.Hosts {
			if p.Pins[i].Node.IP != l.IP {
				warn(leases.File, l.Line, "active lease %s of %s ignored: %s reserves %s for it", l.IP, mac, p.Pins[i].Origin, p.Pins[i].Node.IP)
			}
			continue
		}
		if i, ok := byIP[l.IP]; ok && i < p.Hosts {
			conflicts = append(conflicts, fmt.Sprintf("%s: %s is leased to %s, but %s reserves it for %s", where, l.IP, mac, p.Pins[i].Origin, p.Pins[i].Node.MAC))
			continue
		}
		if newer, ok := newestLease[mac]; ok {
			warn(leases.File, l.Line, "older active lease %s of %s ignored: it holds the newer lease %s", l.IP, mac, newer.IP)
			continue
		}
		newestLease[mac] = l
		first, last := l.Starts, l.CLTT
		if first.IsZero() {
			first = now
		}
		if last.IsZero() {
			last = first
		}
		leasePins = append(leasePins, Pin{Origin: where, Node: store.Node{
			MAC: l.MAC, IP: l.IP, Hostname: l.Hostname, Source: store.SourceImport,
			FirstSeen: first, LastSeen: last,
		}})
	}
	// Leases are unique per IP by construction (ParseLeases keeps the last
	// entry per address), so no two lease pins share an address.
	sort.Slice(leasePins, func(i, j int) bool { return leasePins[i].Node.IP.Less(leasePins[j].Node.IP) })
	for _, lp := range leasePins {
		byMAC[lp.Node.MAC.String()], byIP[lp.Node.IP] = len(p.Pins), len(p.Pins)
		p.Pins = append(p.Pins, lp)
		p.Leases++
	}
	if len(conflicts) > 0 {
		return nil, &ConflictError{Conflicts: conflicts}
	}
	return p, nil
}

func joinAddrs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

// Nodes returns the pins as store nodes, ready for one Store.Pin call.
func (p *Plan) Nodes() []store.Node {
	out := make([]store.Node, len(p.Pins))
	for i, pin := range p.Pins {
		out[i] = pin.Node
	}
	return out
}

// CheckStore finds pins that disagree with what st already holds: the MAC
// pinned elsewhere, or the address pinned to another MAC. Store.Pin would
// refuse them too, but without saying which; this names every one.
func (p *Plan) CheckStore(ctx context.Context, st store.Store) error {
	var conflicts []string
	for _, pin := range p.Pins {
		n := pin.Node
		cur, err := st.Node(ctx, n.MAC)
		switch {
		case err == nil && cur.IP != n.IP:
			conflicts = append(conflicts, fmt.Sprintf("%s: %s would get %s, but the store pins it to %s (source %s)", pin.Origin, n.MAC, n.IP, cur.IP, cur.Source))
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("look up %s: %w", n.MAC, err)
		}
		holder, err := st.NodeByIP(ctx, n.IP)
		switch {
		case err == nil && holder.MAC.String() != n.MAC.String():
			conflicts = append(conflicts, fmt.Sprintf("%s: %s is for %s, but the store pins it to %s (source %s)", pin.Origin, n.IP, n.MAC, holder.MAC, holder.Source))
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("look up %s: %w", n.IP, err)
		}
	}
	if len(conflicts) > 0 {
		return &ConflictError{Conflicts: conflicts}
	}
	return nil
}
