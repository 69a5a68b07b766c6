package macpin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

func TestDiscoverOnlyClientKeepsAddress(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.19")
	ro := openStore(t, path, true)
	mac := hw(1)

	req, resp := packet(t, mac, dhcpv4.MessageTypeDiscover)
	out, stop := m.Handler4(req, resp)
	if out == nil || !stop {
		t.Fatalf("no final OFFER for a new MAC (stop=%v): a later plugin must not replace the pin", stop)
	}
	first, _ := netip.AddrFromSlice(out.YourIPAddr.To4())
	if first != ip4("10.0.0.10") {
		t.Errorf("first OFFER = %s, want 10.0.0.10", first)
	}
	// The Pi 3B+ ROM never REQUESTs: the pin must be on disk when the OFFER leaves.
	if n := mustNode(t, ro, mac); n.IP != first || n.Source != store.SourcePool {
		t.Fatalf("store right after the OFFER: %+v, want %s from the pool", n, first)
	}
	if lt := out.IPAddressLeaseTime(0); lt != time.Hour {
		t.Errorf("lease time = %v, want 1h", lt)
	}
	if t1, t2 := out.IPAddressRenewalTime(0), out.IPAddressRebindingTime(0); t1 != 30*time.Minute || t2 != 52*time.Minute+30*time.Second {
		t.Errorf("T1, T2 = %v, %v; want 30m, 52m30s", t1, t2)
	}
	for range 5 {
		if got := discover(t, m, mac); got != first {
			t.Fatalf("repeated DISCOVER got %s, want %s", got, first)
		}
	}
	if other := discover(t, m, hw(2)); other == first || !other.IsValid() {
		t.Fatalf("second MAC got %s", other)
	}

	m.Close()
	m2 := startAt(t, path, "10.0.0.10", "10.0.0.19")
	if got := discover(t, m2, mac); got != first {
		t.Fatalf("after restart DISCOVER got %s, want %s", got, first)
	}
	if s := m2.Stats(); s.NewPins != 0 || s.Pins != 2 {
		t.Errorf("after restart stats = %+v, want 2 pins loaded, none new", s)
	}
}

func TestConcurrentNewMACsNeverShareAnAddress(t *testing.T) {
	m, path := start(t, "10.1.0.1", "10.1.31.254")
	const n = 2000
	got := make([]netip.Addr, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every MAC sends twice at once, like a ROM retransmitting.
			got[i] = discover(t, m, hw(i%n))
		}()
	}
	wg.Wait()

	owner := map[netip.Addr]int{}
	for i, a := range got {
		if !a.IsValid() {
			t.Fatalf("MAC %d got no OFFER", i%n)
		}
		if j, ok := owner[a]; ok && j != i%n {
			t.Fatalf("%s offered to MAC %d and MAC %d", a, j, i%n)
		}
		owner[a] = i % n
	}
	if len(owner) != n {
		t.Fatalf("%d distinct addresses for %d MACs", len(owner), n)
	}
	if s := m.Stats(); s.NewPins != n || s.Pins != n {
		t.Errorf("stats = %+v, want %d new pins", s, n)
	}
	nodes, err := openStore(t, path, true).Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != n {
		t.Fatalf("store holds %d pins, want %d", len(nodes), n)
	}
	for _, nd := range nodes {
		if mem, _ := m.Lookup(nd.MAC); mem != nd.IP {
			t.Fatalf("store pins %s to %s, memory to %s", nd.MAC, nd.IP, mem)
		}
	}
}

