//go:build integration

package dhcpserver

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

const slowConfig = `
server4:
  listen: ["%%br0"]
  plugins:
    - server_id: %[1]s
    - testslow: 300ms
    - testaddr:
`

// With every handler slot taken, further packets are dropped (the boards
// retry) instead of piling up goroutines; the drops are counted and the
// log says so once, not once per packet.
func TestBusyLoopDropsAndWarnsOnce(t *testing.T) {
	const inflight, n = 2, 20
	t.Setenv(maxInflightEnv, strconv.Itoa(inflight))
	r := newRig(t, slowConfig)
	time.Sleep(400 * time.Millisecond) // let the warm-up's extra DISCOVERs finish
	before := r.stats(t)
	for i := 0; i < n; i++ {
		if err := r.wire.send(message(t, dhcpv4.MessageTypeDiscover, net.HardwareAddr{0x02, 0x44, 0, 0, 0, byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(800 * time.Millisecond)
	after := r.stats(t)
	busy, replies := after.Busy-before.Busy, after.Replies-before.Replies
	t.Logf("%d DISCOVERs with %d slots of 300 ms: %d answered, %d dropped", n, inflight, replies, busy)
	if busy+replies != n || busy < n/2 {
		t.Errorf("%d answered + %d dropped; want %d in all, most of them dropped", replies, busy, n)
	}
	if got := strings.Count(r.server.Log(), "too many requests in the handler chain"); got != 1 {
		t.Errorf("busy warning logged %d times, want once", got)
	}
}
