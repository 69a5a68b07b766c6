package macpin

import (
	"net/netip"
	"testing"
)

func TestPoolHandsOutEveryAddressOnce(t *testing.T) {
	// Sizes straddling the 64-bit words of the bitmap, two ranges.
	p := newPool([]Range{{First: ip4("10.0.0.1"), Last: ip4("10.0.0.70")}, {First: ip4("10.0.1.0"), Last: ip4("10.0.1.63")}})
	if p.size != 134 {
		t.Fatalf("size %d, want 134", p.size)
	}
	seen := map[netip.Addr]bool{}
	for range p.size {
		a, ok := p.take(netip.Addr{})
		if !ok || seen[a] || !inPool(p, a) {
			t.Fatalf("take = %s %v (seen %v)", a, ok, seen[a])
		}
		seen[a] = true
	}
	if a, ok := p.take(netip.Addr{}); ok {
		t.Fatalf("full pool gave %s", a)
	}
	// Released addresses come back, wherever the cursor is.
	p.release(ip4("10.0.0.5"))
	p.release(ip4("10.0.1.63"))
	got := map[netip.Addr]bool{}
	for range 2 {
		a, ok := p.take(netip.Addr{})
		if !ok {
			t.Fatal("released address not found")
		}
		got[a] = true
	}
	if !got[ip4("10.0.0.5")] || !got[ip4("10.0.1.63")] {
		t.Errorf("re-took %v, want 10.0.0.5 and 10.0.1.63", got)
	}
	// A free preferred address wins; a taken or foreign one is ignored.
	p.release(ip4("10.0.0.9"))
	p.release(ip4("10.0.0.10"))
	if a, _ := p.take(ip4("10.0.0.10")); a != ip4("10.0.0.10") {
		t.Errorf("preferred free address not given: %s", a)
	}
	if a, _ := p.take(ip4("192.168.1.1")); a != ip4("10.0.0.9") {
		t.Errorf("foreign preference: got %s, want the free 10.0.0.9", a)
	}
	p.mark(ip4("192.168.1.1")) // outside: ignored
	if p.used != p.size {
		t.Errorf("used %d of %d", p.used, p.size)
	}
}

// inPool says whether ip belongs to one of p's ranges.
func inPool(p *pool, ip netip.Addr) bool { _, _, ok := p.find(ip); return ok }
