package tftpd

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

const arpSample = `IP address       HW type     Flags       HW address            Mask     Device
10.77.1.100      0x1         0x2         dc:a6:32:07:00:01     *        br0
10.77.1.101      0x1         0x0         00:00:00:00:00:00     *        br0
10.77.1.102      0x1         0xc         2c:cf:67:00:00:02     *        br0
10.77.1.103      0x1         0x6         2c:cf:67:00:00:03     *        br0
`

// Complete entries give the MAC; incomplete ones (flags 0) and garbage do not.
func TestParseARP(t *testing.T) {
	for ip, want := range map[string]string{
		"10.77.1.100": "dc:a6:32:07:00:01",
		"10.77.1.101": "",
		"10.77.1.102": "", // no ATF_COM
		"10.77.1.103": "2c:cf:67:00:00:03",
		"10.77.1.104": "",
		"10.77.1.10":  "", // a prefix of a listed address is not a match
	} {
		mac, ok := parseARP([]byte(arpSample), netip.MustParseAddr(ip))
		if got := ""; ok {
			got = mac.String()
			if got != want {
				t.Errorf("%s: got %s, want %q", ip, got, want)
			}
		} else if want != "" {
			t.Errorf("%s: not found, want %s", ip, want)
		}
	}
}

// macStore is a store with one pin found by MAC (an admin pin in proxy mode).
type macStore struct{ fakeStore }

func (m *macStore) Node(_ context.Context, mac net.HardwareAddr) (store.Node, error) {
	if mac.String() == "dc:a6:32:07:00:01" {
		return store.Node{MAC: mac, Model: "rpi-4-b", Serial: "4b070001", Hostname: "rack1-07"}, nil
	}
	return store.Node{}, store.ErrNotFound
}

// An IP no pin names is resolved through the neighbour table to its MAC,
// and the MAC's pin (if any) gives the model and serial; with no store at
// all the MAC alone still selects the per-MAC directory.
func TestNodeCacheNeighbourFallback(t *testing.T) {
	neigh := func(ip netip.Addr) (net.HardwareAddr, bool) { return parseARP([]byte(arpSample), ip) }
	log := logrus.NewEntry(logrus.New())

	noStore := newNodeCache(nil, time.Second, log)
	noStore.neighbour = neigh
	n, ok := noStore.lookup(netip.MustParseAddr("10.77.1.103"))
	if !ok || n.MAC.String() != "2c:cf:67:00:00:03" || n.Model != "" {
		t.Errorf("no store: got %+v %v, want the MAC from the neighbour table", n, ok)
	}
	if _, ok := noStore.lookup(netip.MustParseAddr("10.77.1.101")); ok {
		t.Error("incomplete neighbour entry gave a node")
	}

	st := &macStore{fakeStore{nodes: map[netip.Addr]store.Node{}}}
	withStore := newNodeCache(func() (NodeSource, error) { return st, nil }, time.Second, log)
	withStore.neighbour = neigh
	n, ok = withStore.lookup(netip.MustParseAddr("10.77.1.100"))
	if !ok || n.MAC.String() != "dc:a6:32:07:00:01" || n.Model != "rpi-4-b" || n.Serial != "4b070001" || n.IP.String() != "10.77.1.100" {
		t.Errorf("store pin by MAC: got %+v %v", n, ok)
	}
}

// FuzzParseARP: any table text is parsed without panicking.
func FuzzParseARP(f *testing.F) {
	f.Add([]byte(arpSample), "10.77.1.100")
	f.Add([]byte("10.0.0.1 0x1 0x2 zz:zz\n10.0.0.1"), "10.0.0.1")
	f.Fuzz(func(t *testing.T, b []byte, ip string) {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return
		}
		if mac, ok := parseARP(b, a); ok && len(mac) != 6 {
			t.Fatalf("returned %d-byte MAC", len(mac))
		}
	})
}
