package macpin

import (
	"context"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Regression (hostile battery): a DISCOVER whose chaddr the store
// cannot read back, or that names no single board, gets no pin and no
// OFFER, and the store stays listable.
func TestUnusableHardwareAddressGetsNoPin(t *testing.T) {
	m, _ := start(t, "10.0.0.10", "10.0.0.20")
	for _, mac := range []net.HardwareAddr{
		{},
		{1, 2, 3},
		append(hw(1), make([]byte, 10)...), // hlen 16
		{0, 0, 0, 0, 0, 0},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01},
	} {
		req, resp := packet(t, hw(9), dhcpv4.MessageTypeDiscover)
		req.ClientHWAddr = mac
		if got, _ := m.Handler4(req, resp); got != nil {
			t.Errorf("chaddr %q (%d bytes): got an OFFER of %s, want none", mac, len(mac), got.YourIPAddr)
		}
	}
	if s := m.Stats(); s.Pins != 0 || s.NewPins != 0 {
		t.Fatalf("%d pins after unusable chaddrs, want 0", s.Pins)
	}
	if _, err := m.store.Nodes(context.Background()); err != nil {
		t.Fatalf("store no longer lists its nodes: %v", err)
	}
	req, resp := packet(t, hw(1), dhcpv4.MessageTypeDiscover)
	if got, _ := m.Handler4(req, resp); got == nil {
		t.Fatal("an ordinary board got no OFFER after the odd ones")
	}
}
