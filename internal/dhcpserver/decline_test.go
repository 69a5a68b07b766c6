//go:build integration

package dhcpserver

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The listener is not bound to an interface here, so the layer-2 replies
// also exercise finding the interface from each packet's IP_PKTINFO.
const macpinConfig = `
server4:
  listen: ["0.0.0.0:67"]
  plugins:
    - server_id: %[1]s
    - testrecord:
    - macpin: %[2]s/nodes.db %[3]s100 %[3]s200 1h
`

// Upstream's loop dropped DECLINE before the plugins; with ours, a board
// that finds its pinned address in use on the wire gets a new one.
// In inline mode macpin holds each new pin's OFFER for its commit instead
// of blocking; the behaviour must be the same.
func TestDeclineMovesTheMacpinPin(t *testing.T) {
	t.Run("goroutine per request", testDecline)
	t.Run("inline", func(t *testing.T) {
		t.Setenv(inlineEnv, "1")
		testDecline(t)
	})
}

func testDecline(t *testing.T) {
	r := newRig(t, macpinConfig)
	mac := net.HardwareAddr{0xdc, 0xa6, 0x32, 0x0d, 0xec, 0x01}
	offer := func() net.IP {
		t.Helper()
		d := message(t, dhcpv4.MessageTypeDiscover, mac)
		if err := r.wire.send(d); err != nil {
			t.Fatal(err)
		}
		f := r.expect(t, mac, d.TransactionID, 3*time.Second)
		if f.msg.MessageType() != dhcpv4.MessageTypeOffer || f.dstMAC.String() != mac.String() || !f.dstIP.Equal(f.msg.YourIPAddr) {
			t.Fatalf("got %s to %s %s, want an OFFER at layer 2", f.msg.MessageType(), f.dstMAC, f.dstIP)
		}
		return f.msg.YourIPAddr
	}
	first := offer()
	if again := offer(); !again.Equal(first) {
		t.Fatalf("pin not kept before the DECLINE: %s then %s", first, again)
	}
	if err := r.wire.send(message(t, dhcpv4.MessageTypeDecline, mac,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(r.net.ServerIP))),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(first)))); err != nil {
		t.Fatal(err)
	}
	r.waitLine(t, "EVENT DECLINE "+mac.String(), 3*time.Second)
	r.quiet(t, mac, 500*time.Millisecond)
	if !strings.Contains(r.server.Log(), "DECLINE: address in use on the wire") {
		t.Error("macpin did not log the DECLINE")
	}
	if next := offer(); next.Equal(first) {
		t.Errorf("after DECLINE of %s the next OFFER is %s again", first, next)
	} else {
		t.Logf("DECLINE of %s: next OFFER %s", first, next)
	}
}
