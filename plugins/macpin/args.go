package macpin

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/internal/events"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// maxPoolSize caps the addresses one stanza may manage (the free-address
// bitmap costs one bit each): a /12 is more than any boot network needs.
const maxPoolSize = 1 << 20

// defaultMaxPending is how many handlers may wait on a commit at once; beyond
// it packets are dropped (the board retries) so a flood cannot exhaust memory.
const defaultMaxPending = 4096

// Defaults of the aging options: a board seen within the last week keeps
// its address whatever happens to the pool; a DECLINEd address comes back
// after a day (Kea's decline-probation-period); a board may DECLINE twice a
// day (a real address conflict needs one).
const (
	defaultReclaimAfter     = 7 * 24 * time.Hour
	defaultDeclineProbation = 24 * time.Hour
	defaultDeclineBudget    = 2
)

// declineWindow is how soon after this server answered a MAC its DECLINE
// is believed: a client declines right after the ACK, once its ARP probe
// finds the address in use (RFC 2131 §4.4.1); a forged DECLINE at any other
// time is ignored.
const declineWindow = time.Minute

// Config is one macpin stanza, parsed.
type Config struct {
	Store            string        // store DSN: a file path or sqlite:PATH
	Ranges           []Range       // the positional range first, then range= options
	LeaseTime        time.Duration // option 51; renewal (58) and rebinding (59) derive from it
	Reservations     []Reservation // reserve= options, then reservations= files, in order
	MaxPending       int           // maxpending=N
	FlushInterval    time.Duration // how often last-seen/facts updates are written
	PollInterval     time.Duration // how often admin changes (rpinetctl) are looked for
	ReservationFiles []string      // reservations= paths, for logs
	// NetbootOnly (pin=netboot) pins new MACs only for netboot clients;
	// other unknown MACs are left to the next plugin of the chain.
	NetbootOnly bool
	// ReclaimAfter (reclaim-after=): when the pool is full, the least
	// recently seen learned pin idle longer than this is taken over by a new
	// MAC. 0 never reclaims. Reservations and admin pins are never taken.
	ReclaimAfter time.Duration
	// DeclineProbation (decline-probation=): how long an address a client
	// DECLINEd stays out of the pool before it returns by itself.
	DeclineProbation time.Duration
	// DeclineBudget (decline-budget=): DECLINEs one MAC may make within a
	// probation period; further ones are ignored.
	DeclineBudget int
	// OnNew receives one event per new pin (on-new=, on-new-url=); nil
	// when neither is configured. Its workers start with the first event.
	OnNew *events.Notifier
}

// Range is an inclusive span of IPv4 addresses the pool hands out.
type Range = args.Range

// Reservation is a static MAC→IP pin from the stanza; it wins over the pool.
type Reservation struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string
}

// ParseArgs turns the white-space split stanza arguments into a Config. Each
// error names the plugin, the offending argument and what was expected. It
// reads reservation files but opens nothing else, so `rpinetctl config
// check` runs it.
func ParseArgs(a ...string) (Config, error) {
	cfg := Config{MaxPending: defaultMaxPending, FlushInterval: 2 * time.Second, PollInterval: time.Second,
		ReclaimAfter: defaultReclaimAfter, DeclineProbation: defaultDeclineProbation, DeclineBudget: defaultDeclineBudget}
	var first, last netip.Addr
	var ev events.Config
	spec := args.Spec{
		Plugin: "macpin",
		Positional: []args.Positional{
			{Name: "store", Redact: store.Redact, Set: func(v string) error {
				cfg.Store = v
				if store.IsPostgresDSN(v) {
					return store.CheckPostgresDSN(v)
				}
				return nil
			}},
			{Name: "first-ip", Set: func(v string) (err error) { first, err = args.IPv4(v); return err }},
			{Name: "last-ip", Set: func(v string) error {
				var err error
				if last, err = args.IPv4(v); err != nil {
					return err
				}
				r, err := args.NewRange(first, last)
				cfg.Ranges = append(cfg.Ranges, r)
				return err
			}},
			{Name: "lease-time", Set: func(v string) (err error) {
				cfg.LeaseTime, err = args.Duration(v, time.Second, (math.MaxUint32-1)*time.Second)
				return err
			}},
		},
		Options: []args.Option{
			{Key: "range", Value: "FIRST-LAST", Set: func(v string) error {
				r, err := args.ParseRange(v)
				cfg.Ranges = append(cfg.Ranges, r)
				return err
			}},
			{Key: "reserve", Value: "MAC=IP[=HOSTNAME]", Set: func(v string) error {
				r, err := parseReserve(v)
				cfg.Reservations = append(cfg.Reservations, r)
				return err
			}},
			{Key: "reservations", Value: "FILE", Set: func(v string) error {
				rs, err := ReadReservations(v)
				cfg.Reservations = append(cfg.Reservations, rs...)
				cfg.ReservationFiles = append(cfg.ReservationFiles, v)
				return err
			}},
			{Key: "pin", Value: "all|netboot", Once: true, Set: func(v string) error {
				mode, err := args.OneOf(v, "all", "netboot")
				cfg.NetbootOnly = mode == "netboot"
				return err
			}},
			{Key: "maxpending", Value: "N", Once: true, Set: func(v string) (err error) {
				cfg.MaxPending, err = args.Int(v, 1, 1<<20)
				return err
			}},
			{Key: "reclaim-after", Value: "DURATION|never", Once: true, Set: func(v string) (err error) {
				if v == "never" {
					cfg.ReclaimAfter = 0
					return nil
				}
				cfg.ReclaimAfter, err = args.Duration(v, time.Second, 100*365*24*time.Hour)
				return err
			}},
			{Key: "decline-probation", Value: "DURATION", Once: true, Set: func(v string) (err error) {
				cfg.DeclineProbation, err = args.Duration(v, time.Second, 365*24*time.Hour)
				return err
			}},
			{Key: "decline-budget", Value: "N", Once: true, Set: func(v string) (err error) {
				cfg.DeclineBudget, err = args.Int(v, 0, 1000)
				return err
			}},
		},
		Fallback:      func(arg string) (bool, error) { return events.ParseArg(&ev, arg) },
		FallbackUsage: events.Usage,
	}
	if err := spec.Parse(a); err != nil {
		return cfg, err
	}
	if err := cfg.check(); err != nil {
		return cfg, fmt.Errorf("macpin: %w", err)
	}
	if ev.Enabled() {
		cfg.OnNew = events.New(ev, log.WithField("source", "macpin"))
	}
	return cfg, nil
}

