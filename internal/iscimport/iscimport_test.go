package iscimport

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func plan(t *testing.T, conf, leases string) (*Plan, error) {
	t.Helper()
	c, err := ParseConf(mustRead(t, conf), conf)
	if err != nil {
		return nil, err
	}
	var l *Leases
	if leases != "" {
		if l, err = ParseLeases(mustRead(t, leases), leases); err != nil {
			return nil, err
		}
	}
	return NewPlan(c, l, now)
}

func TestImportLab(t *testing.T) {
	p, err := plan(t, "testdata/dhcpd.conf", "testdata/dhcpd.leases")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ mac, ip, host string }{
		{"b8:27:eb:00:00:01", "192.168.50.11", "pi-01"},
		{"dc:a6:32:00:00:02", "192.168.50.12", "rack1-slot2"},
		{"e4:5f:01:00:00:03", "10.20.0.13", "pi-03"},
		{"2c:cf:67:00:02:01", "10.20.1.10", ""},
		{"d8:3a:dd:00:00:99", "192.168.50.100", "pi5-b"},
		{"dc:a6:32:00:01:01", "192.168.50.101", "pi4-a"},
	}
	if len(p.Pins) != len(want) {
		for _, pin := range p.Pins {
			t.Logf("pin %s %s %s", pin.Node.MAC, pin.Node.IP, pin.Origin)
		}
		t.Fatalf("got %d pins, want %d", len(p.Pins), len(want))
	}
	for i, w := range want {
		n := p.Pins[i].Node
		if n.MAC.String() != w.mac || n.IP.String() != w.ip || n.Hostname != w.host || n.Source != store.SourceImport {
			t.Errorf("pin %d = %s %s %q %s, want %s %s %q import", i, n.MAC, n.IP, n.Hostname, n.Source, w.mac, w.ip, w.host)
		}
	}
	if p.Hosts != 3 || p.Leases != 3 {
		t.Errorf("hosts/leases = %d/%d, want 3/3", p.Hosts, p.Leases)
	}
	// The lease keeps its history: first seen = starts, last seen = cltt.
	if got := p.Pins[5].Node; !got.FirstSeen.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) || !got.LastSeen.Equal(time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)) {
		t.Errorf("lease times = %v / %v", got.FirstSeen, got.LastSeen)
	}
	var warned []string
	for _, w := range p.Warnings {
		warned = append(warned, w.String())
	}
	all := strings.Join(warned, "\n")
	for _, frag := range []string{
		"testdata/dhcpd.conf:2: not imported: ddns-update-style none",
		"host printer has no fixed-address; not pinned",
		"not imported: option broadcast-address",
	} {
		if !strings.Contains(all, frag) {
			t.Errorf("warnings lack %q:\n%s", frag, all)
		}
	}
}

func TestStanzasLab(t *testing.T) {
	c, err := ParseConf(mustRead(t, "testdata/dhcpd.conf"), "dhcpd.conf")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Stanzas("/var/lib/rpinetboot/nodes.db")
	for _, line := range []string{
		"    - server_id: 192.168.50.1\n",
		"    - netmask: 255.255.255.0\n",
		"    - router: 192.168.50.1\n",
		"    - dns: 192.168.50.1 192.168.50.2\n",
		"    - lease_time: 1h\n",
		"    - rpipxe: form=string\n",
		"    - macpin: /var/lib/rpinetboot/nodes.db 192.168.50.100 192.168.50.199 1h range=10.20.1.10-10.20.1.50\n",
		"# subnet 10.20.0.0/16 (line 33): netmask 255.255.0.0, routers 10.20.0.1, dns 192.168.50.1 192.168.50.2",
		"max-lease-time 7200 has no equivalent",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("stanzas lack %q:\n%s", line, got)
		}
	}
	// The secondary subnet's own default-lease-time must not leak into the primary.
	if s, _ := c.SubnetOf(netip.MustParseAddr("10.20.3.4")); s.Params.DefaultLease != 10*time.Minute {
		t.Errorf("10.20/16 lease = %v, want 10m", s.Params.DefaultLease)
	}
}

func TestThreeSpacesForm(t *testing.T) {
	c, err := ParseConf([]byte(`subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
class "pi3" { option vendor-encapsulated-options "Raspberry Pi Boot   "; }`), "x.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Stanzas("nodes.db"); !strings.Contains(got, "    - rpipxe: form=string3\n") {
		t.Errorf("three trailing spaces should map to form=string3:\n%s", got)
	}
}

func TestEncapsulatedFormIsDefault(t *testing.T) {
	src := `subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
class "pi" {
  option vendor-class-identifier "PXEClient";
  option vendor-encapsulated-options 06:01:03:0a:04:00:50:58:45:09:14:00:00:11:52:61:73:70:62:65:72:72:79:20:50:69:20:42:6f:6f:74:ff;
}`
	c, err := ParseConf([]byte(src), "x.conf")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Stanzas("nodes.db")
	if !strings.Contains(got, "    - rpipxe:\n") || strings.Contains(got, "form=string") {
		t.Errorf("hex option 43 should map to rpipxe's default form:\n%s", got)
	}
	if !strings.Contains(got, "server_id: 10.0.0.1                 # EDIT") {
		t.Errorf("missing server address should be flagged EDIT:\n%s", got)
	}
	if !strings.Contains(got, "lease_time: 12h") {
		t.Errorf("dhcpd's 12h default lease expected:\n%s", got)
	}
}

