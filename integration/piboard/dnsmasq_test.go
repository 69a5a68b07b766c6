//go:build integration

package piboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// startDnsmasq serves DHCP with the Foundation's documented Pi netboot
// answer and TFTP from root, in the server namespace of n. Replies are
// broadcast: a unicast reply makes dnsmasq pin the board's MAC in its ARP
// cache, and the simulated boards share their interface's MAC for IP.
func startDnsmasq(t *testing.T, n *harness.Net, root string, extra ...string) *harness.Proc {
	t.Helper()
	argv := append([]string{"dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground", "--user=root", "--port=0",
		"--pid-file=" + filepath.Join(n.Dir, "dnsmasq.pid"),
		"--interface=" + n.Bridge, "--bind-interfaces", "--no-ping", "--dhcp-broadcast", "--log-dhcp", "--log-facility=-",
		"--dhcp-range=" + n.Prefix + "100," + n.Prefix + "200,255.255.255.0,1h",
		"--dhcp-leasefile=" + filepath.Join(n.Dir, "dnsmasq.leases"),
		"--pxe-service=0,Raspberry Pi Boot", "--enable-tftp", "--tftp-root=" + root}, extra...)
	// deps: dnsmasq
	p := n.Start(t, n.NS, "dnsmasq", argv...)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Log(), "TFTP root") {
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("dnsmasq did not start:\n%s", p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// The simulated boards boot from dnsmasq, the server the Foundation
// documents, so the simulator's expectations match real boards'.
func TestBoardsBootFromDnsmasq(t *testing.T) {
	n := harness.NewNet(t)
	ns, iface := n.AddClient(t, "boards")
	root := filepath.Join(n.Dir, "tftp")
	pi3 := NewBoard(Pi3, 1, 0)
	pi4 := NewBoard(Pi4, 1, 1)
	pi5 := NewBoard(Pi5, 1, 2)
	want := map[string]string{}
	// Pi 3: no <serial>/ dir, so start.elf falls back to the root.
	for i, name := range DefaultFiles(Pi3) {
		want[name] = writeFile(t, filepath.Join(root, name), bytes.Repeat([]byte{byte(i)}, 700*i+3))
	}
	for _, b := range []Board{pi4, pi5} {
		for i, name := range DefaultFiles(b.Model) {
			p := b.SerialHex() + "/" + name
			size := 2400*i + 8
			if name == "kernel8.img" {
				size = 2048 // a whole number of 1024-byte blocks ends with an empty DATA
			}
			want[p] = writeFile(t, filepath.Join(root, p), bytes.Repeat([]byte(b.SerialHex()), size/8))
		}
	}
	d := startDnsmasq(t, n, root)
	defer func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", d.Log())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	steps := map[string][]Progress{}
	onProgress := func(b Board, p Progress) {
		mu.Lock()
		steps[b.MAC.String()] = append(steps[b.MAC.String()], p)
		mu.Unlock()
	}
	rs, err := Run(ctx, Options{NS: ns, Iface: iface, RetryInterval: time.Second, DuplicateRRQ: "start4.elf", OnProgress: onProgress},
		[]Board{pi3, pi4, pi5})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		checkProgress(t, r, steps[r.MAC])
	}
	for _, r := range rs {
		if !r.OK() {
			t.Errorf("%s %s: %s", r.Model, r.MAC, r.Error)
			continue
		}
		if !strings.HasPrefix(r.IP, n.Prefix) {
			t.Errorf("%s got address %s, want one in %s0/24", r.Model, r.IP, n.Prefix)
		}
		for _, f := range r.Files {
			if f.Error != "" {
				continue
			}
			if f.SHA256 != want[f.Name] {
				t.Errorf("%s: %s has sha256 %s, want %s", r.Model, f.Name, f.SHA256, want[f.Name])
			}
		}
		if got, wantN := len(r.Files), len(DefaultFiles(r.Model)); r.Model != Pi3 && got != wantN {
			t.Errorf("%s fetched %d files, want %d", r.Model, got, wantN)
		}
		t.Logf("%s %s ip=%s address %.1f ms, last byte %.1f ms, files %v", r.Model, r.MAC, r.IP, r.AddressMS, r.LastByteMS, fileNames(r.Files))
	}
	if rs[0].Files[1].Error == "" || rs[0].Files[2].Name != "start.elf" {
		t.Errorf("Pi 3 did not fall back from <serial>/start.elf to start.elf: %v", fileNames(rs[0].Files))
	}
}

func fileNames(fs []File) string {
	var s []string
	for _, f := range fs {
		x := fmt.Sprintf("%s(%d)", f.Name, f.Bytes)
		if f.Error != "" {
			x += "!"
		}
		s = append(s, x)
	}
	return strings.Join(s, " ")
}

// checkProgress asserts what a live view sees of a board that booted: DHCP
// first, then one report per file in order with the address known and the
// count rising, then booted with every file and byte counted.
func checkProgress(t *testing.T, r Result, ps []Progress) {
	t.Helper()
	if !r.OK() {
		return
	}
	if len(ps) < 3 || ps[0].Step != StepDHCP || ps[len(ps)-1].Step != StepBooted {
		t.Errorf("%s: progress %+v, want dhcp ... booted", r.Model, ps)
		return
	}
	total := len(DefaultFiles(r.Model))
	done := 0
	for _, p := range ps[1 : len(ps)-1] {
		if p.Step != StepTFTP || p.IP.String() != r.IP || p.File == "" || p.Done < done || p.Total != total {
			t.Errorf("%s: progress report %+v, want tftp of a file with ip %s, done >= %d of %d", r.Model, p, r.IP, done, total)
		}
		done = p.Done
	}
	last := ps[len(ps)-1]
	if last.Done != total || last.Total != total || last.Bytes != fileBytes(r.Files) || last.Bytes == 0 {
		t.Errorf("%s: final report %+v, want %d/%d files and %d bytes", r.Model, last, total, total, fileBytes(r.Files))
	}
	if n := len(ps) - 2; n < total {
		t.Errorf("%s: %d file reports for %d files", r.Model, n, total)
	}
}
