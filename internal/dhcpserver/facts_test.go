package dhcpserver

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/internal/classify"
)

// The loop computes a request's facts once, before the chain: every plugin
// and every observer sees that one answer, even if the classification
// changed in between, and nothing is left held once the request is done.
func TestFactsComputedOnceForTheWholeChain(t *testing.T) {
	pi3 := []byte("PXEClient:Arch:00000:UNDI:002001")
	req, err := dhcpv4.New(dhcpv4.WithHwAddr([]byte{0x02, 0, 0, 0, 0, 1}), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(string(pi3))))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := classify.ParseArgs("oui=02:00:00")
	if err != nil {
		t.Fatal(err)
	}
	classify.Configure(cfg)
	t.Cleanup(func() { classify.Configure(nil) })
	var seen []bool
	first := func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		seen = append(seen, classify.Of(req).RPiPXE)
		classify.Configure(nil) // the default OUIs do not include 02:00:00
		return resp, false
	}
	second := func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		seen = append(seen, classify.Of(req).RPiPXE)
		return resp, false
	}
	var observed []bool
	AddObserver(func(_, _ *dhcpv4.DHCPv4, f classify.Facts) { observed = append(observed, f.RPiPXE) })
	s := newTestServers(first, second)
	_, _, facts := s.handleWith(req.ToBytes(), nil, nil)
	observe(req, nil, facts)
	if len(seen) != 2 || !seen[0] || !seen[1] {
		t.Errorf("plugins saw RPiPXE %v, want [true true] from the one classification", seen)
	}
	if len(observed) == 0 || !observed[len(observed)-1] {
		t.Errorf("observer saw %v, want the chain's facts", observed)
	}
	if n := classify.InFlight(); n != 0 {
		t.Errorf("%d requests' facts still held after the chain", n)
	}
}
