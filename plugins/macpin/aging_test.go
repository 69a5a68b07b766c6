package macpin

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// A full pool gives a new board the address of the least recently seen
// learned pin idle longer than reclaim-after; a pin seen since, a
// reservation and an admin pin are never taken.
func TestReclaimWhenPoolFull(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.12", "reclaim-after=1s", "reserve="+hw(9).String()+"=10.0.0.12")
	a := discover(t, m, hw(1))
	time.Sleep(400 * time.Millisecond)
	b := discover(t, m, hw(2))
	if !a.IsValid() || !b.IsValid() {
		t.Fatalf("pins %v %v", a, b)
	}
	if got := discover(t, m, hw(3)); got.IsValid() {
		t.Fatalf("full pool, nothing idle yet: new MAC got %s", got)
	}
	// hw(1) idle past reclaim-after, hw(2) not (it asks again), the
	// reservation never counts.
	time.Sleep(800 * time.Millisecond)
	discover(t, m, hw(2))
	time.Sleep(300 * time.Millisecond) // the last-seen flush
	if got := discover(t, m, hw(3)); got != a {
		t.Fatalf("new MAC on a full pool got %v, want the idle board's %s", got, a)
	}
	if _, ok := m.Lookup(hw(1)); ok {
		t.Error("the reclaimed board is still pinned in memory")
	}
	if ip, _ := m.Lookup(hw(2)); ip != b {
		t.Errorf("the board seen recently lost its pin (now %v)", ip)
	}
	if ip, _ := m.Lookup(hw(9)); ip != ip4("10.0.0.12") {
		t.Errorf("reservation moved to %v", ip)
	}
	if st := m.Stats(); st.Reclaims != 1 {
		t.Errorf("reclaims counted %d, want 1", st.Reclaims)
	}
	m.Close()
	s := openStore(t, path, true)
	if _, err := s.Node(t.Context(), hw(1)); err == nil {
		t.Error("the reclaimed board is still pinned in the store")
	}
	if n := mustNode(t, s, hw(3)); n.IP != a {
		t.Errorf("store pins the new board at %s, want %s", n.IP, a)
	}
	// The old board, back, gets whatever is free (nothing): it lost its claim.
}

// With the default reclaim-after (a week) a board seen today is never
// taken over, however many new MACs ask.
func TestNoReclaimWithinAWeek(t *testing.T) {
	m, _ := start(t, "10.0.0.10", "10.0.0.10")
	a := discover(t, m, hw(1))
	for i := 2; i < 20; i++ {
		if got := discover(t, m, hw(i)); got.IsValid() {
			t.Fatalf("MAC %d took %s from a board seen moments ago", i, got)
		}
	}
	if ip, _ := m.Lookup(hw(1)); ip != a {
		t.Errorf("board lost its pin")
	}
	if st := m.Stats(); st.Reclaims != 0 || st.Exhausted < 18 {
		t.Errorf("stats %+v", st)
	}
}

// Only a credible DECLINE moves a pin: for this server, for the sender's
// own learned address, right after this server answered it, within the
// sender's budget and the pool's cap.
func TestDeclineRules(t *testing.T) {
	m, _ := start(t, "10.0.0.10", "10.0.0.41", "reserve="+hw(9).String()+"=10.0.0.41")
	decline := func(mac net.HardwareAddr, ip netip.Addr, mods ...dhcpv4.Modifier) {
		t.Helper()
		req, resp := packet(t, mac, dhcpv4.MessageTypeDecline, append([]dhcpv4.Modifier{withRequested(ip)}, mods...)...)
		if out, _ := m.Handler4(req, resp); out != nil {
			t.Fatal("DECLINE answered")
		}
	}
	pinOf := func(mac net.HardwareAddr) netip.Addr { ip, _ := m.Lookup(mac); return ip }
	a := discover(t, m, hw(1))
	ignored := func(what string, mac net.HardwareAddr, want netip.Addr) {
		t.Helper()
		if got := pinOf(mac); got != want {
			t.Errorf("%s: pin moved from %s to %s", what, want, got)
		}
	}
	decline(hw(1), a) // no option 54
	ignored("no server identifier", hw(1), a)
	decline(hw(1), a, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 99))))
	ignored("another server's", hw(1), a)
	decline(hw(2), a, withServerID()) // a spoofer naming the victim's address
	ignored("someone else's address", hw(1), a)
	discover(t, m, hw(9))
	decline(hw(9), ip4("10.0.0.41"), withServerID())
	ignored("a reservation", hw(9), ip4("10.0.0.41"))
	// Long after this server last answered the board: not a fresh ARP probe.
	m.seen.mu.Lock()
	delete(m.seen.answered, string(hw(1)))
	m.seen.mu.Unlock()
	decline(hw(1), a, withServerID())
	ignored("not right after an answer", hw(1), a)
	if st := m.Stats(); st.Declines != 0 || st.DeclinesIgnored != 5 {
		t.Fatalf("declines %d, ignored %d; want 0 and 5", st.Declines, st.DeclinesIgnored)
	}

	// Credible ones act, until the MAC's budget (2) is spent.
	for i := 0; i < 3; i++ {
		ip := discover(t, m, hw(1))
		decline(hw(1), ip, withServerID())
		if moved := pinOf(hw(1)); moved.IsValid() == (i < 2) {
			t.Errorf("decline %d: pin after it %v", i+1, moved)
		}
	}
	st := m.Stats()
	if st.Declines != 2 || st.OnProbation != 2 {
		t.Errorf("declines %d, on probation %d; want 2 and 2", st.Declines, st.OnProbation)
	}
	// The pool's cap (an eighth of 32 addresses) holds against many MACs.
	for i := 20; i < 40; i++ {
		ip := discover(t, m, hw(i))
		decline(hw(i), ip, withServerID())
	}
	if st := m.Stats(); st.OnProbation != 4 {
		t.Errorf("%d addresses on probation, want the cap of 4", st.OnProbation)
	}
}

