package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// These tests drive run() against a real SQLite store in a temp dir.

type result struct {
	code           int
	stdout, stderr string
}

func rpc(t *testing.T, args ...string) result {
	t.Helper()
	var o, e bytes.Buffer
	code := run(args, &o, &e)
	return result{code, o.String(), e.String()}
}

func (r result) want(t *testing.T, code int, out ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, o := range out {
		if !strings.Contains(all, o) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", o, r.stdout, r.stderr)
		}
	}
}

func tempStore(t *testing.T) string {
	return filepath.Join(t.TempDir(), "nodes.db")
}

// storeNodes reads the store directly, the way coredhcp would see it.
func storeNodes(t *testing.T, dsn string) []store.Node {
	t.Helper()
	st, err := store.Open(dsn, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ns, err := st.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestHelpAndUsage(t *testing.T) {
	rpc(t, "help").want(t, exitOK, "nodes import-isc", "stage1 --model")
	rpc(t).want(t, exitUsage, "Commands:")
	rpc(t, "frobnicate").want(t, exitUsage, `unknown command "frobnicate"`)
	rpc(t, "nodes", "pin", "-h").want(t, exitOK, "--hostname")
	rpc(t, "stage1", "--help").want(t, exitOK, "--vci")
	rpc(t, "nodes", "list", "--bogus").want(t, exitUsage, "unknown flag: --bogus")
}

func TestNodesPinShowListUnpin(t *testing.T) {
	db := tempStore(t)
	rpc(t, "--store", db, "nodes", "pin", "B8:27:EB:00:00:01", "10.0.0.5", "--model", "rpi-3-b-plus", "--hostname", "pi1").
		want(t, exitOK, "pinned b8:27:eb:00:00:01 to 10.0.0.5")
	// Global flags work after the command too.
	rpc(t, "nodes", "pin", "dc-a6-32-00-00-02", "10.0.0.6", "--store", db).want(t, exitOK)

	r := rpc(t, "--store", db, "nodes", "list")
	r.want(t, exitOK, "MAC", "LAST SEEN", "b8:27:eb:00:00:01  10.0.0.5  rpi-3-b-plus", "pi1", "admin")
	if lines := strings.Count(r.stdout, "\n"); lines != 3 {
		t.Errorf("list has %d lines, want header + 2:\n%s", lines, r.stdout)
	}

	r = rpc(t, "--store", db, "nodes", "list", "--json")
	r.want(t, exitOK)
	var got []nodeJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("list --json is not JSON: %v\n%s", err, r.stdout)
	}
	if len(got) != 2 || got[0].MAC != "b8:27:eb:00:00:01" || got[0].Model != "rpi-3-b-plus" || got[0].Source != "admin" || got[0].FirstSeen == nil {
		t.Errorf("list --json = %+v", got)
	}

	rpc(t, "--store", db, "nodes", "show", "b8:27:eb:0:0:1").want(t, exitOK, "IP:", "10.0.0.5", "Hostname:", "pi1")
	rpc(t, "--store", db, "nodes", "show", "02:00:00:00:00:99").want(t, exitFail, "02:00:00:00:00:99 is not pinned")
	rpc(t, "--store", db, "nodes", "show", "not-a-mac").want(t, exitUsage, `MAC "not-a-mac"`)

	// Conflicts are refused with who holds what, and change nothing.
	rpc(t, "--store", db, "nodes", "pin", "02:00:00:00:00:03", "10.0.0.5").
		want(t, exitFail, "refused: 10.0.0.5 is already pinned to b8:27:eb:00:00:01 (source admin)")
	rpc(t, "--store", db, "nodes", "pin", "b8:27:eb:00:00:01", "10.0.0.7").
		want(t, exitFail, "refused: b8:27:eb:00:00:01 is already pinned to 10.0.0.5", "unpin it first")
	rpc(t, "--store", db, "nodes", "pin", "b8:27:eb:00:00:01", "fe80::1").want(t, exitUsage, "want an IPv4 address")
	if n := len(storeNodes(t, db)); n != 2 {
		t.Fatalf("%d nodes after refused pins, want 2", n)
	}

	rpc(t, "--store", db, "nodes", "unpin", "b8:27:eb:00:00:01").want(t, exitOK, "unpinned b8:27:eb:00:00:01")
	rpc(t, "--store", db, "nodes", "unpin", "b8:27:eb:00:00:01").want(t, exitFail, "is not pinned")
	// The freed address can go to another board now.
	rpc(t, "--store", db, "nodes", "pin", "02:00:00:00:00:03", "10.0.0.5").want(t, exitOK)
}

func TestStoreFromConfig(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "pins.db")
	cfg := filepath.Join(dir, "config.yml")
	write(t, cfg, "server4:\n  plugins:\n    - server_id: 10.0.0.1\n    - macpin: sqlite:"+db+" 10.0.0.100 10.0.0.200 1h\n")
	rpc(t, "-c", cfg, "nodes", "pin", "02:00:00:00:00:01", "10.0.0.9").want(t, exitOK)
	if ns := storeNodes(t, db); len(ns) != 1 {
		t.Fatalf("macpin's store holds %d nodes, want 1", len(ns))
	}
	// Without macpin, rpi-tftpd.store names it.
	cfg2 := filepath.Join(dir, "tftpd.yml")
	write(t, cfg2, "rpi-tftpd:\n  root: /srv\n  store: "+db+"\n")
	rpc(t, "nodes", "show", "02:00:00:00:00:01", "--config", cfg2).want(t, exitOK, "10.0.0.9")

	rpc(t, "-c", filepath.Join(dir, "missing.yml"), "nodes", "list").want(t, exitFail, "pass --store DSN", "does not exist")
	cfg3 := filepath.Join(dir, "nostore.yml")
	write(t, cfg3, "server4:\n  plugins:\n    - server_id: 10.0.0.1\n")
	rpc(t, "-c", cfg3, "nodes", "list").want(t, exitFail, "names no store")
	// A read-only command never creates a store.
	rpc(t, "--store", filepath.Join(dir, "none.db"), "nodes", "list").want(t, exitFail, "open store")
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("nodes list created a store file")
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const fixtures = "../../internal/iscimport/testdata/"

func TestImportISC(t *testing.T) {
	db := tempStore(t)
	r := rpc(t, "--store", db, "import-isc", fixtures+"dhcpd.conf", fixtures+"dhcpd.leases")
	r.want(t, exitOK,
		"pinned 6 node(s) (3 host(s), 3 active lease(s))",
		"    - macpin: "+db+" 192.168.50.100 192.168.50.199 1h range=10.20.1.10-10.20.1.50\n",
		"    - rpipxe: form=string\n",
		"warning: "+fixtures+"dhcpd.conf:2: not imported: ddns-update-style none")
	// Warnings go to stderr; stdout stays YAML an admin can paste.
	if strings.Contains(r.stdout, "warning:") {
		t.Errorf("warnings leaked into stdout:\n%s", r.stdout)
	}
	// What it prints is a server4 section this build accepts as it is.
	var fc fileConfig
	if err := yaml.Unmarshal([]byte(r.stdout), &fc); err != nil || fc.Server4 == nil {
		t.Fatalf("stdout is not a server4 YAML section: %v\n%s", err, r.stdout)
	}
	for _, p := range fc.Server4.Plugins {
		for name, v := range p {
			if probs := checkPlugin(name, pluginArgs(v), new(int)); len(probs) > 0 {
				t.Errorf("printed stanza %s: %v", name, probs)
			}
		}
	}
	if len(fc.Server4.Plugins) != 7 {
		t.Errorf("printed %d stanzas, want 7 (server_id netmask router dns lease_time rpipxe macpin)", len(fc.Server4.Plugins))
	}
	ns := storeNodes(t, db)
	want := map[string]string{
		"b8:27:eb:00:00:01": "192.168.50.11", "dc:a6:32:00:00:02": "192.168.50.12", "e4:5f:01:00:00:03": "10.20.0.13",
		"2c:cf:67:00:02:01": "10.20.1.10", "d8:3a:dd:00:00:99": "192.168.50.100", "dc:a6:32:00:01:01": "192.168.50.101",
	}
	if len(ns) != len(want) {
		t.Fatalf("store holds %d nodes, want %d: %+v", len(ns), len(want), ns)
	}
	for _, n := range ns {
		if want[n.MAC.String()] != n.IP.String() || n.Source != store.SourceImport {
			t.Errorf("node %s %s %s, want %s import", n.MAC, n.IP, n.Source, want[n.MAC.String()])
		}
	}
	// Importing the same setup again is harmless (the pins already agree).
	rpc(t, "--store", db, "nodes", "import-isc", fixtures+"dhcpd.conf", fixtures+"dhcpd.leases").want(t, exitOK, "pinned 6 node(s)")
	if n := len(storeNodes(t, db)); n != 6 {
		t.Errorf("re-import left %d nodes, want 6", n)
	}
}

func TestImportISCDryRun(t *testing.T) {
	db := tempStore(t)
	rpc(t, "--store", db, "nodes", "pin", "02:00:00:00:00:01", "10.9.9.9").want(t, exitOK)
	rpc(t, "--store", db, "import-isc", "--dry-run", fixtures+"dhcpd.conf", fixtures+"dhcpd.leases").
		want(t, exitOK, "would pin 6 node(s)", "b8:27:eb:00:00:01  192.168.50.11")
	if n := len(storeNodes(t, db)); n != 1 {
		t.Fatalf("dry run wrote: %d nodes, want 1", n)
	}
	// With no store at all, a dry run still shows the plan.
	missing := filepath.Join(t.TempDir(), "new.db")
	rpc(t, "--store", missing, "import-isc", "--dry-run", fixtures+"dhcpd.conf").
		want(t, exitOK, "would pin 3 node(s)", "pins not checked against the store")
	if _, err := os.Stat(missing); err == nil {
		t.Error("dry run created the store")
	}
}

// Every conflicting input is refused with a message naming it, and the store
// keeps exactly what it had.
func TestImportISCConflictsWriteNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"two MACs one IP", []string{fixtures + "conflict-two-macs.conf"}, "192.168.50.20 is given to b8:27:eb:00:00:02"},
		{"one MAC two IPs", []string{fixtures + "conflict-two-ips.conf"}, "b8:27:eb:00:00:01 would get 192.168.50.21"},
		{"outside subnets", []string{fixtures + "conflict-outside.conf"}, "10.9.9.9 is outside every declared subnet"},
		{"lease outside", []string{fixtures + "dhcpd.conf", fixtures + "conflict-lease-outside.leases"}, "outside every declared subnet"},
		{"lease on a host's address", []string{fixtures + "dhcpd.conf", fixtures + "conflict-lease-on-host.leases"}, "but host pi-01"},
		{"store holds the IP", []string{fixtures + "dhcpd.conf"}, "192.168.50.12 is for dc:a6:32:00:00:02, but the store pins it to 02:00:00:00:00:aa (source admin)"},
		{"store holds the MAC", []string{fixtures + "dhcpd.conf"}, "b8:27:eb:00:00:01 would get 192.168.50.11, but the store pins it to 192.168.50.77"},
		{"hostname fixed-address", []string{"testdata/fixed-hostname.conf"}, `fixed-address "pi-07.lab.example.org" is a host name`},
		{"not a config", []string{fixtures + "dhcpd.leases"}, "declares no subnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tempStore(t)
			// What the store already holds: an admin pin, and for two cases the blocker.
			rpc(t, "--store", db, "nodes", "pin", "02:00:00:00:00:01", "192.168.50.250").want(t, exitOK)
			switch tc.name {
			case "store holds the IP":
				rpc(t, "--store", db, "nodes", "pin", "02:00:00:00:00:aa", "192.168.50.12").want(t, exitOK)
			case "store holds the MAC":
				rpc(t, "--store", db, "nodes", "pin", "b8:27:eb:00:00:01", "192.168.50.77").want(t, exitOK)
			}
			before := storeNodes(t, db)
			rpc(t, append([]string{"--store", db, "import-isc"}, tc.args...)...).want(t, exitFail, tc.want)
			after := storeNodes(t, db)
			if len(after) != len(before) {
				t.Fatalf("refused import changed the store: %d nodes before, %d after", len(before), len(after))
			}
		})
	}
}

