// Package iscimport reads an existing ISC dhcpd setup (dhcpd.conf and
// dhcpd.leases) and turns it into rpinetboot pins and coredhcp stanzas, so
// `rpinetctl import-isc` can replace isc-dhcpd without renumbering a board.
package iscimport

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Warning is a statement that was not imported; the import goes on without it.
type Warning struct {
	File string
	Line int
	Msg  string
}

// String renders the warning as file:line: message, like a compiler.
func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

// Range is one dynamic address range (inclusive).
type Range struct {
	First, Last netip.Addr
}

// String renders the range as FIRST-LAST, the form macpin's range= takes.
func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// Params are the options that coredhcp stanzas can carry; a subnet inherits
// them from its shared-network and the global scope.
type Params struct {
	Routers      []netip.Addr
	DNS          []netip.Addr
	SubnetMask   netip.Addr
	DefaultLease time.Duration
	MaxLease     time.Duration
	NextServer   string // an address or a name, as written
	Filename     string
	ServerID     netip.Addr
	DomainName   string
}

// merge fills p's unset fields from outer.
func (p Params) merge(outer Params) Params {
	if p.Routers == nil {
		p.Routers = outer.Routers
	}
	if p.DNS == nil {
		p.DNS = outer.DNS
	}
	if !p.SubnetMask.IsValid() {
		p.SubnetMask = outer.SubnetMask
	}
	if p.DefaultLease == 0 {
		p.DefaultLease = outer.DefaultLease
	}
	if p.MaxLease == 0 {
		p.MaxLease = outer.MaxLease
	}
	if p.NextServer == "" {
		p.NextServer = outer.NextServer
	}
	if p.Filename == "" {
		p.Filename = outer.Filename
	}
	if !p.ServerID.IsValid() {
		p.ServerID = outer.ServerID
	}
	if p.DomainName == "" {
		p.DomainName = outer.DomainName
	}
	return p
}

// Subnet is one `subnet A netmask M { ... }` with its inherited parameters.
type Subnet struct {
	Prefix        netip.Prefix
	Netmask       netip.Addr
	Ranges        []Range
	Params        Params // effective: subnet over shared-network over global
	SharedNetwork string
	Line          int
}

// Contains reports whether ip is inside the subnet.
func (s Subnet) Contains(ip netip.Addr) bool { return s.Prefix.Contains(ip) }

// Host is a `host NAME { hardware ethernet MAC; fixed-address IP; }` reservation.
type Host struct {
	Name     string
	MAC      net.HardwareAddr // nil when the host has no hardware ethernet
	IPs      []netip.Addr     // fixed-address values (usually one)
	Hostname string           // option host-name, else the declaration name
	Line     int
}

// Class is a `class "NAME" { ... }` declaration; only what matters for the
// Raspberry Pi answer is kept.
type Class struct {
	Name string
	// VendorClass is the `option vendor-class-identifier` the class answers with.
	VendorClass string
	// VendorEncapsulated is option 43 as written; VendorEncapsulatedString
	// tells the quoted-string form ("Raspberry Pi Boot") from hex bytes.
	VendorEncapsulated       string
	VendorEncapsulatedString bool
	Match                    string // the match statement, as text
	Line                     int
}

// RPiBoot reports whether the class gives the Raspberry Pi ROM its boot answer.
func (c Class) RPiBoot() bool {
	return strings.EqualFold(c.Name, "rpi-pxe") || strings.Contains(c.VendorEncapsulated, "Raspberry Pi Boot")
}

// Config is what was understood of a dhcpd.conf.
type Config struct {
	File     string
	Global   Params
	Subnets  []Subnet
	Hosts    []Host
	Classes  []Class
	Warnings []Warning
}

// SubnetOf returns the subnet holding ip.
func (c *Config) SubnetOf(ip netip.Addr) (Subnet, bool) {
	for _, s := range c.Subnets {
		if s.Contains(ip) {
			return s, true
		}
	}
	return Subnet{}, false
}

// ParseConf parses a dhcpd.conf. Syntax errors (unbalanced braces, a subnet
// whose number and mask disagree, a fixed-address that is a host name) fail;
// statements that have no rpinetboot meaning are skipped with a Warning.
