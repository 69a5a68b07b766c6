//go:build integration

package tftpd

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// startDaemon runs the rpi-tftpd binary with cfgPath in namespace ns and
// waits until it serves; its log is shown if the test fails.
func startDaemon(t *testing.T, n *harness.Net, ns, cfgPath string) *harness.Proc {
	t.Helper()
	p := n.Start(t, ns, "rpi-tftpd", harness.Build(t).TFTPD, "-c", cfgPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rpi-tftpd log:\n%s", p.Log())
		}
	})
	if !waitFor(10*time.Second, func() bool { return strings.Contains(p.Log(), "serving TFTP") }) {
		t.Fatalf("rpi-tftpd did not start:\n%s", p.Log())
	}
	return p
}

// TestDaemonWithTFTPHPA runs the rpi-tftpd binary in a namespace and fetches
// files with tftp-hpa: one per level of the chain (the client's 127.0.0.1 is
// pinned in a real SQLite store), a generated boot.scr, and refusals.
func TestDaemonWithTFTPHPA(t *testing.T) {
	n := harness.NewNet(t)
	ns := n.NS
	dir := t.TempDir()
	root := filepath.Join(dir, "tftp")
	tmpl, err := os.ReadFile("../examples/tftp/default/boot.scr.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, root, map[string]string{
		"default/bootcode.bin":               "default bootcode",
		"default/start4.elf":                 "default start4",
		"default/fixup4.dat":                 "default fixup4",
		"default/boot.scr.tmpl":              string(tmpl),
		"nodes/1234abcd/start4.elf":          "serial start4",
		"nodes/dc-a6-32-00-00-01/start4.elf": "mac start4",
		"models/rpi-4-b/fixup4.dat":          "model fixup4",
	})
	dbPath := filepath.Join(dir, "nodes.db")
	st, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatalf("create store: %v", err)
	}
	if err := st.Pin(context.Background(), store.Node{
		MAC: net.HardwareAddr{0xdc, 0xa6, 0x32, 0, 0, 1}, IP: netip.MustParseAddr("127.0.0.1"),
		Model: "rpi-4-b", Hostname: "pi-01", Source: store.SourceAdmin, FirstSeen: time.Now(), LastSeen: time.Now(),
	}); err != nil {
		t.Fatalf("pin: %v", err)
	}
	st.Close()
	modelsPath, _ := filepath.Abs("../examples/models.yml")
	cfgPath := filepath.Join(dir, "config.yml")
	cfg := fmt.Sprintf(`server4:
  listen: ["%%lo"]
rpi-tftpd:
  listen: 127.0.0.1:69
  root: %s
  store: %s
  models: %s
  metrics: 127.0.0.1:9469
  vars:
    nfs_server: 127.0.0.1
    nfs_root: /srv/nfs
`, root, dbPath, modelsPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, n, ns, cfgPath)
	logs := p.Log

	get := func(remote string) (string, string) {
		local := filepath.Join(dir, "got-"+strings.ReplaceAll(remote, "/", "_"))
		os.Remove(local)
		out, _ := n.Run(t, ns, "tftp", "-m", "binary", "127.0.0.1", "-c", "get", remote, local)
		b, _ := os.ReadFile(local)
		return string(b), out
	}
	for _, tc := range []struct{ level, remote, want, path string }{
		{"per-serial (Pi 4 <serial>/ prefix)", "1234abcd/start4.elf", "serial start4", "nodes/1234abcd/start4.elf"},
		{"per-MAC (client IP pinned in the store)", "start4.elf", "mac start4", "nodes/dc-a6-32-00-00-01/start4.elf"},
		{"per-model (model from the store)", "fixup4.dat", "model fixup4", "models/rpi-4-b/fixup4.dat"},
		{"default (Pi 3 bootcode.bin at root)", "bootcode.bin", "default bootcode", "default/bootcode.bin"},
	} {
		got, out := get(tc.remote)
		if got != tc.want {
			t.Errorf("%s: get %s = %q, want %q (tftp said %q)", tc.level, tc.remote, got, tc.want, out)
		}
		if !waitFor(2*time.Second, func() bool {
			return strings.Contains(logs(), fmt.Sprintf("path=%q", tc.path))
		}) {
			t.Errorf("%s: no log line with path=%s", tc.level, tc.path)
		}
	}

	// The U-Boot stage 2 for the model, rendered for this board.
	scr, out := get("rpi-4-b/boot.scr")
	h, data, err := uimage.Decode([]byte(scr))
	if err != nil {
		t.Fatalf("boot.scr from the daemon: %v (tftp said %q)", err, out)
	}
	text, _ := uimage.ScriptText(data)
	if !strings.Contains(string(text), "rpinetboot stage2: model rpi-4-b node dc:a6:32:00:00:01") {
		t.Errorf("boot.scr not rendered for the pinned node:\n%s", text)
	}
	gen := filepath.Join(dir, "got-rpi-4-b_boot.scr")
	if out, err := exec.Command("mkimage", "-l", gen).CombinedOutput(); err != nil {
		t.Errorf("mkimage -l: %v\n%s", err, out)
	}
	txt, ref := filepath.Join(dir, "stage2.txt"), filepath.Join(dir, "ref.scr")
	os.WriteFile(txt, text, 0o644)
	mk := exec.Command("mkimage", "-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", h.Name, "-d", txt, ref)
	mk.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(h.Time.Unix(), 10))
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, out)
	}
	if want, _ := os.ReadFile(ref); !bytes.Equal([]byte(scr), want) {
		t.Error("boot.scr from the daemon differs from mkimage's output for the same text")
	}

	// Refusals: a write and a traversal, each with a TFTP error.
	up := filepath.Join(dir, "upload.txt")
	os.WriteFile(up, []byte("x"), 0o644)
	out2, _ := n.Run(t, ns, "tftp", "-m", "binary", "127.0.0.1", "-c", "put", up, "upload.txt")
	if !strings.Contains(out2, "Error code 2") {
		t.Errorf("put: tftp said %q, want Error code 2", out2)
	}
	if _, out := get("../nodes.db"); !strings.Contains(out, "Error code 2") {
		t.Errorf("traversal: tftp said %q, want Error code 2", out)
	}

	// Metrics are served on the configured localhost listener.
	m, err := n.Run(t, ns, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:9469/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v\n%s", err, m)
	}
	for _, want := range []string{`rpi_tftpd_transfers_total{result="ok"} 5`, `rpi_tftpd_transfers_total{result="refused"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
