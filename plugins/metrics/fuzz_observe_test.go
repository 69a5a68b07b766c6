package metrics

import (
	"github.com/rpinetboot/rpinetboot/internal/classify"

	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/plugins/macpin"
)

// FuzzObserve: any parsed request (and itself as a reply) is counted
// without a panic, whatever its options hold: label values must stay valid.
func FuzzObserve(f *testing.F) {
	f.Add(pi4Discover(f, "dc:a6:32:01:02:03").ToBytes())
	d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 1}, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("walt.node.\xff\xfe")))
	f.Add(d.ToBytes())
	c := NewCollector()
	c.loops = func() []loop { return nil }
	c.pins = func() []*macpin.Macpin { return nil }
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		c.observe(req, req, classify.Of(req))
	})
}
