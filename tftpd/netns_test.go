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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// nsPrefix names the network namespaces these tests create, so leftovers of
// a killed run can be found and removed.
const nsPrefix = "rtftpd-"

// binDir holds the daemon built for this run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildDaemon compiles cmd/rpi-tftpd once per test binary run.
var buildDaemon = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "rpi-tftpd-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "rpi-tftpd")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/rpi-tftpd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/rpi-tftpd: %v\n%s", err, out)
	}
	return bin, nil
})

// removeStaleNamespaces deletes namespaces left by earlier runs whose test
// process is gone (the name carries its pid), ending what still runs in them.
func removeStaleNamespaces(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, nsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && syscall.Kill(pid, 0) == nil {
			continue // its test is still running
		}
		if pids, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, p := range strings.Fields(string(pids)) {
				if n, err := strconv.Atoi(p); err == nil {
					syscall.Kill(n, syscall.SIGKILL)
				}
			}
		}
		exec.Command("ip", "netns", "del", name).Run()
	}
}

var nsCounter struct {
	sync.Mutex
	n int
}

// newNetns creates a namespace with only lo up, deleted when the test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("network namespace tests need root (they run as root in CI)")
	}
	removeStaleNamespaces(t)
	nsCounter.Lock()
	nsCounter.n++
	name := fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), nsCounter.n)
	nsCounter.Unlock()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v\n%s", name, err, out)
	}
	return name
}

// syncBuffer collects a process's output for assertions while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDaemonWithTFTPHPA runs the rpi-tftpd binary in a namespace and fetches
// files with tftp-hpa: one per level of the chain (the client's 127.0.0.1 is
// pinned in a real SQLite store), a generated boot.scr, and refusals.
func TestDaemonWithTFTPHPA(t *testing.T) {
	bin, err := buildDaemon()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("tftp"); err != nil {
		t.Fatal("tftp-hpa client needed: apt-get install tftp-hpa")
	}
	ns := newNetns(t)
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
	var logs syncBuffer
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("rpi-tftpd log:\n%s", logs.String())
		}
	})
	if !waitFor(10*time.Second, func() bool { return strings.Contains(logs.String(), "serving TFTP") }) {
		t.Fatalf("rpi-tftpd did not start:\n%s", logs.String())
	}

	get := func(remote string) (string, string) {
		local := filepath.Join(dir, "got-"+strings.ReplaceAll(remote, "/", "_"))
		os.Remove(local)
		out, _ := exec.Command("ip", "netns", "exec", ns, "tftp", "-m", "binary", "127.0.0.1", "-c", "get", remote, local).CombinedOutput()
		b, _ := os.ReadFile(local)
		return string(b), string(out)
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
			return strings.Contains(logs.String(), fmt.Sprintf("path=%q", tc.path))
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
	out2, _ := exec.Command("ip", "netns", "exec", ns, "tftp", "-m", "binary", "127.0.0.1", "-c", "put", up, "upload.txt").CombinedOutput()
	if !strings.Contains(string(out2), "Error code 2") {
		t.Errorf("put: tftp said %q, want Error code 2", out2)
	}
	if _, out := get("../nodes.db"); !strings.Contains(out, "Error code 2") {
		t.Errorf("traversal: tftp said %q, want Error code 2", out)
	}

	// Metrics are served on the configured localhost listener.
	m, err := exec.Command("ip", "netns", "exec", ns, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:9469/metrics").CombinedOutput()
	if err != nil {
		t.Fatalf("scrape metrics: %v\n%s", err, m)
	}
	for _, want := range []string{`rpi_tftpd_transfers_total{result="ok"} 5`, `rpi_tftpd_transfers_total{result="refused"} 2`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
