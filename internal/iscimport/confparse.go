package iscimport

// The dhcpd.conf reader: statements to Config, warnings for what is left out.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/args"
)

func ParseConf(src []byte, file string) (*Config, error) {
	tree, err := parseTree(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c := &Config{File: file}
	var global Params
	if err := c.scope(tree, &global, "", true); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c.Global = global
	// Inherit from the global scope now that all of it is known: ISC applies
	// global parameters to a subnet even when they come after it.
	for i := range c.Subnets {
		c.Subnets[i].Params = c.Subnets[i].Params.merge(global)
	}
	return c, nil
}

func (c *Config) warn(line int, format string, a ...any) {
	c.Warnings = append(c.Warnings, Warning{File: c.File, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// scope interprets the statements of one scope (global, shared-network,
// group, subnet or pool) into p, and declarations into c.
func (c *Config) scope(stmts []stmt, p *Params, shared string, subnetsAllowed bool) error {
	for _, s := range stmts {
		handled, err := c.param(s, p)
		if err != nil {
			return err
		}
		if handled {
			continue
		}
		switch {
		case s.keyword(0, "subnet") && s.isBlk:
			if !subnetsAllowed {
				return fmt.Errorf("line %d: subnet declared inside another subnet", s.line)
			}
			if err := c.subnet(s, shared); err != nil {
				return err
			}
		case s.keyword(0, "shared-network") && s.isBlk:
			// Its parameters may follow its subnets, so merge once all is read.
			var sp Params
			before := len(c.Subnets)
			if err := c.scope(s.block, &sp, s.word(1), true); err != nil {
				return err
			}
			for i := before; i < len(c.Subnets); i++ {
				c.Subnets[i].Params = c.Subnets[i].Params.merge(sp)
			}
		case s.keyword(0, "group") && s.isBlk:
			// Group parameters apply to the hosts and subnets inside; for
			// subnets, merge them like a shared-network.
			var gp Params
			before := len(c.Subnets)
			if err := c.scope(s.block, &gp, shared, subnetsAllowed); err != nil {
				return err
			}
			for i := before; i < len(c.Subnets); i++ {
				c.Subnets[i].Params = c.Subnets[i].Params.merge(gp)
			}
		case s.keyword(0, "host") && s.isBlk:
			if err := c.host(s); err != nil {
				return err
			}
		case s.keyword(0, "class") && s.isBlk:
			c.class(s)
		case s.keyword(0, "include"):
			c.warn(s.line, "not imported: %s: included files are not read; merge them into this file and import again", s.text())
		case s.keyword(0, "subclass"):
			c.warn(s.line, "not imported: %s (classes other than the Raspberry Pi boot answer have no rpinetboot equivalent)", s.text())
		default:
			c.warn(s.line, "not imported: %s", s.text())
		}
	}
	return nil
}

// param handles the parameter statements shared by every scope.
func (c *Config) param(s stmt, p *Params) (bool, error) {
	if s.isBlk {
		return false, nil
	}
	switch {
	case s.keyword(0, "option") && len(s.toks) >= 2:
		name := strings.ToLower(s.word(1))
		vals := values(s.toks[2:])
		switch name {
		case "routers":
			ips, err := addrList(s, vals)
			if err != nil {
				return true, err
			}
			p.Routers = ips
		case "domain-name-servers":
			ips, err := addrList(s, vals)
			if err != nil {
				return true, err
			}
			p.DNS = ips
		case "subnet-mask":
			ips, err := addrList(s, vals)
			if err != nil {
				return true, err
			}
			if len(ips) != 1 {
				return true, fmt.Errorf("line %d: option subnet-mask wants one address", s.line)
			}
			p.SubnetMask = ips[0]
		case "dhcp-server-identifier":
			ips, err := addrList(s, vals)
			if err == nil && len(ips) == 1 {
				p.ServerID = ips[0]
			} else {
				c.warn(s.line, "not imported: %s (not one IPv4 address)", s.text())
			}
		case "domain-name":
			if len(vals) > 0 {
				p.DomainName = vals[0]
			}
		default:
			c.warn(s.line, "not imported: %s", s.text())
		}
		return true, nil
	case s.keyword(0, "default-lease-time"), s.keyword(0, "max-lease-time"):
		if len(s.toks) != 2 {
			return true, fmt.Errorf("line %d: %s wants one number of seconds", s.line, s.word(0))
		}
		n, err := strconv.ParseUint(s.word(1), 10, 32)
		if err != nil {
			return true, fmt.Errorf("line %d: %s %q: want a number of seconds", s.line, s.word(0), s.word(1))
		}
		if s.keyword(0, "default-lease-time") {
			p.DefaultLease = time.Duration(n) * time.Second
		} else {
			p.MaxLease = time.Duration(n) * time.Second
		}
		return true, nil
	case s.keyword(0, "next-server") && len(s.toks) == 2:
		p.NextServer = s.word(1)
		return true, nil
	case s.keyword(0, "filename") && len(s.toks) == 2:
		p.Filename = s.word(1)
		return true, nil
	case s.keyword(0, "server-identifier") && len(s.toks) == 2:
		if ip, err := parseIPv4(s.word(1)); err == nil {
			p.ServerID = ip
		} else {
			c.warn(s.line, "not imported: %s (not an IPv4 address)", s.text())
		}
		return true, nil
	}
	return false, nil
}

// values drops the commas of a comma-separated option value.
func values(toks []token) []string {
	var out []string
	for _, t := range toks {
		if t.text == "," && !t.quoted {
			continue
		}
		out = append(out, t.text)
	}
	return out
}

func addrList(s stmt, vals []string) ([]netip.Addr, error) {
	if len(vals) == 0 {
		return nil, fmt.Errorf("line %d: option %s has no value", s.line, s.word(1))
	}
	out := make([]netip.Addr, 0, len(vals))
	for _, v := range vals {
		ip, err := parseIPv4(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: option %s: %q is not an IPv4 address (host names are not resolved on import)", s.line, s.word(1), v)
		}
		out = append(out, ip)
	}
	return out, nil
}

// parseIPv4 reads a dotted-quad IPv4 address.
func parseIPv4(s string) (netip.Addr, error) { return args.IPv4(s) }

// subnet reads `subnet A netmask M { ... }` and the pools and ranges inside.
func (c *Config) subnet(s stmt, shared string) error {
	if len(s.toks) != 4 || !s.keyword(2, "netmask") {
		return fmt.Errorf("line %d: %q: want `subnet ADDRESS netmask MASK {`", s.line, s.text())
	}
	addr, err := parseIPv4(s.word(1))
	if err != nil {
		return fmt.Errorf("line %d: subnet %q: not an IPv4 address", s.line, s.word(1))
	}
	mask, err := parseIPv4(s.word(3))
	if err != nil {
		return fmt.Errorf("line %d: netmask %q: not an IPv4 address", s.line, s.word(3))
	}
	m4 := mask.As4()
	ones, bits := net.IPMask(m4[:]).Size()
	if bits == 0 {
		return fmt.Errorf("line %d: netmask %s is not contiguous", s.line, mask)
	}
	pfx := netip.PrefixFrom(addr, ones)
	if pfx.Masked().Addr() != addr {
		return fmt.Errorf("line %d: subnet %s netmask %s: the address has host bits set (did you mean %s?)", s.line, addr, mask, pfx.Masked().Addr())
	}
	sn := Subnet{Prefix: pfx, Netmask: mask, SharedNetwork: shared, Line: s.line}
	var sp Params
	if err := c.subnetBody(s.block, &sn, &sp, 0); err != nil {
		return err
	}
	sn.Params = sp
	c.Subnets = append(c.Subnets, sn)
	return nil
}

// subnetBody reads a subnet's or pool's statements.
func (c *Config) subnetBody(stmts []stmt, sn *Subnet, p *Params, depth int) error {
	for _, s := range stmts {
		handled, err := c.param(s, p)
		if err != nil {
			return err
		}
		if handled {
			continue
		}
		switch {
		case s.keyword(0, "range") && !s.isBlk:
			r, err := parseRange(s, sn.Prefix)
			if err != nil {
				return err
			}
			sn.Ranges = append(sn.Ranges, r)
		case s.keyword(0, "pool") && s.isBlk && depth == 0:
			// Pool parameters (allow/deny) have no equivalent; its ranges belong to the subnet.
			var pp Params
			if err := c.subnetBody(s.block, sn, &pp, depth+1); err != nil {
				return err
			}
		case s.keyword(0, "host") && s.isBlk:
			if err := c.host(s); err != nil {
				return err
			}
		case s.keyword(0, "subnet"):
			return fmt.Errorf("line %d: subnet declared inside another subnet", s.line)
		default:
			c.warn(s.line, "not imported: %s", s.text())
		}
	}
	return nil
}

// parseRange reads `range [dynamic-bootp] A [B];`.
func parseRange(s stmt, pfx netip.Prefix) (Range, error) {
	args := s.toks[1:]
	if len(args) > 0 && strings.EqualFold(args[0].text, "dynamic-bootp") {
		args = args[1:]
	}
	if len(args) < 1 || len(args) > 2 {
		return Range{}, fmt.Errorf("line %d: %q: want `range FIRST LAST;`", s.line, s.text())
	}
	first, err := parseIPv4(args[0].text)
	if err != nil {
		return Range{}, fmt.Errorf("line %d: range start %q: not an IPv4 address", s.line, args[0].text)
	}
	last := first
	if len(args) == 2 {
		if last, err = parseIPv4(args[1].text); err != nil {
			return Range{}, fmt.Errorf("line %d: range end %q: not an IPv4 address", s.line, args[1].text)
		}
	}
	if last.Less(first) {
		first, last = last, first // ISC accepts a range written backwards
	}
	if !pfx.Contains(first) || !pfx.Contains(last) {
		return Range{}, fmt.Errorf("line %d: range %s-%s is not inside subnet %s", s.line, first, last, pfx)
	}
	return Range{First: first, Last: last}, nil
}

// host reads a host declaration.
func (c *Config) host(s stmt) error {
	h := Host{Name: s.word(1), Line: s.line}
	if len(s.toks) != 2 {
		return fmt.Errorf("line %d: %q: want `host NAME {`", s.line, s.text())
	}
	for _, b := range s.block {
		switch {
		case b.keyword(0, "hardware") && !b.isBlk:
			if !b.keyword(1, "ethernet") || len(b.toks) != 3 {
				c.warn(b.line, "host %s: not imported: %s (only `hardware ethernet MAC` is)", h.Name, b.text())
				continue
			}
			mac, err := args.MAC(b.word(2))
			if err != nil {
				return fmt.Errorf("line %d: host %s: hardware ethernet %q: %w", b.line, h.Name, b.word(2), err)
			}
			h.MAC = mac
		case b.keyword(0, "fixed-address") && !b.isBlk:
			for _, v := range values(b.toks[1:]) {
				ip, err := parseIPv4(v)
				if err != nil {
					return fmt.Errorf("line %d: host %s: fixed-address %q is a host name or not IPv4; write the address so the pin is unambiguous", b.line, h.Name, v)
				}
				h.IPs = append(h.IPs, ip)
			}
			if len(h.IPs) == 0 {
				return fmt.Errorf("line %d: host %s: fixed-address has no value", b.line, h.Name)
			}
		case b.keyword(0, "option") && strings.EqualFold(b.word(1), "host-name") && len(b.toks) == 3:
			h.Hostname = b.word(2)
		default:
			c.warn(b.line, "host %s: not imported: %s", h.Name, b.text())
		}
	}
	if h.Hostname == "" {
		h.Hostname = h.Name
	}
	c.Hosts = append(c.Hosts, h)
	return nil
}

// class keeps what a class answers; its match expression is only recorded.
func (c *Config) class(s stmt) {
	cl := Class{Name: s.word(1), Line: s.line}
	for _, b := range s.block {
		switch {
		case b.keyword(0, "match"):
			cl.Match = b.text()
		case b.keyword(0, "option") && strings.EqualFold(b.word(1), "vendor-class-identifier") && len(b.toks) == 3:
			cl.VendorClass = b.word(2)
		case b.keyword(0, "option") && strings.EqualFold(b.word(1), "vendor-encapsulated-options") && len(b.toks) >= 3:
			cl.VendorEncapsulated = b.word(2)
			cl.VendorEncapsulatedString = b.toks[2].quoted
			if !cl.VendorEncapsulatedString {
				cl.VendorEncapsulated = decodeHexOption(values(b.toks[2:]))
			}
		default:
			c.warn(b.line, "class %s: not imported: %s", cl.Name, b.text())
		}
	}
	c.Classes = append(c.Classes, cl)
}

// decodeHexOption turns `06:01:03:...` into its bytes (as a string) so the
// menu text can be found in the encapsulated form too; other forms are kept as written.
func decodeHexOption(vals []string) string {
	joined := strings.Join(vals, "")
	var out []byte
	for _, part := range strings.Split(joined, ":") {
		v, err := strconv.ParseUint(part, 16, 8)
		if err != nil || part == "" {
			return joined
		}
		out = append(out, byte(v))
	}
	return string(out)
}
