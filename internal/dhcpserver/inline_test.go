//go:build integration

package dhcpserver

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

const holdConfig = `
server4:
  listen: ["%%br0"]
  plugins:
    - server_id: %[1]s
    - testhold: HOW
    - testaddr:
`

func holdRig(t *testing.T, how string) *rig {
	t.Helper()
	t.Setenv(inlineEnv, "1")
	return newRig(t, strings.Replace(holdConfig, "HOW", how, 1))
}

// A reply held for slow work leaves once the work is done, and meanwhile
// the reader goes on answering everyone else: one board waiting on a commit
// must not hold up the rack.
func TestHeldReplyWaitsWithoutBlockingOthers(t *testing.T) {
	r := holdRig(t, "ok 400ms")
	heldMAC, freeMAC := net.HardwareAddr{0x02, 0x42, 0, 0, 'H', 1}, testMAC(3, 1)
	h := message(t, dhcpv4.MessageTypeDiscover, heldMAC)
	f := message(t, dhcpv4.MessageTypeDiscover, freeMAC)
	start := time.Now()
	if err := r.wire.send(h); err != nil {
		t.Fatal(err)
	}
	if err := r.wire.send(f); err != nil {
		t.Fatal(err)
	}
	r.expect(t, freeMAC, f.TransactionID, 300*time.Millisecond)
	free := time.Since(start)
	got := r.expect(t, heldMAC, h.TransactionID, 2*time.Second)
	held := time.Since(start)
	t.Logf("free board answered after %v, held board after %v", free, held)
	if held < 350*time.Millisecond {
		t.Errorf("held reply left after %v, before its 400 ms of work were done", held)
	}
	if got.msg.MessageType() != dhcpv4.MessageTypeOffer || !got.msg.YourIPAddr.Equal(testAddr(heldMAC)) {
		t.Errorf("held reply is %s of %s, want the OFFER the chain built", got.msg.MessageType(), got.msg.YourIPAddr)
	}
}

// A plugin that gives up on the held work (a pin that failed to commit)
// has the reply dropped, counted, and the server keeps serving.
func TestHeldReplyDroppedWhenItsPluginRefuses(t *testing.T) {
	r := holdRig(t, "fail 50ms")
	before := r.stats(t)
	heldMAC := net.HardwareAddr{0x02, 0x42, 0, 0, 'H', 2}
	if err := r.wire.send(message(t, dhcpv4.MessageTypeDiscover, heldMAC)); err != nil {
		t.Fatal(err)
	}
	r.quiet(t, heldMAC, 500*time.Millisecond)
	freeMAC := testMAC(3, 2)
	f := message(t, dhcpv4.MessageTypeDiscover, freeMAC)
	if err := r.wire.send(f); err != nil {
		t.Fatal(err)
	}
	r.expect(t, freeMAC, f.TransactionID, 2*time.Second)
	if after := r.stats(t); after.NoReply-before.NoReply != 1 {
		t.Errorf("dropped replies counted %d, want 1", after.NoReply-before.NoReply)
	}
}
