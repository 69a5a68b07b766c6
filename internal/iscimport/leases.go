package iscimport

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/args"
)

// Lease is one `lease IP { ... }` entry of dhcpd.leases.
type Lease struct {
	IP       netip.Addr
	MAC      net.HardwareAddr // nil when the entry has no hardware ethernet
	State    string           // binding state: active, free, expired, abandoned, ...
	Starts   time.Time        // zero when absent or "never"
	Ends     time.Time
	CLTT     time.Time // client's last transaction time
	Hostname string    // client-hostname
	Line     int
}

// Active reports whether the lease binds its address now; only those are pinned.
func (l Lease) Active() bool { return l.State == "active" }

// Leases is what was read from a dhcpd.leases file.
type Leases struct {
	File     string
	Entries  []Lease // the last entry per address, in order of first appearance
	Warnings []Warning
}

// ParseLeases parses a dhcpd.leases file. dhcpd appends a new entry for an
// address on every change, so only the last entry per address is kept.
func ParseLeases(src []byte, file string) (*Leases, error) {
	tree, err := parseTree(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var warns []Warning
	warn := func(line int, format string, a ...any) {
		warns = append(warns, Warning{File: file, Line: line, Msg: fmt.Sprintf(format, a...)})
	}
	index := map[netip.Addr]int{}
	var out []Lease
	for _, s := range tree {
		if !s.keyword(0, "lease") || !s.isBlk {
			// authoring-byte-order, server-duid, failover state, host
			// entries written by OMAPI: none of them is a lease.
			if !s.keyword(0, "authoring-byte-order") && !s.keyword(0, "server-duid") {
				warn(s.line, "not imported: %s", s.text())
			}
			continue
		}
		if len(s.toks) != 2 {
			return nil, fmt.Errorf("%s: line %d: %q: want `lease ADDRESS {`", file, s.line, s.text())
		}
		ip, err := parseIPv4(s.word(1))
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: lease %q: not an IPv4 address", file, s.line, s.word(1))
		}
		l := Lease{IP: ip, Line: s.line}
		for _, b := range s.block {
			switch {
			case b.keyword(0, "binding") && b.keyword(1, "state") && len(b.toks) == 3:
				l.State = strings.ToLower(b.word(2))
			case b.keyword(0, "hardware") && len(b.toks) == 3:
				if !b.keyword(1, "ethernet") {
					warn(b.line, "lease %s: hardware %s is not Ethernet; not imported", ip, b.word(1))
					continue
				}
				mac, err := args.MAC(b.word(2))
				if err != nil {
					return nil, fmt.Errorf("%s: line %d: lease %s: hardware ethernet %q: %w", file, b.line, ip, b.word(2), err)
				}
				l.MAC = mac
			case b.keyword(0, "starts"):
				l.Starts = leaseTime(b)
			case b.keyword(0, "ends"):
				l.Ends = leaseTime(b)
			case b.keyword(0, "cltt"):
				l.CLTT = leaseTime(b)
			case b.keyword(0, "client-hostname") && len(b.toks) == 2:
				l.Hostname = b.word(1)
			}
			// next binding state, uid, tstp, set ..., option agent.*:
			// nothing to import, and too common to warn about.
		}
		if i, ok := index[ip]; ok {
			out[i] = l
		} else {
			index[ip] = len(out)
			out = append(out, l)
		}
	}
	return &Leases{File: file, Entries: out, Warnings: warns}, nil
}

// leaseTime reads `starts W YYYY/MM/DD HH:MM:SS;` (UTC, as dhcpd writes it),
// or the `epoch N;` form; "never" and anything unreadable give the zero time.
func leaseTime(s stmt) time.Time {
	if s.keyword(1, "epoch") && len(s.toks) >= 3 {
		var n int64
		if _, err := fmt.Sscanf(s.word(2), "%d", &n); err == nil {
			return time.Unix(n, 0).UTC()
		}
		return time.Time{}
	}
	if len(s.toks) < 4 {
		return time.Time{}
	}
	t, err := time.Parse("2006/01/02 15:04:05", s.word(2)+" "+s.word(3))
	if err != nil {
		return time.Time{}
	}
	return t
}
