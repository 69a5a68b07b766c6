package iscimport

import (
	"testing"
	"time"
)

// FuzzParseConf feeds arbitrary dhcpd.conf text through the whole import:
// parsing, planning and stanza rendering must return an error or a result,
// never panic or hang.
func FuzzParseConf(f *testing.F) {
	f.Add([]byte("subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; host a { hardware ethernet 1:2:3:4:5:6; fixed-address 10.0.0.5; } }"))
	f.Add([]byte(`class "rpi-pxe" { match if (option vendor-class-identifier = "PXEClient"); option vendor-encapsulated-options "Raspberry Pi Boot"; }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := ParseConf(src, "fuzz.conf")
		if err != nil {
			return
		}
		_ = c.Stanzas("nodes.db")
		p, err := NewPlan(c, nil, time.Unix(0, 0))
		if err != nil {
			return
		}
		for _, pin := range p.Pins {
			if !pin.Node.IP.Is4() || len(pin.Node.MAC) != 6 {
				t.Fatalf("pin %v %v is not an IPv4/Ethernet pair", pin.Node.MAC, pin.Node.IP)
			}
			if _, ok := c.SubnetOf(pin.Node.IP); !ok {
				t.Fatalf("pin %v outside every subnet", pin.Node.IP)
			}
		}
	})
}

// FuzzParseLeases does the same for dhcpd.leases text.
func FuzzParseLeases(f *testing.F) {
	f.Add([]byte("lease 10.0.0.9 { starts 5 2026/11/20 10:00:00; binding state active; hardware ethernet 1:2:3:4:5:6; client-hostname \"a\\001b\"; }"))
	f.Add([]byte("authoring-byte-order little-endian;\nlease 10.0.0.9 { ends never; binding state free; }"))
	conf, err := ParseConf([]byte("subnet 10.0.0.0 netmask 255.0.0.0 { range 10.0.0.10 10.0.0.20; }"), "c")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		l, err := ParseLeases(src, "fuzz.leases")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range l.Entries {
			if seen[e.IP.String()] {
				t.Fatalf("address %v returned twice", e.IP)
			}
			seen[e.IP.String()] = true
		}
		p, err := NewPlan(conf, l, time.Unix(0, 0))
		if err != nil {
			return
		}
		macs := map[string]bool{}
		for _, pin := range p.Pins {
			if macs[pin.Node.MAC.String()] {
				t.Fatalf("MAC %v pinned twice", pin.Node.MAC)
			}
			macs[pin.Node.MAC.String()] = true
		}
	})
}