// A declined address comes back by itself after decline-probation, also
// from the store.
func TestProbationEnds(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.11", "decline-probation=1s")
	a := discover(t, m, hw(1))
	req, resp := packet(t, hw(1), dhcpv4.MessageTypeDecline, withRequested(a), withServerID())
	m.Handler4(req, resp)
	b := discover(t, m, hw(1))
	if b == a || !b.IsValid() {
		t.Fatalf("after DECLINE of %s the board got %v", a, b)
	}
	if got := discover(t, m, hw(2)); got.IsValid() {
		t.Fatalf("declined address handed out during probation: %s", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().OnProbation > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := discover(t, m, hw(2)); got != a {
		t.Fatalf("after probation a new board got %v, want %s back", got, a)
	}
	if st := m.Stats(); st.Released != 1 {
		t.Errorf("released %d, want 1", st.Released)
	}
	m.Close()
	s := openStore(t, path, true)
	if d, _ := s.DeclinedAddrs(t.Context()); len(d) != 0 {
		t.Errorf("store still holds declined %+v", d)
	}
}

// The aging options parse and refuse nonsense.
func TestAgingArgs(t *testing.T) {
	cfg, err := ParseArgs("/x.db", "10.0.0.1", "10.0.0.9", "1h")
	if err != nil || cfg.ReclaimAfter != 7*24*time.Hour || cfg.DeclineProbation != 24*time.Hour || cfg.DeclineBudget != 2 {
		t.Fatalf("defaults %+v %v", cfg, err)
	}
	cfg, err = ParseArgs("/x.db", "10.0.0.1", "10.0.0.9", "1h", "reclaim-after=never", "decline-budget=0")
	if err != nil || cfg.ReclaimAfter != 0 || cfg.DeclineBudget != 0 {
		t.Fatalf("never/0: %+v %v", cfg, err)
	}
	for _, bad := range []string{"reclaim-after=soon", "decline-probation=0s", "decline-budget=-1"} {
		if _, err := ParseArgs("/x.db", "10.0.0.1", "10.0.0.9", "1h", bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// A client's option 12 is stored only when it is a host name: one with a
// newline or a command never reaches the store.
func TestHostileHostnameNotStored(t *testing.T) {
	m, path := start(t, "10.0.0.10", "10.0.0.19")
	discover(t, m, hw(1), dhcpv4.WithOption(dhcpv4.OptHostName("pi\nsetenv bootcmd reset; saveenv")))
	discover(t, m, hw(2), dhcpv4.WithOption(dhcpv4.OptHostName("rack1-pi02")))
	m.Close()
	s := openStore(t, path, true)
	if n := mustNode(t, s, hw(1)); n.Hostname != "" {
		t.Errorf("hostile host name stored: %q", n.Hostname)
	}
	if n := mustNode(t, s, hw(2)); n.Hostname != "rack1-pi02" {
		t.Errorf("valid host name not stored: %q", n.Hostname)
	}
}