func TestStage1Image(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "boot.scr")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	rpc(t, "stage1", "--model", "rpi-4-b", "--arch", "arm64", "-o", out).want(t, exitOK, "wrote "+out)
	img, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	h, data, err := uimage.Decode(img)
	if err != nil {
		t.Fatalf("stage1 image does not decode: %v", err)
	}
	if h.Type != uimage.TypeScript || h.Arch != uimage.ArchARM64 || h.Time.Unix() != 1700000000 {
		t.Errorf("header = %+v", h)
	}
	text, err := uimage.ScriptText(data)
	if err != nil {
		t.Fatal(err)
	}
	r := rpc(t, "stage1", "--model", "rpi-4-b", "--text")
	r.want(t, exitOK, "setenv bootp_vci rpi-4-b\n")
	if string(text) != r.stdout {
		t.Errorf("image text differs from --text:\n%s\n---\n%s", text, r.stdout)
	}

	// mkimage lists it, and builds the very same bytes from the same text.
	list, err := exec.Command("mkimage", "-l", out).CombinedOutput()
	if err != nil {
		t.Fatalf("mkimage -l refused the image: %v\n%s", err, list)
	}
	if !strings.Contains(string(list), "Script") || !strings.Contains(string(list), "AArch64") {
		t.Errorf("mkimage -l:\n%s", list)
	}
	txt := filepath.Join(dir, "stage1.txt")
	write(t, txt, r.stdout)
	ref := filepath.Join(dir, "ref.scr")
	cmd := exec.Command("mkimage", "-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "rpinetboot stage1 rpi-4-b", "-d", txt, ref)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, b)
	}
	refImg, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img, refImg) {
		t.Errorf("stage1 image differs from mkimage's (%d vs %d bytes)", len(img), len(refImg))
	}
}

