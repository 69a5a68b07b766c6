//go:build integration

package integration

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// envScript writes a DHCP client hook that saves its environment to
// dir/<name>.<reason>.env, so tests read exactly what the client learnt.
func envScript(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+"-hook.sh")
	script := "#!/bin/sh\nenv > '" + filepath.Join(dir, name) + "'.\"${reason:-$1}\".env\nexit 0\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// readEnv parses a saved environment file.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		ents, _ := os.ReadDir(filepath.Dir(path))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("client hook never ran for this reason: %v (found: %v)", err, names)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// runDhclient runs ISC dhclient once in ns (asking for option 43 too, so
// its absence means something) and returns the BOUND hook environment.
func runDhclient(t *testing.T, n *harness.Net, ns, iface string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "dhclient.conf")
	if err := os.WriteFile(conf, []byte("timeout 20;\ninitial-interval 1;\nbackoff-cutoff 2;\nrequest subnet-mask, broadcast-address, routers, "+
		"domain-name-servers, dhcp-lease-time, vendor-encapsulated-options, vendor-class-identifier;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := n.Run(t, ns, "dhclient", "-1", "-v", "-cf", conf, "-sf", envScript(t, dir, "dhclient"),
		"-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "dhclient.pid"), iface)
	if err != nil {
		t.Fatalf("dhclient: %v\n%s", err, out)
	}
	return readEnv(t, filepath.Join(dir, "dhclient.BOUND.env"))
}

// runUdhcpc runs udhcpc once in ns asking for option 43 and returns the
// "bound" hook environment.
func runUdhcpc(t *testing.T, n *harness.Net, ns, iface string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out, err := n.Run(t, ns, "udhcpc", "-i", iface, "-s", envScript(t, dir, "udhcpc"), "-q", "-n", "-f",
		"-t", "5", "-T", "1", "-O", "43", "-O", "60")
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	return readEnv(t, filepath.Join(dir, "udhcpc.bound.env"))
}

// ISC dhclient gets an ordinary, expiring lease (range's pool: the example
// pins only netboot clients) with the router, DNS server and lease time of
// config.yml.example, and no Raspberry Pi boot options.
func TestDhclientGetsOrdinaryLease(t *testing.T) {
	r := newBootRig(t, nil)
	ns, iface := r.net.AddClient(t, "dhclient")
	env := runDhclient(t, r.net, ns, iface)
	checks := map[string]string{
		"new_routers":             r.net.ServerIP,
		"new_domain_name_servers": r.net.ServerIP,
		"new_subnet_mask":         "255.255.255.0",
		"new_dhcp_lease_time":     "3600",
	}
	for k, want := range checks {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if !inLeasePool(r.net, env["new_ip_address"]) {
		t.Errorf("address %q outside range's pool %s200-250", env["new_ip_address"], r.net.Prefix)
	}
	for _, k := range []string{"new_vendor_encapsulated_options", "new_vendor_class_identifier"} {
		if v, ok := env[k]; ok {
			t.Errorf("dhclient got %s = %q; only netbooting Pis should", k, v)
		}
	}
}

// Busybox-style udhcpc, asking for options 43 and 60, gets an
// ordinary, expiring lease without them.
func TestUdhcpcGetsOrdinaryLease(t *testing.T) {
	r := newBootRig(t, nil)
	ns, iface := r.net.AddClient(t, "udhcpc")
	env := runUdhcpc(t, r.net, ns, iface)
	checks := map[string]string{
		"router": r.net.ServerIP,
		"dns":    r.net.ServerIP,
		"subnet": "255.255.255.0",
		"lease":  "3600",
	}
	for k, want := range checks {
		if strings.TrimSpace(env[k]) != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if !inLeasePool(r.net, env["ip"]) {
		t.Errorf("address %q outside range's pool %s200-250", env["ip"], r.net.Prefix)
	}
	for _, k := range []string{"opt43", "opt60", "vendorinfo"} {
		if v, ok := env[k]; ok {
			t.Errorf("udhcpc got %s = %q; only netbooting Pis should", k, v)
		}
	}
}

// A stock TFTP client (tftp-hpa) fetches a file from the default tree.
func TestTFTPHPAFetchesFromDefaultTree(t *testing.T) {
	r := newBootRig(t, nil)
	want := strings.Repeat("rpinetboot default tree\n", 200) // several 512-byte blocks
	if err := os.MkdirAll(filepath.Join(r.cfg.TFTPRoot, "default"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.cfg.TFTPRoot, "default", "hello.txt"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	ns, iface := r.net.AddClient(t, "tftp")
	if out, err := r.net.Run(t, ns, "ip", "addr", "add", r.net.Prefix+"20/24", "dev", iface); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := filepath.Join(t.TempDir(), "hello.txt")
	out, err := r.net.Run(t, ns, "tftp", "-m", "binary", r.net.ServerIP, "-c", "get", "hello.txt", got)
	if err != nil {
		t.Fatalf("tftp: %v\n%s", err, out)
	}
	b, err := os.ReadFile(got)
	if err != nil || string(b) != want {
		t.Fatalf("tftp fetched %d bytes (%v), want the %d bytes of default/hello.txt\n%s", len(b), err, len(want), out)
	}
}

// With macpin pin=netboot and upstream's range after it (the example's
// default), a laptop (udhcpc,
// random MAC, no PXE vendor class) gets an expiring lease from range's
// pool and is never pinned, while a Pi board is pinned from macpin's pool:
// a network of ordinary clients cannot use up the boards' addresses.
func TestPinNetbootLeavesOrdinaryClientsToRange(t *testing.T) {
	r := newBootRig(t, nil) // config.yml.example ships pin=netboot and range
	ns, iface := r.net.AddClient(t, "laptop")
	env := runUdhcpc(t, r.net, ns, iface)
	last := strings.TrimPrefix(env["ip"], r.net.Prefix)
	if !strings.HasPrefix(env["ip"], r.net.Prefix) || len(last) != 3 || last < "200" || last > "250" {
		t.Errorf("laptop got %q, want an address of range's pool %s200-250", env["ip"], r.net.Prefix)
	}
	rs := r.boot(t, piboard.Options{DHCPOnly: true}, []piboard.Board{piboard.NewBoard(piboard.Pi4, 11, 0)})
	if !rs[0].OK() || !strings.HasPrefix(rs[0].IP, r.net.Prefix+"1") {
		t.Fatalf("Pi 4: %+v, want a pin from macpin's pool %s100-199", rs[0], r.net.Prefix)
	}
	if nodes := storedPins(t, r.cfg.StorePath); len(nodes) != 1 || nodes[0].IP.String() != rs[0].IP {
		t.Errorf("pins %+v: want only the Pi's (%s), not the laptop's", nodes, rs[0].IP)
	}
}