func TestRequest(t *testing.T) {
	m, _ := start(t, "10.0.0.10", "10.0.0.19")
	pinned := discover(t, m, hw(1))

	request := func(mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		req, resp := packet(t, mac, dhcpv4.MessageTypeRequest, mods...)
		resp.UpdateOption(dhcpv4.OptRouter(net.IPv4(10, 0, 0, 1))) // from an earlier plugin
		out, _ := m.Handler4(req, resp)
		return out
	}
	isNAK := func(out *dhcpv4.DHCPv4) bool {
		return out != nil && out.MessageType() == dhcpv4.MessageTypeNak && out.YourIPAddr.IsUnspecified() &&
			out.Options.Get(dhcpv4.OptionIPAddressLeaseTime) == nil && out.Options.Get(dhcpv4.OptionRouter) == nil &&
			out.ServerIdentifier() != nil
	}

	if out := request(hw(1), withRequested(pinned)); out == nil || out.MessageType() != dhcpv4.MessageTypeAck || !out.YourIPAddr.Equal(net.IP(pinned.AsSlice())) {
		t.Errorf("REQUEST for the pinned address: %v", out)
	}
	if out := request(hw(1), withRequested(ip4("10.0.0.15"))); !isNAK(out) {
		t.Errorf("REQUEST for another address: want a clean NAK, got %v", out)
	}
	renew := dhcpv4.WithClientIP(net.IP(ip4("10.0.0.99").AsSlice()))
	if out := request(hw(1), renew); !isNAK(out) {
		t.Errorf("renewal (ciaddr) of another address: want NAK, got %v", out)
	}

	// Unknown MAC asking for a free pool address: it gets that address, pinned.
	if out := request(hw(2), withRequested(ip4("10.0.0.17"))); out == nil || out.MessageType() != dhcpv4.MessageTypeAck || !out.YourIPAddr.Equal(net.IPv4(10, 0, 0, 17)) {
		t.Errorf("REQUEST from a new MAC for a free address: %v", out)
	}
	// Unknown MAC asking for an address held by another: NAK, but pinned
	// elsewhere, and its DISCOVER gets that pin.
	if out := request(hw(3), withRequested(pinned)); !isNAK(out) {
		t.Errorf("REQUEST from a new MAC for a taken address: want NAK, got %v", out)
	}
	p3, ok := m.Lookup(hw(3))
	if !ok || p3 == pinned {
		t.Fatalf("new MAC NAKed for a taken address: pin %s %v", p3, ok)
	}
	if got := discover(t, m, hw(3)); got != p3 {
		t.Errorf("DISCOVER after NAK got %s, want %s", got, p3)
	}
	if m.Stats().NAKs != 3 {
		t.Errorf("NAK counter = %d, want 3", m.Stats().NAKs)
	}
}

func TestReleaseAndInformKeepPins(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.19")
	ip := discover(t, m, hw(1))
	req, resp := packet(t, hw(1), dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(net.IP(ip.AsSlice())))
	if out, stop := m.Handler4(req, resp); out != nil || !stop {
		t.Errorf("RELEASE got a reply %v", out)
	}
	if got := discover(t, m, hw(1)); got != ip {
		t.Errorf("after RELEASE DISCOVER got %s, want %s", got, ip)
	}
	mustNode(t, openStore(t, path, true), hw(1))

	req, resp = packet(t, hw(9), dhcpv4.MessageTypeInform)
	out, _ := m.Handler4(req, resp)
	if out == nil || out.MessageType() != dhcpv4.MessageTypeAck || !out.YourIPAddr.IsUnspecified() {
		t.Errorf("INFORM: want an ACK without address, got %v", out)
	}
	if _, ok := m.Lookup(hw(9)); ok {
		t.Error("INFORM allocated an address")
	}
}

func TestDeclineMovesPinAndBlacklists(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.13")
	bad := discover(t, m, hw(1))
	req, resp := packet(t, hw(1), dhcpv4.MessageTypeDecline, withRequested(bad), withServerID())
	if out, _ := m.Handler4(req, resp); out != nil {
		t.Errorf("DECLINE got a reply")
	}
	moved := discover(t, m, hw(1))
	if !moved.IsValid() || moved == bad {
		t.Fatalf("after DECLINE of %s the MAC got %s", bad, moved)
	}
	s := openStore(t, path, true)
	if n := mustNode(t, s, hw(1)); n.IP != moved {
		t.Errorf("store pins %s, want %s", n.IP, moved)
	}
	if d, _ := s.DeclinedAddrs(t.Context()); len(d) != 1 || d[0].IP != bad {
		t.Errorf("declined in store = %+v, want %s", d, bad)
	}
	// A DECLINE for an address the MAC does not hold changes nothing.
	req, resp = packet(t, hw(1), dhcpv4.MessageTypeDecline, withRequested(ip4("10.0.0.13")), withServerID())
	m.Handler4(req, resp)
	if ip, _ := m.Lookup(hw(1)); ip != moved {
		t.Errorf("stray DECLINE moved the pin to %s", ip)
	}

	// The declined address stays out of the pool during its probation, also after a restart.
	m.Close()
	m = startAt(t, path, "10.0.0.10", "10.0.0.13")
	for i := 2; i < 6; i++ {
		if got := discover(t, m, hw(i)); got == bad {
			t.Fatalf("declined %s handed to MAC %d", bad, i)
		}
	}
	if st := m.Stats(); st.PoolUsed != st.PoolSize {
		t.Errorf("pool %d/%d used, want full (3 pins + 1 declined)", st.PoolUsed, st.PoolSize)
	}
}