func TestStage1Refusals(t *testing.T) {
	out := filepath.Join(t.TempDir(), "boot.scr")
	rpc(t, "stage1", "-o", out).want(t, exitUsage, "--model is required")
	rpc(t, "stage1", "--model", "rpi-4-b; reset", "-o", out).want(t, exitUsage, `model "rpi-4-b; reset"`)
	rpc(t, "stage1", "--model", "rpi-4-b", "--arch", "x86", "-o", out).want(t, exitUsage, `--arch "x86"`)
	rpc(t, "stage1", "--model", "rpi-4-b", "--vci", "pxe", "-o", out).want(t, exitUsage, "want rpi or walt")
	rpc(t, "stage1", "--model", "rpi-4-b").want(t, exitUsage, "-o FILE or --text")
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	rpc(t, "stage1", "--model", "rpi-4-b", "-o", out).want(t, exitUsage, `SOURCE_DATE_EPOCH "yesterday"`)
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused stage1 wrote its output")
	}
	rpc(t, "stage1", "--model", "rpi-3-b", "--vci", "walt", "--text").want(t, exitOK, "setenv bootp_vci walt.node.rpi-3-b\n")
}

// exampleConfig is config.yml.example with its paths moved into dir, as the
// example's header says tests do.
func exampleConfig(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../../config.yml.example")
	if err != nil {
		t.Fatal(err)
	}
	models, err := filepath.Abs("../../examples/models.yml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "/etc/rpinetboot/models.yml", models)
	s = strings.ReplaceAll(s, "/var/lib/rpinetboot", dir)
	s = strings.ReplaceAll(s, "/srv/rpinetboot", dir)
	p := filepath.Join(dir, "config.yml")
	write(t, p, s)
	return p
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := exampleConfig(t, dir)
	rpc(t, "config", "check", "-c", good).want(t, exitOK, ": OK (", " plugins, ")

	// The example's store works for node commands too.
	rpc(t, "-c", good, "nodes", "pin", "02:00:00:00:00:01", "192.168.50.100").want(t, exitOK)
	if n := storeNodes(t, filepath.Join(dir, "nodes.db")); len(n) != 1 {
		t.Errorf("store from the example config holds %d nodes", len(n))
	}

	orig, _ := os.ReadFile(good)
	for _, tc := range []struct{ from, to, want string }{
		{"- rpipxe:", "- rpi_pxe:", `rpi_pxe: unknown plugin`},
		{"192.168.50.100 192.168.50.199 1h", "192.168.50.100 192.168.50.199 forever", `lease-time "forever"`},
		{"192.168.50.100 192.168.50.199 1h", "192.168.50.199 192.168.50.100 1h range=10.0.0.9-10.0.0.1", "the last address is below the first"},
		{"192.168.50.100 192.168.50.199 1h", "192.168.50.100 192.168.50.199 1h reserve=zz=10.0.0.1", "want reserve=MAC=IP"},
		{"192.168.50.100 192.168.50.199 1h", "192.168.50.100 192.168.50.199 1h reserve=dc:a6:32:01:02:03=10.20.9.1=bmc1 reserve=02:00:00:00:00:01=bmc2", `"reserve=02:00:00:00:00:01=bmc2": "bmc2" is not an IPv4 address`},
		{"- netmask: 255.255.255.0", "- netmask: 24", "got: 24"},
		{"root: " + dir + "/tftp", "#root:", "rpi-tftpd.root: missing"},
		{"\nrpi-tftpd:", "\nrpi-tftp:", `unknown top-level section "rpi-tftp"`},
		{"  plugins:", "  plugins: {}\n  old_plugins:", "YAML"},
	} {
		bad := filepath.Join(dir, "bad.yml")
		write(t, bad, strings.Replace(string(orig), tc.from, tc.to, 1))
		rpc(t, "config", "check", "-c", bad).want(t, exitFail, tc.want)
	}
	// A models.yml that does not load is reported with its own error.
	brokenModels := filepath.Join(dir, "models.yml")
	write(t, brokenModels, "models:\n  rpi-4-b:\n    arch: mips\n")
	bad := filepath.Join(dir, "bad.yml")
	models, _ := filepath.Abs("../../examples/models.yml")
	write(t, bad, strings.ReplaceAll(string(orig), models, brokenModels))
	rpc(t, "config", "check", "-c", bad).want(t, exitFail, `arch "mips": want arm or arm64`)
	rpc(t, "config", "check", "-c", filepath.Join(dir, "nope.yml")).want(t, exitFail, "no such file")
}

// parseMAC takes what admins paste, and nothing that is not Ethernet.
func TestParseMAC(t *testing.T) {
	for _, s := range []string{"b8:27:eb:00:00:01", "B8-27-EB-00-00-01", "b827.eb00.0001", "b8:27:eb:0:0:1"} {
		m, err := parseMAC(s)
		if err != nil || !bytes.Equal(m, net.HardwareAddr{0xb8, 0x27, 0xeb, 0, 0, 1}) {
			t.Errorf("parseMAC(%q) = %v, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "b8:27:eb", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", "10.0.0.1"} {
		if _, err := parseMAC(s); err == nil {
			t.Errorf("parseMAC(%q) accepted", s)
		}
	}
}

// Text a client once put in the store (or a store from before host names
// were checked) is shown, never obeyed: no terminal escape, no line break
// in the table or in `nodes show`.
func TestNodesOutputEscapesStoredText(t *testing.T) {
	db := tempStore(t)
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{0xdc, 0xa6, 0x32, 9, 9, 9}
	if err := st.Pin(context.Background(), store.Node{MAC: mac, IP: netip.MustParseAddr("10.0.0.9"), Source: store.SourcePool,
		Hostname: "pi\x1b[2J\nsetenv bootcmd reset", Model: "rpi\x07"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range [][]string{{"nodes", "list"}, {"nodes", "show", mac.String()}} {
		r := rpc(t, append([]string{"-c", "/nonexistent", "--store", db}, args...)...)
		if r.code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		if strings.ContainsAny(r.stdout, "\x1b\x07") || strings.Contains(r.stdout, "\nsetenv") {
			t.Errorf("%v printed raw client text:\n%q", args, r.stdout)
		}
		if !strings.Contains(r.stdout, `pi\x1b[2J\x0asetenv`) {
			t.Errorf("%v: host name not shown escaped:\n%s", args, r.stdout)
		}
	}
}

// declined list shows what clients DECLINEd; clear gives it back at once.
func TestDeclinedListAndClear(t *testing.T) {
	db := tempStore(t)
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{0xdc, 0xa6, 0x32, 1, 1, 1}
	for _, ip := range []string{"10.0.0.7", "10.0.0.8"} {
		if err := st.Decline(context.Background(), store.Declined{IP: netip.MustParseAddr(ip), MAC: mac, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	rpc(t, "--store", db, "declined", "list").want(t, exitOK, "10.0.0.7", "10.0.0.8", mac.String())
	rpc(t, "--store", db, "declined", "clear", "10.0.0.7").want(t, exitOK, "cleared 10.0.0.7")
	rpc(t, "--store", db, "declined", "clear", "10.0.0.7").want(t, exitFail, "is not declined")
	rpc(t, "--store", db, "declined", "clear").want(t, exitUsage, "one IP or --all")
	rpc(t, "--store", db, "declined", "clear", "--all").want(t, exitOK, "cleared 10.0.0.8")
	if r := rpc(t, "--store", db, "declined", "list", "--json"); r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("after clear --all: %q", r.stdout)
	}
}
