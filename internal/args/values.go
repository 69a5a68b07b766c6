package args

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// IPv4 parses a dotted-quad IPv4 address.
func IPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a, nil
}

// IPv4List parses a comma-separated list of IPv4 addresses.
func IPv4List(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range strings.Split(s, ",") {
		a, err := IPv4(f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Prefix parses an IPv4 network in CIDR form (10.20.2.0/24); host bits must be zero.
func Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 network like 10.20.2.0/24", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; the network is %s", s, p.Masked())
	}
	return p, nil
}

// Range is an inclusive span of IPv4 addresses.
type Range struct{ First, Last netip.Addr }

// Size is the number of addresses in r.
func (r Range) Size() int { return int(U32(r.Last)-U32(r.First)) + 1 }

// Contains reports whether a lies within r.
func (r Range) Contains(a netip.Addr) bool {
	return a.Is4() && U32(r.First) <= U32(a) && U32(a) <= U32(r.Last)
}

// Overlaps reports whether r and o share an address.
func (r Range) Overlaps(o Range) bool {
	return !(U32(r.Last) < U32(o.First) || U32(o.Last) < U32(r.First))
}

func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// NewRange checks first <= last and returns the range.
func NewRange(first, last netip.Addr) (Range, error) {
	if !first.Is4() || !last.Is4() {
		return Range{}, fmt.Errorf("range %s-%s: want IPv4 addresses", first, last)
	}
	if last.Less(first) {
		return Range{}, fmt.Errorf("range %s-%s: the last address is below the first", first, last)
	}
	return Range{first, last}, nil
}

// ParseRange parses FIRST-LAST (192.168.50.10-192.168.50.20).
func ParseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, fmt.Errorf("no '-' between the two addresses")
	}
	first, err := IPv4(a)
	if err != nil {
		return Range{}, fmt.Errorf("first address: %v", err)
	}
	last, err := IPv4(b)
	if err != nil {
		return Range{}, fmt.Errorf("last address: %v", err)
	}
	return NewRange(first, last)
}

// U32 is a's IPv4 address as a number (0 for a non-IPv4 address).
func U32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// FromU32 is the IPv4 address numbered v.
func FromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// MAC parses a 6-byte Ethernet address in any form net.ParseMAC knows
// (dc:a6:32:01:02:03, DC-A6-32-01-02-03, dca6.3201.0203) and in the form
// ISC dhcpd writes, with single-digit bytes (b8:27:eb:1:2:3).
func MAC(s string) (net.HardwareAddr, error) {
	if m, err := net.ParseMAC(s); err == nil {
		if len(m) != 6 {
			return nil, fmt.Errorf("MAC %q is not a 6-byte Ethernet address like dc:a6:32:01:02:03", s)
		}
		return m, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return nil, fmt.Errorf("MAC %q is not a 6-byte Ethernet address like dc:a6:32:01:02:03", s)
	}
	m := make(net.HardwareAddr, 6)
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) == 0 || len(p) > 2 {
			return nil, fmt.Errorf("MAC %q is not a 6-byte Ethernet address like dc:a6:32:01:02:03", s)
		}
		m[i] = byte(v)
	}
	return m, nil
}

// OUI parses one `aa:bb:cc` manufacturer prefix (also `aa-bb-cc`, any case).
func OUI(s string) (net.HardwareAddr, error) {
	bad := fmt.Errorf("OUI %q: want three hex bytes like b8:27:eb", s)
	if len(s) != 8 || (s[2] != ':' && s[2] != '-') || s[5] != s[2] {
		return nil, bad
	}
	o := make(net.HardwareAddr, 3)
	for i := range o {
		v, err := strconv.ParseUint(s[3*i:3*i+2], 16, 8)
		if err != nil {
			return nil, bad
		}
		o[i] = byte(v)
	}
	return o, nil
}

// Duration parses a Go duration (30s, 1h, 24h) within [lo, hi].
func Duration(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 30s or 1h", s)
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%s is outside %s..%s", d, lo, hi)
	}
	return d, nil
}

// Int parses a decimal integer within [lo, hi].
func Int(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside %d..%d", n, lo, hi)
	}
	return n, nil
}

// Bool parses yes/no, true/false, on/off.
func Bool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "on":
		return true, nil
	case "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q: want yes or no", s)
}

// OneOf returns s if it is one of choices.
func OneOf(s string, choices ...string) (string, error) {
	for _, c := range choices {
		if s == c {
			return s, nil
		}
	}
	return "", fmt.Errorf("%q: want one of %s", s, strings.Join(choices, ", "))
}

// ValidHostname reports whether h is a host name by RFC 1123: dot-separated
// labels of 1 to 63 letters, digits and hyphens, not starting or ending
// with a hyphen, 253 characters at most. Anything a client sends as its
// name passes this test before it is stored or shown, so it can never carry
// a newline, a quote, a shell or U-Boot metacharacter or a terminal escape.
func ValidHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ListenAddr refuses an address for an HTTP listener (metrics, health) that
// is not host:port, names a host by name, or, unless allowRemote, can be
// reached from another machine: a boot network is a lab network anybody
// can plug into.
func ListenAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: want host:port such as 127.0.0.1:9467", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port %q: want a number between 1 and 65535", addr, port)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if host != "" && ip == nil {
		return fmt.Errorf("address %q: host %q: want an IP address or localhost, not a name", addr, host)
	}
	if (ip == nil || !ip.IsLoopback()) && !allowRemote {
		return fmt.Errorf("address %q: not a loopback address; metrics and health are readable by anyone who reaches it, add allow-remote to mean it", addr)
	}
	return nil
}
