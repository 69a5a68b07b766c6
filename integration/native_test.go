//go:build integration

package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// tree writes files under the TFTP root and remembers which copy holds what.
type tree struct {
	t    *testing.T
	root string
	sums map[string]string // root-relative path -> sha256
}

func (tr *tree) put(rel string, data []byte) {
	tr.t.Helper()
	p := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tr.t.Fatal(err)
	}
	s := sha256.Sum256(data)
	tr.sums[rel] = hex.EncodeToString(s[:])
}

// content is size bytes that name their tree, so a wrong copy is obvious in a diff.
func content(label string, size int) []byte {
	return bytes.Repeat([]byte(label+"\n"), size/(len(label)+1)+1)[:size]
}

// Pi 3B+, Pi 4 and Pi 5 boards netboot natively through
// rpi-tftpd, each file coming from the most specific tree that has it:
// nodes/<serial>/, nodes/<mac>/, models/<model>/, default/. The Pi 4/5
// use blksize 1024, abort a tsize probe before each file, and the Pi 4
// sends a duplicate RRQ for start4.elf.
func TestNativeNetbootFromTrees(t *testing.T) {
	r := newBootRig(t, nil)
	pi3 := piboard.NewBoard(piboard.Pi3, 61, 0)
	pi4 := piboard.NewBoard(piboard.Pi4, 61, 1)
	pi5 := piboard.NewBoard(piboard.Pi5, 61, 2)
	tr := &tree{t: t, root: r.cfg.TFTPRoot, sums: map[string]string{}}
	sizes := map[string]int{"start.elf": 70001, "start4.elf": 64 * 1024, "kernel8.img": 300001, "kernel_2712.img": 250000, "bootcode.bin": 51200}
	for _, b := range []piboard.Board{pi3, pi4, pi5} {
		for _, f := range piboard.DefaultFiles(b.Model) {
			size := sizes[f]
			if size == 0 {
				size = 1500
			}
			tr.put("default/"+f, content("default/"+f, size))
		}
	}
	mac5 := strings.ReplaceAll(pi5.MAC.String(), ":", "-")
	tr.put("models/rpi-4-b/start4.elf", content("models/rpi-4-b/start4.elf", 64*1024))
	tr.put("models/rpi-5-b/kernel_2712.img", content("models/rpi-5-b/kernel_2712.img", 250000))
	tr.put("nodes/"+pi4.SerialHex()+"/cmdline.txt", content("nodes/pi4/cmdline.txt", 97))
	tr.put("nodes/"+pi3.SerialHex()+"/config.txt", content("nodes/pi3/config.txt", 120))
	tr.put("nodes/"+mac5+"/config.txt", content("nodes/pi5-mac/config.txt", 130))

	// Which tree each board must get each file from.
	want := map[string]map[string]string{
		pi3.MAC.String(): {"config.txt": "nodes/" + pi3.SerialHex() + "/config.txt"},
		pi4.MAC.String(): {"start4.elf": "models/rpi-4-b/start4.elf", "cmdline.txt": "nodes/" + pi4.SerialHex() + "/cmdline.txt"},
		pi5.MAC.String(): {"kernel_2712.img": "models/rpi-5-b/kernel_2712.img", "config.txt": "nodes/" + mac5 + "/config.txt"},
	}
	rs := r.boot(t, piboard.Options{DuplicateRRQ: "start4.elf"}, []piboard.Board{pi3, pi4, pi5})
	for _, res := range rs {
		if !res.OK() {
			t.Errorf("%s %s did not boot: %s (files so far: %s)", res.Model, res.MAC, res.Error, describe(res.Files))
			continue
		}
		got := 0
		for _, f := range res.Files {
			if f.Error != "" {
				continue
			}
			got++
			base := f.Name[strings.LastIndex(f.Name, "/")+1:]
			src, special := want[res.MAC][base]
			if !special {
				src = "default/" + base
			}
			wantBlk := 1024 // the EEPROM's blksize
			if res.Model == piboard.Pi3 {
				wantBlk = 512 // the ROM sends no options
			}
			if f.Blksize != wantBlk {
				t.Errorf("%s: %s went in %d-byte blocks, want %d", res.Model, f.Name, f.Blksize, wantBlk)
			}
			if f.SHA256 != tr.sums[src] {
				t.Errorf("%s %s: %s is not the copy in %s (%d bytes)", res.Model, res.MAC, f.Name, src, f.Bytes)
			}
		}
		if got != len(piboard.DefaultFiles(res.Model)) {
			t.Errorf("%s fetched %d files, want %d: %s", res.Model, got, len(piboard.DefaultFiles(res.Model)), describe(res.Files))
		}
		t.Logf("%s %s ip %s: address in %.1f ms, last byte at %.1f ms", res.Model, res.MAC, res.IP, res.AddressMS, res.LastByteMS)
	}
	// The Pi 3 asks for its serial directory first; with the resolver's
	// fallback the request succeeds, so later files carry the prefix too.
	if len(rs[0].Files) > 1 && !strings.HasPrefix(rs[0].Files[1].Name, pi3.SerialHex()+"/") {
		t.Errorf("Pi 3 second request %q, want %s/start.elf", rs[0].Files[1].Name, pi3.SerialHex())
	}
}

