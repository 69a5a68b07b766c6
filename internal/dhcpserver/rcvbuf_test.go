//go:build integration

package dhcpserver

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const plainConfig = `
server4:
  listen: ["%%br0"]
  plugins:
    - server_id: %[1]s
    - testaddr:
`

// The shipped unit runs without CAP_NET_ADMIN: then the buffer is capped
// by net.core.rmem_max and, unless that is already large enough, the log
// must say so and name the sysctl; the server still serves.
func TestReceiveBufferWithoutCapNetAdmin(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, plainConfig, "setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin")
	m := regexp.MustCompile(`listening for DHCPv4.*rcvbuf=(\d+)`).FindStringSubmatch(r.server.Log())
	if m == nil {
		t.Fatal("no 'listening for DHCPv4' line with rcvbuf")
	}
	got, _ := strconv.Atoi(m[1])
	warned := strings.Contains(r.server.Log(), "receive buffer capped by net.core.rmem_max") &&
		strings.Contains(r.server.Log(), "50-rpinetboot.conf")
	want := 2 * min(rmemMax, DefaultReceiveBuffer) // Linux reports twice the size granted
	if got != want {
		t.Errorf("rcvbuf %d with rmem_max %d, want %d", got, rmemMax, want)
	}
	if capped := rmemMax < DefaultReceiveBuffer; warned != capped {
		t.Errorf("rmem_max %d: warned about the cap: %v, want %v", rmemMax, warned, capped)
	}
}
