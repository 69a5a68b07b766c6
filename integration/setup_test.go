//go:build integration

// Package integration holds the end-to-end tests: the real coredhcp and
// rpi-tftpd built from this repository, started on config.yml.example inside
// network namespaces, against simulated Raspberry Pi boards (piboard), real
// Linux DHCP clients, tftp-hpa, dnsmasq as the reference, and QEMU U-Boot.
// They need root and the Debian packages listed in scripts/deps.sh.
package integration

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// bootRig is one running server pair plus a client namespace for boards.
type bootRig struct {
	net   *harness.Net
	srv   *harness.Servers
	cfg   harness.Config
	ns    string // the boards' client namespace
	iface string
	link  *piboard.Link
}

// newBootRig renders config.yml.example, lets edit adjust the rendered file
// (nil: run it as shipped), starts both daemons and opens a board link.
func newBootRig(t *testing.T, edit func(t *testing.T, n *harness.Net, cfg harness.Config)) *bootRig {
	t.Helper()
	r := &bootRig{net: harness.NewNet(t)}
	r.cfg = r.net.RenderConfig(t)
	if edit != nil {
		edit(t, r.net, r.cfg)
	}
	r.srv = r.net.StartServers(t, r.cfg)
	r.ns, r.iface = r.net.AddClient(t, "boards")
	l, err := piboard.OpenLink(r.ns, r.iface)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r.link = l
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("coredhcp log (tail):\n%s", tail(r.srv.DHCP.Log(), 40))
			t.Logf("rpi-tftpd log (tail):\n%s", tail(r.srv.TFTP.Log(), 40))
		}
	})
	return r
}

// exchange sends req and returns the server's answer, failing the test if
// none comes within 3 s.
func (r *bootRig) exchange(t *testing.T, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := r.link.Exchange(ctx, req, 3*time.Second)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return rep.Msg
}

// boot runs boards on the rig's link with short retry intervals.
func (r *bootRig) boot(t *testing.T, o piboard.Options, boards []piboard.Board) []piboard.Result {
	t.Helper()
	o.NS, o.Iface = r.ns, r.iface
	if o.RetryInterval == 0 {
		o.RetryInterval = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return r.link.Run(ctx, o, boards)
}

// inPool reports whether ip lies in the example's macpin range (.100-.199).
func inPool(n *harness.Net, ip string) bool { return inLast(n, ip, 100, 199) }

// inLeasePool reports whether ip lies in the example's range pool
// (.200-.250), where ordinary clients get expiring leases.
func inLeasePool(n *harness.Net, ip string) bool { return inLast(n, ip, 200, 250) }

func inLast(n *harness.Net, ip string, lo, hi byte) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil || !strings.HasPrefix(ip, n.Prefix) {
		return false
	}
	last := a.As4()[3]
	return last >= lo && last <= hi
}

// rewriteConfig replaces old by new in the rendered config, failing when
// old is absent (the example changed under the test).
func rewriteConfig(t *testing.T, cfg harness.Config, old, new string) {
	t.Helper()
	b, err := os.ReadFile(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("config.yml.example no longer contains %q; update the test", old)
	}
	if err := os.WriteFile(cfg.Path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// storedPins reads every pin of the store at dsn (a SQLite path or a
// postgres:// DSN) read-only, as rpinetctl would.
func storedPins(t *testing.T, dsn string) []store.Node {
	t.Helper()
	st, err := store.Open(dsn, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open store %s: %v", dsn, err)
	}
	defer st.Close()
	nodes, err := st.Nodes(context.Background())
	if err != nil {
		t.Fatalf("store %s: %v", dsn, err)
	}
	return nodes
}
