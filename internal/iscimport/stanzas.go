package iscimport

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// DefaultLeaseTime is used when dhcpd.conf sets no default-lease-time (dhcpd's own default is 12h).
const DefaultLeaseTime = 12 * time.Hour

// Primary picks the subnet the coredhcp stanzas describe: the one holding
// the server identifier or next-server, else the first with a range.
func (c *Config) Primary() (Subnet, bool) {
	if len(c.Subnets) == 0 {
		return Subnet{}, false
	}
	for _, s := range c.Subnets {
		if id := serverAddr(s.Params); id.IsValid() && s.Contains(id) {
			return s, true
		}
	}
	for _, s := range c.Subnets {
		if len(s.Ranges) > 0 {
			return s, true
		}
	}
	return c.Subnets[0], true
}

// serverAddr is the address the ISC setup names for this server.
func serverAddr(p Params) netip.Addr {
	if p.ServerID.IsValid() {
		return p.ServerID
	}
	if ip, err := parseIPv4(p.NextServer); err == nil {
		return ip
	}
	return netip.Addr{}
}

// RPiClass returns the class that gives the Raspberry Pi boot answer, if any.
func (c *Config) RPiClass() (Class, bool) {
	for _, cl := range c.Classes {
		if cl.RPiBoot() {
			return cl, true
		}
	}
	return Class{}, false
}

// Stanzas renders the coredhcp `server4:` section equivalent to the parsed
// dhcpd.conf; storeDSN is macpin's store argument. Everything coredhcp cannot
// express in one server4 section (per-subnet routers of secondary subnets,
// max-lease-time) is written as a comment so nothing is silently lost.
func (c *Config) Stanzas(storeDSN string) string {
	var b strings.Builder
	pr, ok := c.Primary()
	if !ok {
		b.WriteString("# dhcpd.conf declares no subnet: nothing to configure.\n")
		return b.String()
	}
	p := pr.Params
	b.WriteString("server4:\n")
	b.WriteString("  listen:\n")
	b.WriteString("    - \"%eth0\"                      # EDIT: the interface facing the boards\n")
	b.WriteString("  plugins:\n")
	if id := serverAddr(p); id.IsValid() {
		fmt.Fprintf(&b, "    - server_id: %s\n", id)
	} else {
		fmt.Fprintf(&b, "    - server_id: %s                 # EDIT: dhcpd.conf names no server address; this server's address in %s\n", pr.Prefix.Masked().Addr().Next(), pr.Prefix)
	}
	mask := pr.Netmask
	if p.SubnetMask.IsValid() {
		mask = p.SubnetMask
	}
	fmt.Fprintf(&b, "    - netmask: %s\n", mask)
	if len(p.Routers) > 0 {
		fmt.Fprintf(&b, "    - router: %s\n", joinAddrsSpace(p.Routers))
	}
	if len(p.DNS) > 0 {
		fmt.Fprintf(&b, "    - dns: %s\n", joinAddrsSpace(p.DNS))
	}
	lease := p.DefaultLease
	if lease == 0 {
		lease = DefaultLeaseTime
	}
	fmt.Fprintf(&b, "    - lease_time: %s\n", duration(lease))
	if p.MaxLease != 0 {
		fmt.Fprintf(&b, "    # max-lease-time %d has no equivalent: clients get lease_time.\n", int(p.MaxLease.Seconds()))
	}
	if cl, ok := c.RPiClass(); ok {
		fmt.Fprintf(&b, "    # from class %q (line %d)", cl.Name, cl.Line)
		if cl.Match != "" {
			b.WriteString("; its match rule is replaced by rpipxe's OUI list and PXEClient check")
		}
		b.WriteString("\n")
		switch {
		case cl.VendorEncapsulatedString && strings.HasSuffix(cl.VendorEncapsulated, "Boot   "):
			// Old Pi 3 firmware compared against the text with three trailing spaces.
			b.WriteString("    - rpipxe: form=string3\n")
		case cl.VendorEncapsulatedString:
			b.WriteString("    - rpipxe: form=string\n")
		default:
			b.WriteString("    - rpipxe:\n")
		}
	}
	if p.Filename != "" || p.NextServer != "" {
		fmt.Fprintf(&b, "    # dhcpd.conf sets filename %q and next-server %q: put them in models.yml\n", p.Filename, p.NextServer)
		b.WriteString("    # (default.bootfile, default.tftp_server) and enable modelboot:\n")
		b.WriteString("    # - modelboot: /etc/rpinetboot/models.yml\n")
	}
	var extra []string
	var primary *Range
	for _, s := range c.Subnets {
		for i := range s.Ranges {
			r := s.Ranges[i]
			if primary == nil && s.Prefix == pr.Prefix {
				primary = &r
				continue
			}
			extra = append(extra, "range="+r.String())
		}
	}
	if primary == nil && len(extra) > 0 {
		first := strings.TrimPrefix(extra[0], "range=")
		extra = extra[1:]
		f, l, _ := strings.Cut(first, "-")
		primary = &Range{First: netip.MustParseAddr(f), Last: netip.MustParseAddr(l)}
	}
	if primary == nil {
		b.WriteString("    # dhcpd.conf has no dynamic range: macpin needs one for new boards. EDIT and uncomment:\n")
		fmt.Fprintf(&b, "    # - macpin: %s FIRST LAST %s\n", storeDSN, duration(lease))
	} else {
		fmt.Fprintf(&b, "    - macpin: %s %s %s %s", storeDSN, primary.First, primary.Last, duration(lease))
		for _, e := range extra {
			b.WriteString(" " + e)
		}
		b.WriteString("\n")
	}
	for _, s := range c.Subnets {
		if s.Prefix == pr.Prefix {
			continue
		}
		fmt.Fprintf(&b, "# subnet %s (line %d): netmask %s", s.Prefix, s.Line, s.Netmask)
		if len(s.Params.Routers) > 0 {
			fmt.Fprintf(&b, ", routers %s", joinAddrsSpace(s.Params.Routers))
		}
		if len(s.Params.DNS) > 0 {
			fmt.Fprintf(&b, ", dns %s", joinAddrsSpace(s.Params.DNS))
		}
		b.WriteString(": one server4 section answers with the stanzas above;\n")
		b.WriteString("#   serve this subnet from its own coredhcp instance if its options differ.\n")
	}
	return b.String()
}

func joinAddrsSpace(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, " ")
}

// duration prints whole hours or minutes the way an admin writes them (1h, 10m, 90s).
func duration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}