func TestReservationsWin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// hw(1) holds .10 from the pool; hw(2) is pinned at .11 but reserved .10.
	err = s.Pin(t.Context(),
		store.Node{MAC: hw(1), IP: ip4("10.0.0.10"), Source: store.SourcePool},
		store.Node{MAC: hw(2), IP: ip4("10.0.0.11"), Source: store.SourcePool})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	file := filepath.Join(t.TempDir(), "reservations")
	os.WriteFile(file, []byte("# lab boards\n"+hw(4).String()+" 10.0.0.12 pi-four\n\n"+hw(5).String()+"  192.168.99.5   # outside the range\n"), 0o644)

	m := startAt(t, path, "10.0.0.10", "10.0.0.19",
		"reserve="+hw(2).String()+"=10.0.0.10", "reservations="+file, "reserve="+hw(3).String()+"=172.16.0.3=bmc3")

	want := map[int]string{2: "10.0.0.10", 3: "172.16.0.3", 4: "10.0.0.12", 5: "192.168.99.5"}
	for i, ip := range want {
		if got := discover(t, m, hw(i)); got != ip4(ip) {
			t.Errorf("reserved MAC %d got %s, want %s", i, got, ip)
		}
	}
	evicted := discover(t, m, hw(1))
	if !evicted.IsValid() || evicted == ip4("10.0.0.10") || evicted == ip4("10.0.0.12") {
		t.Errorf("evicted pool MAC got %s", evicted)
	}
	ro := openStore(t, path, true)
	if n := mustNode(t, ro, hw(3)); n.Source != store.SourceReservation || n.Hostname != "bmc3" {
		t.Errorf("reservation stored as %+v", n)
	}
	for i := 6; i < 20; i++ {
		if got := discover(t, m, hw(i)); got == ip4("10.0.0.10") || got == ip4("10.0.0.12") {
			t.Fatalf("reserved address %s handed to pool MAC %d", got, i)
		}
	}
}

func TestPoolExhaustion(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.12")
	got := make([]netip.Addr, 10)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = discover(t, m, hw(i)) }()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, a := range got {
		if !a.IsValid() {
			continue
		}
		if seen[a] {
			t.Fatalf("%s offered twice", a)
		}
		seen[a] = true
	}
	if len(seen) != 3 {
		t.Fatalf("%d MACs served from a 3-address pool", len(seen))
	}
	// A MAC left out keeps being refused, and it is counted.
	for i, a := range got {
		if !a.IsValid() {
			if again := discover(t, m, hw(i)); again.IsValid() {
				t.Fatalf("exhausted pool later offered %s", again)
			}
			break
		}
	}
	if s := m.Stats(); s.Exhausted != 8 {
		t.Errorf("exhausted counter = %d, want 8", s.Exhausted)
	}
	if nodes, _ := openStore(t, path, true).Nodes(t.Context()); len(nodes) != 3 {
		t.Errorf("store holds %d pins, want 3", len(nodes))
	}
}

