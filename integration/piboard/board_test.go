//go:build integration

package piboard

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"golang.org/x/net/bpf"
)

// The option 97 the simulated boards send decodes, with the project's own
// decoder, to the board's serial and family.
func TestOpt97DecodesToSerial(t *testing.T) {
	for _, tc := range []struct {
		m      Model
		family string
	}{{Pi3, ""}, {Pi4, "RPi4"}, {Pi5, "RPi5"}} {
		b := NewBoard(tc.m, 9, 42)
		g := classify.DecodeOpt97(b.Opt97(), b.MAC)
		if g.Serial != b.SerialHex() || g.Family != tc.family {
			t.Errorf("%s: decoded %+v, want serial %s family %q", tc.m, g, b.SerialHex(), tc.family)
		}
	}
}

// Boards of one fleet, and of fleets with different seeds, never share a
// MAC or a serial; mix cycles the three models.
func TestFleetIsUnique(t *testing.T) {
	macs, serials := map[string]bool{}, map[uint32]bool{}
	for seed := 0; seed < 3; seed++ {
		bs, err := Fleet("mix", 300, seed)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range bs {
			if macs[b.MAC.String()] || serials[b.Serial] {
				t.Fatalf("seed %d board %d repeats MAC %s or serial %s", seed, i, b.MAC, b.SerialHex())
			}
			macs[b.MAC.String()], serials[b.Serial] = true, true
		}
		if bs[0].Model != Pi3 || bs[1].Model != Pi4 || bs[2].Model != Pi5 {
			t.Errorf("mix = %s %s %s, want pi3 pi4 pi5", bs[0].Model, bs[1].Model, bs[2].Model)
		}
	}
	if _, err := Fleet("pi2", 1, 0); err == nil {
		t.Errorf("Fleet(pi2) accepted an unknown model")
	}
}

// The socket filter passes DHCP replies and drops the board's own requests
// and other UDP traffic (TFTP shares the interface).
func TestReplyFilter(t *testing.T) {
	vm, err := bpf.NewVM(dhcpReplyFilter)
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	req := broadcastFrame(mac, make([]byte, 300))
	reply := append([]byte(nil), req...)
	reply[34+1], reply[34+3] = serverPort, clientPort // swap UDP ports
	tftp := append([]byte(nil), req...)
	tftp[34+3] = 69
	for _, tc := range []struct {
		name  string
		frame []byte
		pass  bool
	}{{"reply", reply, true}, {"request", req, false}, {"tftp", tftp, false}} {
		n, err := vm.Run(tc.frame)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != tc.pass {
			t.Errorf("%s: filter returned %d, want pass=%v", tc.name, n, tc.pass)
		}
		if tc.pass && dhcpPayload(tc.frame) == nil {
			t.Errorf("%s: dhcpPayload found nothing", tc.name)
		}
	}
}

// A pad between options makes the Pi 4 ignore an OFFER; trailing padding does not.
func TestHasInnerPad(t *testing.T) {
	m, _ := dhcpv4.New()
	m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	m.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	clean := m.ToBytes() // padded to 300 bytes after the end option
	if HasInnerPad(clean) {
		t.Errorf("trailing padding counted as an inner pad")
	}
	padded := append(append(append([]byte(nil), clean[:240]...), 0), clean[240:]...)
	if !HasInnerPad(padded) {
		t.Errorf("pad before the first option not found")
	}
	if HasInnerPad(clean[:241]) {
		t.Errorf("truncated options reported as a pad")
	}
}

// TestLeasePrefixLen: a board takes the mask the server sent, so an address
// ending in .255 inside a wider subnet is usable; 24 when none was sent.
func TestLeasePrefixLen(t *testing.T) {
	withMask := func(mask net.IPMask) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(dhcpv4.WithOption(dhcpv4.OptSubnetMask(mask)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	bare, err := dhcpv4.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ls   lease
		want int
	}{
		{lease{}, 24},
		{lease{offer: bare}, 24},
		{lease{offer: withMask(net.CIDRMask(16, 32))}, 16},
		{lease{offer: withMask(net.CIDRMask(16, 32)), ack: withMask(net.CIDRMask(19, 32))}, 19},
	} {
		if got := c.ls.prefixLen(); got != c.want {
			t.Errorf("prefixLen = %d, want %d", got, c.want)
		}
	}
}