// check rejects overlapping ranges, an oversized pool and reservations that
// contradict each other.
func (c Config) check() error {
	total := 0
	for i, a := range c.Ranges {
		total += a.Size()
		for _, b := range c.Ranges[:i] {
			if a.Overlaps(b) {
				return fmt.Errorf("range %s overlaps range %s", a, b)
			}
		}
	}
	if total > maxPoolSize {
		return fmt.Errorf("ranges hold %d addresses, more than the %d one stanza supports", total, maxPoolSize)
	}
	byMAC := map[string]netip.Addr{}
	byIP := map[netip.Addr]string{}
	for _, r := range c.Reservations {
		m := r.MAC.String()
		if ip, ok := byMAC[m]; ok && ip != r.IP {
			return fmt.Errorf("reservation %s=%s: MAC already reserved %s", m, r.IP, ip)
		}
		if other, ok := byIP[r.IP]; ok && other != m {
			return fmt.Errorf("reservation %s=%s: IP already reserved for %s", m, r.IP, other)
		}
		byMAC[m], byIP[r.IP] = r.IP, m
	}
	return nil
}

func parseReserve(s string) (Reservation, error) {
	parts := strings.Split(s, "=")
	if len(parts) < 2 || len(parts) > 3 {
		return Reservation{}, fmt.Errorf("want MAC=IP or MAC=IP=HOSTNAME")
	}
	return newReservation(parts[0], parts[1], parts[2:]...)
}

func newReservation(macS, ipS string, host ...string) (Reservation, error) {
	m, err := args.MAC(macS)
	if err != nil {
		return Reservation{}, err
	}
	ip, err := args.IPv4(ipS)
	if err != nil {
		return Reservation{}, err
	}
	r := Reservation{MAC: m, IP: ip}
	if len(host) > 0 {
		if !args.ValidHostname(host[0]) {
			return Reservation{}, fmt.Errorf("hostname %q: want an RFC 1123 host name (letters, digits, '-' between dot-separated labels, at most 253 characters)", host[0])
		}
		r.Hostname = host[0]
	}
	return r, nil
}

// ReadReservations reads a reservations file: one `MAC IP [HOSTNAME]` per
// line, '#' starts a comment, blank lines are skipped.
func ReadReservations(path string) ([]Reservation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read reservations: %w", err)
	}
	rs, err := ParseReservations(data)
	if err != nil {
		return nil, fmt.Errorf("reservations %s: %w", path, err)
	}
	return rs, nil
}

// ParseReservations parses the text of a reservations file.
func ParseReservations(data []byte) ([]Reservation, error) {
	var out []Reservation
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 64*1024)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		if len(f) > 3 {
			return nil, fmt.Errorf("line %d: %d fields, want MAC IP [HOSTNAME]", line, len(f))
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: want MAC IP [HOSTNAME]", line)
		}
		r, err := newReservation(f[0], f[1], f[2:]...)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line too long or unreadable: %w", err)
	}
	return out, nil
}