// Every refused fixture names the problem and yields no plan at all.
func TestConflictsRefused(t *testing.T) {
	for _, tc := range []struct {
		conf, leases string
		want         string
	}{
		{"testdata/conflict-two-macs.conf", "", "192.168.50.20 is given to b8:27:eb:00:00:02, but host a"},
		{"testdata/conflict-two-ips.conf", "", "b8:27:eb:00:00:01 would get 192.168.50.21, but host a"},
		{"testdata/conflict-outside.conf", "", "fixed-address 10.9.9.9 is outside every declared subnet"},
		{"testdata/dhcpd.conf", "testdata/conflict-lease-outside.leases", "active lease of b8:27:eb:aa:00:01 is outside every declared subnet"},
		{"testdata/dhcpd.conf", "testdata/conflict-lease-on-host.leases", "192.168.50.11 is leased to b8:27:eb:aa:00:02, but host pi-01"},
		{"testdata/conflict-multi-fixed.conf", "", "has 2 fixed addresses (192.168.50.20, 192.168.50.21)"},
	} {
		t.Run(tc.conf+tc.leases, func(t *testing.T) {
			p, err := plan(t, tc.conf, tc.leases)
			if p != nil {
				t.Fatalf("plan with %d pins returned for a conflicting import", len(p.Pins))
			}
			var ce *ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) {
				t.Fatalf("err = %v, want a ConflictError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"host a { hardware ethernet 1:2:3:4:5:6; fixed-address pi-a.lab; }\nsubnet 10.0.0.0 netmask 255.0.0.0 {}", `fixed-address "pi-a.lab" is a host name`},
		{"subnet 10.0.0.1 netmask 255.255.255.0 { }", "host bits set (did you mean 10.0.0.0?)"},
		{"subnet 10.0.0.0 netmask 255.0.255.0 { }", "not contiguous"},
		{"subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.1.1 10.0.1.9; }", "not inside subnet"},
		{"subnet 10.0.0.0 netmask 255.255.255.0 {", "never closed"},
		{"option routers 10.0.0.1 }", "missing ';'"},
		{"}", "unexpected '}'"},
		{`option domain-name "unterminated;`, "unterminated string"},
		{"host a { hardware ethernet 1:2:3:4:5; }", "is not a 6-byte Ethernet address"},
		{"default-lease-time soon;", "want a number of seconds"},
		{"option routers gateway.lab;", "host names are not resolved"},
	} {
		_, err := ParseConf([]byte(tc.src), "t.conf")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConf(%q) = %v, want error with %q", tc.src, err, tc.want)
		}
	}
}

func TestLeasesLastEntryWins(t *testing.T) {
	l, err := ParseLeases(mustRead(t, "testdata/dhcpd.leases"), "dhcpd.leases")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, e := range l.Entries {
		states[e.IP.String()] = e.State
	}
	want := map[string]string{
		"192.168.50.100": "active", "192.168.50.101": "active", "192.168.50.102": "expired",
		"192.168.50.103": "abandoned", "10.20.1.10": "active", "10.20.1.11": "free",
	}
	for ip, st := range want {
		if states[ip] != st {
			t.Errorf("lease %s state %q, want %q", ip, states[ip], st)
		}
	}
	if len(l.Entries) != len(want) {
		t.Errorf("%d entries, want %d", len(l.Entries), len(want))
	}
}

func TestNewestLeaseOfMACWins(t *testing.T) {
	conf, _ := ParseConf([]byte("subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.90; }"), "c")
	leases, err := ParseLeases([]byte(`
lease 10.0.0.10 { starts 1 2026/11/16 08:00:00; binding state active; hardware ethernet 2:0:0:0:0:1; }
lease 10.0.0.11 { starts 2 2026/11/17 08:00:00; binding state active; hardware ethernet 2:0:0:0:0:1; }`), "l")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(conf, leases, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pins) != 1 || p.Pins[0].Node.IP.String() != "10.0.0.11" {
		t.Fatalf("pins = %+v, want only the newer 10.0.0.11", p.Pins)
	}
}

func TestNoSubnetRefused(t *testing.T) {
	c, err := ParseConf(mustRead(t, "testdata/dhcpd.leases"), "dhcpd.leases")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := NewPlan(c, nil, now); err == nil || !strings.Contains(err.Error(), "declares no subnet") {
		t.Fatalf("NewPlan of a leases file as config = %v, %v; want a refusal", p, err)
	}
}

// Hosts in an included file would be missed silently; the warning says how to get them.
func TestIncludeWarns(t *testing.T) {
	c, err := ParseConf([]byte(`include "/etc/dhcp/hosts.conf";`+"\nsubnet 10.0.0.0 netmask 255.0.0.0 {}"), "d.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].String(), "d.conf:1: not imported: include \"/etc/dhcp/hosts.conf\": included files are not read") {
		t.Errorf("warnings = %v", c.Warnings)
	}
}
