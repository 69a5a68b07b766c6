//go:build integration

package tftpd

import (
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// TestVethMTUClamp runs the daemon in one namespace and a client in another,
// joined by a veth pair with the Ethernet MTU: a blksize beyond the link
// (U-Boot may ask for more than 1468) is clamped to 1468 so no block
// fragments, the EEPROM's 1024 is kept, and files arrive intact.
func TestVethMTUClamp(t *testing.T) {
	// The harness joins the client to the server's bridge by a veth pair;
	// both keep the Ethernet MTU, 1500.
	n := harness.NewNet(t)
	cliNS, iface := n.AddClient(t, "tftp")
	srvIP, cliIP := net.ParseIP(n.ServerIP), net.ParseIP(n.Prefix+"2")
	if out, err := n.Run(t, cliNS, "ip", "addr", "add", n.Prefix+"2/24", "dev", iface); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	dir := t.TempDir()
	want := randomFile(t, filepath.Join(dir, "tftp", "default", "kernel8.img"), 1<<20+3)
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("rpi-tftpd:\n  listen: %s:69\n  root: %s\n", n.ServerIP, filepath.Join(dir, "tftp"))), 0o644)
	startDaemon(t, n, n.NS, cfg)

	for _, tc := range []struct{ ask, want string }{{"8192", "1468"}, {"1468", "1468"}, {"1024", "1024"}} {
		conn, err := harness.ListenUDP(cliNS, &net.UDPAddr{IP: cliIP})
		if err != nil {
			t.Fatal(err)
		}
		c := &testClient{
			conn:    conn,
			server:  &net.UDPAddr{IP: srvIP, Port: 69},
			timeout: 2 * time.Second, tids: map[int]bool{},
		}
		got, oack, err := c.get("kernel8.img", 0, "tsize", "0", "blksize", tc.ask)
		c.close()
		if err != nil {
			t.Fatalf("blksize %s over veth: %v", tc.ask, err)
		}
		if oack["blksize"] != tc.want {
			t.Errorf("asked blksize %s on a 1500-byte link: OACK %s, want %s", tc.ask, oack["blksize"], tc.want)
		}
		if sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("blksize %s: content differs", tc.ask)
		}
	}
}