func describe(fs []piboard.File) string {
	var s []string
	for _, f := range fs {
		x := fmt.Sprintf("%s(%d)", f.Name, f.Bytes)
		if f.Error != "" {
			x += "[" + f.Error + "]"
		}
		s = append(s, x)
	}
	return strings.Join(s, " ")
}

// The piboard command (reused by benchmarks and `make demo`) boots a mixed
// fleet through the real daemons and reports every board in its JSON.
func TestPiboardCommandBootsMixedFleet(t *testing.T) {
	r := newBootRig(t, nil)
	bins := harness.Build(t)
	tr := &tree{t: t, root: r.cfg.TFTPRoot, sums: map[string]string{}}
	for _, m := range []piboard.Model{piboard.Pi3, piboard.Pi4, piboard.Pi5} {
		for _, f := range piboard.DefaultFiles(m) {
			tr.put("default/"+f, content("default/"+f, 5000))
		}
	}
	out, err := r.net.Run(t, r.ns, bins.Piboard, "-iface", r.iface, "-model", "mix", "-n", "9", "-mac-seed", "62",
		"-interval", "1s", "-dup-rrq", "start4.elf", "-json")
	if err != nil {
		t.Fatalf("piboard: %v\n%s", err, out)
	}
	var got struct {
		Summary piboard.Summary  `json:"summary"`
		Boards  []piboard.Result `json:"boards"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("piboard -json output: %v\n%s", err, out)
	}
	if got.Summary.OK != 9 || len(got.Boards) != 9 {
		t.Fatalf("summary %+v, %d boards; want 9 booted\n%s", got.Summary, len(got.Boards), out)
	}
	ips := map[string]bool{}
	for _, b := range got.Boards {
		if ips[b.IP] || !inPool(r.net, b.IP) {
			t.Errorf("%s %s: address %s repeated or outside the pool", b.Model, b.MAC, b.IP)
		}
		ips[b.IP] = true
		if b.LastByteMS <= b.AddressMS {
			t.Errorf("%s %s: last byte at %.1f ms, address at %.1f ms", b.Model, b.MAC, b.LastByteMS, b.AddressMS)
		}
	}
}

// A rack of 96 mixed boards (the example's board pool holds 100) powered on within one second all
// boot completely (Pi 4/5 with tsize probes and a duplicate RRQ each), and
// every board gets every byte right.
func TestNativeBootStorm(t *testing.T) {
	r := newBootRig(t, nil)
	tr := &tree{t: t, root: r.cfg.TFTPRoot, sums: map[string]string{}}
	sizes := map[string]int{"bootcode.bin": 52000, "start.elf": 1400000, "start4.elf": 1100000,
		"kernel8.img": 1000000, "kernel_2712.img": 1000000, "fixup.dat": 7300, "fixup4.dat": 5400}
	for _, m := range []piboard.Model{piboard.Pi3, piboard.Pi4, piboard.Pi5} {
		for _, f := range piboard.DefaultFiles(m) {
			size := sizes[f]
			if size == 0 {
				size = 40000
			}
			tr.put("default/"+f, content("default/"+f, size))
		}
	}
	boards, err := piboard.Fleet("mix", 96, 63)
	if err != nil {
		t.Fatal(err)
	}
	rs := r.boot(t, piboard.Options{Spread: time.Second, DuplicateRRQ: "start4.elf"}, boards)
	sum := piboard.Summarize(rs, 0)
	t.Logf("%d/%d booted, %d MB, time to last byte p50 %.0f ms p99 %.0f ms",
		sum.OK, sum.Boards, sum.Bytes>>20, sum.LastByte50, sum.LastByte99)
	for _, res := range rs {
		if !res.OK() {
			t.Errorf("%s %s: %s", res.Model, res.MAC, res.Error)
			continue
		}
		for _, f := range res.Files {
			base := f.Name[strings.LastIndex(f.Name, "/")+1:]
			if f.Error == "" && f.SHA256 != tr.sums["default/"+base] {
				t.Errorf("%s %s: %s corrupt (%d bytes)", res.Model, res.MAC, f.Name, f.Bytes)
			}
		}
	}
}