func TestAdminChangesAreHonoured(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.11")
	admin := openStore(t, path, false)
	a := discover(t, m, hw(1))
	discover(t, m, hw(2))
	if discover(t, m, hw(3)).IsValid() {
		t.Fatal("full pool offered an address")
	}

	// rpinetctl pins a board outside the range while coredhcp runs.
	if err := admin.Pin(t.Context(), store.Node{MAC: hw(7), IP: ip4("10.0.5.7"), Source: store.SourceAdmin}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "admin pin picked up", func() bool { ip, _ := m.Lookup(hw(7)); return ip == ip4("10.0.5.7") })
	if got := discover(t, m, hw(7)); got != ip4("10.0.5.7") {
		t.Errorf("admin-pinned MAC got %s", got)
	}

	// rpinetctl unpins hw(1): its address becomes free for a new board.
	if err := admin.Unpin(t.Context(), hw(1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unpin picked up", func() bool { _, ok := m.Lookup(hw(1)); return !ok })
	if got := discover(t, m, hw(3)); got != a {
		t.Errorf("after unpin the new MAC got %s, want the freed %s", got, a)
	}
}

// TestAdminRaceBeforeReload has rpinetctl pin a MAC and an IP that memory
// does not know about yet; the group commit must detect it and never hand
// out the admin's address to someone else.
func TestAdminRaceBeforeReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.db")
	cfg, err := ParseArgs(path, "10.0.0.10", "10.0.0.13", "1h")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PollInterval = time.Hour // no reload during the test
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	admin := openStore(t, path, false)
	err = admin.Pin(t.Context(),
		store.Node{MAC: hw(50), IP: ip4("10.0.0.10"), Source: store.SourceAdmin}, // the next free address
		store.Node{MAC: hw(51), IP: ip4("10.0.9.9"), Source: store.SourceAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if got := discover(t, m, hw(1)); !got.IsValid() || got == ip4("10.0.0.10") {
		t.Fatalf("new MAC got %s, the admin's address or none", got)
	}
	if got := discover(t, m, hw(51)); got != ip4("10.0.9.9") {
		t.Errorf("admin-pinned MAC unknown to memory got %s, want its pin 10.0.9.9", got)
	}
	if got := discover(t, m, hw(50)); got != ip4("10.0.0.10") {
		t.Errorf("admin-pinned MAC got %s, want 10.0.0.10", got)
	}
	nodes, _ := admin.Nodes(t.Context())
	seen := map[netip.Addr]bool{}
	for _, n := range nodes {
		if seen[n.IP] {
			t.Fatalf("duplicate %s in store", n.IP)
		}
		seen[n.IP] = true
	}
	if len(nodes) != 3 {
		t.Errorf("store holds %d pins, want 3", len(nodes))
	}
}

func TestLastSeenAndFactsFlushed(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.19")
	discover(t, m, hw(1))
	ro := openStore(t, path, true)
	before := mustNode(t, ro, hw(1))
	time.Sleep(5 * time.Millisecond)
	discover(t, m, hw(1), dhcpv4.WithOption(dhcpv4.OptHostName("rack1-node1")))
	eventually(t, "hostname flushed", func() bool {
		n, err := ro.Node(t.Context(), hw(1))
		return err == nil && n.Hostname == "rack1-node1" && n.LastSeen.After(before.LastSeen)
	})
}

func TestCommitFailureSendsNoOffer(t *testing.T) {
	m, _ := start(t, "10.0.0.10", "10.0.0.19")
	m.store.Close() // the disk goes away
	if got := discover(t, m, hw(1)); got.IsValid() {
		t.Fatalf("OFFER of %s without a durable pin", got)
	}
	if s := m.Stats(); s.CommitErrors != 1 || s.PoolUsed != 0 || s.Pins != 0 {
		t.Errorf("after a failed commit stats = %+v, want 1 error and the address released", s)
	}
}

func TestBadClientHardwareAddress(t *testing.T) {
	m, _ := start(t, "10.0.0.10", "10.0.0.19")
	req, resp := packet(t, net.HardwareAddr{}, dhcpv4.MessageTypeDiscover)
	if out, stop := m.Handler4(req, resp); out != nil || !stop {
		t.Errorf("DISCOVER without chaddr answered")
	}
}

func TestBadArgs(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "nodes.db")
	badFile := filepath.Join(dir, "bad-reservations")
	os.WriteFile(badFile, []byte("dc:a6:32:00:00:01 10.0.0.1\nnot-a-mac 10.0.0.2\n"), 0o644)
	cases := []struct {
		args []string
		want string // a fragment the error must contain
	}{
		{[]string{db, "10.0.0.1", "10.0.0.9"}, "missing <lease-time>"},
		{[]string{db, "10.0.0", "10.0.0.9", "1h"}, `first-ip "10.0.0"`},
		{[]string{db, "10.0.0.1", "fe80::1", "1h"}, `last-ip "fe80::1"`},
		{[]string{db, "10.0.0.9", "10.0.0.1", "1h"}, "below"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1 hour"}, `lease-time "1 hour"`},
		{[]string{db, "10.0.0.1", "10.0.0.9", "0s"}, "lease-time"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "ranges=10.0.1.1-10.0.1.9"}, `unknown key "ranges"`},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "range=10.0.1.1"}, `"range=10.0.1.1"`},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "range=10.0.0.5-10.0.0.20"}, "overlaps"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "range=11.0.0.0-11.255.255.255"}, "more than"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "reserve=dc:a6:32:00:00:01"}, "want reserve=MAC=IP"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "reserve=zz=10.0.0.1"}, `MAC "zz"`},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "reserve=dc:a6:32:00:00:01=10.0.0.1=bad_name"}, "hostname"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "reserve=dc:a6:32:00:00:01=10.0.0.1", "reserve=dc:a6:32:00:00:02=10.0.0.1"}, "already reserved"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "reservations=" + filepath.Join(dir, "missing")}, "no such file"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "reservations=" + badFile}, "line 2"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "maxpending=0"}, "maxpending"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "pin=boards"}, "want pin=all"},
		{[]string{db, "10.0.0.1", "10.0.0.9", "1h", "verbose"}, "want key=value"},
	}
	for _, c := range cases {
		_, err := setup4(c.args...)
		if err == nil {
			t.Errorf("setup4(%q) succeeded", c.args)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "macpin: ") || !strings.Contains(msg, c.want) {
			t.Errorf("setup4(%q) = %q; want it to start with \"macpin: \" and mention %q", c.args, msg, c.want)
		}
	}
	// A store that cannot be opened is a setup error too, naming the plugin.
	os.WriteFile(filepath.Join(dir, "corrupt.db"), []byte(strings.Repeat("garbage ", 2000)), 0o644)
	_, err := setup4(filepath.Join(dir, "corrupt.db"), "10.0.0.1", "10.0.0.9", "1h")
	if !errors.Is(err, store.ErrCorrupt) || !strings.HasPrefix(err.Error(), "macpin: ") {
		t.Errorf("corrupt store: %v", err)
	}
}

