package macpin

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/events"
)

// maxPoolSize caps the addresses one stanza may manage (the free-address
// bitmap costs one bit each): a /12 is more than any boot network needs.
const maxPoolSize = 1 << 20

// defaultMaxPending is how many handlers may wait on a commit at once; beyond
// it packets are dropped (the board retries) so a flood cannot exhaust memory.
const defaultMaxPending = 4096

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
	// OnNew receives one event per new pin (on-new=, on-new-url=); nil
	// when neither is configured. Its workers start with the first event.
	OnNew *events.Notifier
}

// Range is an inclusive span of IPv4 addresses the pool hands out.
type Range struct{ First, Last netip.Addr }

// Size is the number of addresses in r.
func (r Range) Size() int { return int(u32(r.Last)-u32(r.First)) + 1 }

func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// Reservation is a static MAC→IP pin from the stanza; it wins over the pool.
type Reservation struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string
}

// usage is appended to argument errors so the fix is in the message.
const usage = "usage: macpin: <store> <first-ip> <last-ip> <lease-time> [range=A-B] [reserve=MAC=IP[=HOSTNAME]] [reservations=FILE] [maxpending=N] [pin=all|netboot] [on-new=/path] [on-new-url=URL]"

// ParseArgs turns the white-space split stanza arguments into a Config. Each
// error names the plugin, the offending argument and what was expected.
func ParseArgs(args ...string) (Config, error) {
	cfg := Config{MaxPending: defaultMaxPending, FlushInterval: 2 * time.Second, PollInterval: time.Second}
	if len(args) < 4 {
		return cfg, fmt.Errorf("macpin: got %d argument(s), want at least 4; %s", len(args), usage)
	}
	cfg.Store = args[0]
	first, err := parseIPv4(args[1])
	if err != nil {
		return cfg, fmt.Errorf("macpin: first-ip %q: %v; %s", args[1], err, usage)
	}
	last, err := parseIPv4(args[2])
	if err != nil {
		return cfg, fmt.Errorf("macpin: last-ip %q: %v; %s", args[2], err, usage)
	}
	if last.Less(first) {
		return cfg, fmt.Errorf("macpin: range %s-%s: last-ip is below first-ip", first, last)
	}
	cfg.Ranges = append(cfg.Ranges, Range{first, last})
	cfg.LeaseTime, err = time.ParseDuration(args[3])
	if err != nil || cfg.LeaseTime < time.Second || cfg.LeaseTime.Seconds() > math.MaxUint32-1 {
		return cfg, fmt.Errorf("macpin: lease-time %q: want a Go duration between 1s and 136y, such as 1h or 30m", args[3])
	}
	var ev events.Config
	for _, a := range args[4:] {
		if ok, err := events.ParseArg(&ev, a); ok {
			if err != nil {
				return cfg, fmt.Errorf("macpin: option %w", err)
			}
			continue
		}
		key, val, ok := strings.Cut(a, "=")
		if !ok || val == "" {
			return cfg, fmt.Errorf("macpin: option %q: want key=value; %s", a, usage)
		}
		switch key {
		case "range":
			r, err := parseRange(val)
			if err != nil {
				return cfg, fmt.Errorf("macpin: option %q: %v, want range=FIRST-LAST such as range=192.168.50.10-192.168.50.20", a, err)
			}
			cfg.Ranges = append(cfg.Ranges, r)
		case "reserve":
			r, err := parseReserve(val)
			if err != nil {
				return cfg, fmt.Errorf("macpin: option %q: %v, want reserve=MAC=IP[=HOSTNAME] such as reserve=dc:a6:32:01:02:03=192.168.50.10", a, err)
			}
			cfg.Reservations = append(cfg.Reservations, r)
		case "reservations":
			rs, err := ReadReservations(val)
			if err != nil {
				return cfg, fmt.Errorf("macpin: option %q: %w", a, err)
			}
			cfg.Reservations = append(cfg.Reservations, rs...)
			cfg.ReservationFiles = append(cfg.ReservationFiles, val)
		case "pin":
			switch val {
			case "all":
				cfg.NetbootOnly = false
			case "netboot":
				cfg.NetbootOnly = true
			default:
				return cfg, fmt.Errorf("macpin: option %q: want pin=all (every new MAC, the default) or pin=netboot (Raspberry Pi MACs, PXE and U-Boot clients)", a)
			}
		case "maxpending":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1<<20 {
				return cfg, fmt.Errorf("macpin: option %q: want maxpending=N with N between 1 and 1048576", a)
			}
			cfg.MaxPending = n
		default:
			return cfg, fmt.Errorf("macpin: option %q: unknown option %q; %s", a, key, usage)
		}
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
			if !(u32(a.Last) < u32(b.First) || u32(b.Last) < u32(a.First)) {
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

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("not an IPv4 address")
	}
	return a, nil
}

func parseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, fmt.Errorf("no '-' between the two addresses")
	}
	first, err := parseIPv4(a)
	if err != nil {
		return Range{}, fmt.Errorf("first address %q: %v", a, err)
	}
	last, err := parseIPv4(b)
	if err != nil {
		return Range{}, fmt.Errorf("last address %q: %v", b, err)
	}
	if last.Less(first) {
		return Range{}, fmt.Errorf("last address is below the first")
	}
	return Range{first, last}, nil
}

// parseMAC accepts an Ethernet MAC in any form net.ParseMAC knows.
func parseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("MAC %q is not a 6-byte Ethernet address like dc:a6:32:01:02:03", s)
	}
	return m, nil
}

func parseReserve(s string) (Reservation, error) {
	parts := strings.Split(s, "=")
	if len(parts) < 2 || len(parts) > 3 {
		return Reservation{}, fmt.Errorf("want MAC=IP or MAC=IP=HOSTNAME")
	}
	return newReservation(parts[0], parts[1], parts[2:]...)
}

func newReservation(macS, ipS string, host ...string) (Reservation, error) {
	m, err := parseMAC(macS)
	if err != nil {
		return Reservation{}, err
	}
	ip, err := parseIPv4(ipS)
	if err != nil {
		return Reservation{}, fmt.Errorf("IP %q: %v", ipS, err)
	}
	r := Reservation{MAC: m, IP: ip}
	if len(host) > 0 {
		if !validHostname(host[0]) {
			return Reservation{}, fmt.Errorf("hostname %q: want letters, digits, '-' and '.', at most 253 characters", host[0])
		}
		r.Hostname = host[0]
	}
	return r, nil
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
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

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