// With pin=netboot a laptop (no Pi MAC, no PXE or U-Boot vendor class)
// is left to the next plugin and never pinned, so random MACs cannot use up
// the pool; boards are pinned as always, and a MAC pinned already (by an
// earlier netboot, a reservation or rpinetctl) keeps its address whatever
// its OS sends now.
func TestPinNetbootOnly(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.13", "pin=netboot", "reserve=02:00:00:00:00:09=10.0.0.50")
	laptop := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest} {
		req, resp := packet(t, laptop, mt)
		out, stop := m.Handler4(req, resp)
		if out != resp || stop || !out.YourIPAddr.IsUnspecified() {
			t.Fatalf("laptop %s: got %v, stop %v, yiaddr %v; want the reply passed on untouched", mt, out, stop, out.YourIPAddr)
		}
	}
	if _, ok := m.Lookup(laptop); ok {
		t.Fatal("the laptop was pinned")
	}

	if ip := discover(t, m, hw(1)); ip != ip4("10.0.0.10") {
		t.Errorf("Pi MAC (OUI): offered %v, want 10.0.0.10", ip)
	}
	// A board's answer ends the chain: range, next for everyone else,
	// would put its own address over the pin.
	req, resp := packet(t, hw(1), dhcpv4.MessageTypeDiscover)
	if out, stop := m.Handler4(req, resp); out == nil || !stop {
		t.Errorf("pinned board: reply %v, stop %v; want its OFFER with the chain stopped", out, stop)
	}
	// A bare PXEClient vendor class from a non-Pi MAC is anyone's claim:
	// not a board unless the classify stanza names its architecture.
	pxe := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	req, resp = packet(t, pxe, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))
	if out, stop := m.Handler4(req, resp); stop || !out.YourIPAddr.IsUnspecified() {
		t.Errorf("bare PXEClient: stop %v yiaddr %v; want it left to the next plugin", stop, out.YourIPAddr)
	}
	uboot := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 2}
	if ip := discover(t, m, uboot, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("U-Boot.armv8"))); ip != ip4("10.0.0.11") {
		t.Errorf("U-Boot client: offered %v, want 10.0.0.11", ip)
	}
	// A lab board with its own bootp_vci, and a UEFI PXE client, once the
	// classify stanza names them.
	cfg, err := classify.ParseArgs(`vci=^mylab\.node\.(?P<model>.+)$`, "pxe-arch=7")
	if err != nil {
		t.Fatal(err)
	}
	classify.Configure(cfg)
	t.Cleanup(func() { classify.Configure(nil) })
	lab := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 3}
	if ip := discover(t, m, lab, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("mylab.node.7"))); ip != ip4("10.0.0.12") {
		t.Errorf("configured bootp_vci: offered %v, want 10.0.0.12", ip)
	}
	if ip := discover(t, m, pxe, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64))); ip != ip4("10.0.0.13") {
		t.Errorf("PXE client of a configured arch: offered %v, want 10.0.0.13", ip)
	}
	// The U-Boot board, booted into its OS, asks without a vendor class.
	if ip := discover(t, m, uboot); ip != ip4("10.0.0.11") {
		t.Errorf("pinned board without vendor class: offered %v, want its pin 10.0.0.11", ip)
	}
	if ip := discover(t, m, net.HardwareAddr{0x02, 0, 0, 0, 0, 9}); ip != ip4("10.0.0.50") {
		t.Errorf("reserved non-netboot MAC: offered %v, want its reservation 10.0.0.50", ip)
	}
	s := openStore(t, path, true)
	nodes, err := s.Nodes(context.Background())
	if err != nil || len(nodes) != 5 {
		t.Errorf("store holds %d pins (%v), want the 4 boards and the reservation", len(nodes), err)
	}
}

func TestStanzasDoNotShareState(t *testing.T) {
	a, _ := start(t, "10.0.0.10", "10.0.0.19")
	b, _ := start(t, "10.0.0.10", "10.0.0.19")
	discover(t, a, hw(1))
	if _, ok := b.Lookup(hw(1)); ok {
		t.Fatal("a pin made by one stanza shows up in another")
	}
	if got := discover(t, b, hw(2)); got != ip4("10.0.0.10") {
		t.Errorf("second stanza's first pin = %s, want its own 10.0.0.10", got)
	}
}

func TestParseReservations(t *testing.T) {
	rs, err := ParseReservations([]byte("  DC-A6-32-00-00-01   10.0.0.1 Node-1 # trailing\n#only comment\n\n" +
		"dca6.3200.0002 10.0.0.2\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dc:a6:32:00:00:01 10.0.0.1 Node-1", "dc:a6:32:00:00:02 10.0.0.2 "}
	for i, r := range rs {
		if got := fmt.Sprintf("%s %s %s", r.MAC, r.IP, r.Hostname); got != want[i] {
			t.Errorf("reservation %d = %q, want %q", i, got, want[i])
		}
	}
	if len(rs) != 2 {
		t.Errorf("%d reservations, want 2", len(rs))
	}
}

// TestBatchConflictResolved: a whole group commit collides with admin pins
// made behind macpin's back; every member still gets a unique address.
func TestBatchConflictResolved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.db")
	cfg, err := ParseArgs(path, "10.0.0.10", "10.0.0.200", "1h")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PollInterval = time.Hour
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	admin := openStore(t, path, false)
	var adminPins []store.Node
	for i := range 10 { // the next ten free addresses, and one of the MACs below
		adminPins = append(adminPins, store.Node{MAC: hw(1000 + i), IP: ip4(fmt.Sprintf("10.0.0.%d", 10+i)), Source: store.SourceAdmin})
	}
	adminPins = append(adminPins, store.Node{MAC: hw(5), IP: ip4("10.0.0.250"), Source: store.SourceAdmin})
	if err := admin.Pin(t.Context(), adminPins...); err != nil {
		t.Fatal(err)
	}
	got := make([]netip.Addr, 50)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = discover(t, m, hw(i)) }()
	}
	wg.Wait()
	if got[5] != ip4("10.0.0.250") {
		t.Errorf("admin-pinned MAC got %s, want 10.0.0.250", got[5])
	}
	nodes, _ := admin.Nodes(t.Context())
	onDisk := map[string]netip.Addr{}
	taken := map[netip.Addr]bool{}
	for _, n := range nodes {
		if taken[n.IP] {
			t.Fatalf("%s pinned twice", n.IP)
		}
		taken[n.IP] = true
		onDisk[n.MAC.String()] = n.IP
	}
	for i, a := range got {
		if !a.IsValid() || onDisk[hw(i).String()] != a {
			t.Fatalf("MAC %d offered %s, store has %s", i, a, onDisk[hw(i).String()])
		}
	}
	if len(nodes) != 60 {
		t.Errorf("store holds %d pins, want 60", len(nodes))
	}
}

// TestRequestForAnotherServerIgnored: a client that chose another server's
// OFFER must get neither an ACK, a NAK nor a pin from us, while a REQUEST
// naming our identifier is still answered.
func TestRequestForAnotherServerIgnored(t *testing.T) {
	m, _ := start(t, "10.0.0.100", "10.0.0.120")
	mac := hw(7001)
	req, resp := packet(t, mac, dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 99))),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 200))))
	if out, _ := m.Handler4(req, resp); out != nil {
		t.Fatalf("answered a REQUEST addressed to 10.0.0.99: %v", out.Summary())
	}
	if _, ok := m.Lookup(mac); ok {
		t.Fatal("pinned a MAC whose REQUEST went to another server")
	}
	ip := discover(t, m, mac)
	req, resp = packet(t, mac, dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP(ip.AsSlice()))))
	if out, _ := m.Handler4(req, resp); out == nil || out.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("REQUEST to us for the pin %s was not ACKed", ip)
	}
}
