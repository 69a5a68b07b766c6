//go:build integration

package integration

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/rpinetboot/rpinetboot/internal/qemu"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// firmwareBootargs is what a Pi's firmware puts in /chosen/bootargs when
// cmdline.txt is the stock SD-card one: root= and kgdboc= must not survive
// into a network boot, the rest must.
const firmwareBootargs = "console=ttyAMA0,115200 root=/dev/mmcblk0p2 rootwait kgdboc=ttyAMA0 quiet"

// ubootCase is one board emulated by Debian's U-Boot under QEMU.
type ubootCase struct {
	arch     qemu.Arch
	model    string // models.yml key; stage 1 puts it in bootp_vci
	vciStyle string // `rpinetctl stage1 --vci` style: walt.node.<model> or the bare model
	mac      string // a real Raspberry Pi OUI, as the board's U-Boot would use
	tap      string
	kernel   int // dummy kernel size; distinct sizes prove which file arrived
	dtb      int
	env      map[string]string // extra baked U-Boot variables
}

// TestUBootTwoStageBoot boots the real U-Boot two-stage flow against our
// coredhcp and rpi-tftpd: the stage-1 script `rpinetctl stage1` writes sits
// in pflash (the read-only SD card of a real board) and is sourced by the
// baked bootcmd; it sets bootp_vci, runs dhcp, fetches the stage-2 script the
// DHCP answer names and sources it; stage 2 filters the firmware bootargs
// from the DTB, adds NFS-root arguments and loads kernel and dtb. Booting the
// dummy kernel fails, control returns to bootcmd, which prints the result
// and powers off.
func TestUBootTwoStageBoot(t *testing.T) {
	for _, c := range []ubootCase{
		{arch: qemu.ARM64, model: "rpi-3-b-plus", vciStyle: "walt", mac: "b8:27:eb:5a:00:01", tap: "qtap64", kernel: 300007, dtb: 23011,
			// U-Boot asks for RFC 7440 windows and a smaller block, as a board
			// tuned for fast kernel loads does; the loads must complete whether
			// or not rpi-tftpd grants the window (it falls back to window 1).
			env: map[string]string{"tftpblocksize": "1024", "tftpwindowsize": "8"}},
		{arch: qemu.ARM, model: "rpi-4-b", vciStyle: "rpi", mac: "dc:a6:32:5a:00:02", tap: "qtap32", kernel: 210013, dtb: 31019},
	} {
		t.Run(string(c.arch), func(t *testing.T) {
			t.Parallel()
			testUBootTwoStage(t, c)
		})
	}
}

func testUBootTwoStage(t *testing.T, c ubootCase) {
	bins := harness.Build(t)
	n := harness.NewNet(t)
	cfg := n.RenderConfig(t)
	table, err := models.Load(cfg.ModelsPath)
	if err != nil {
		t.Fatal(err)
	}
	entry, ok := table.Lookup(c.model)
	if !ok {
		t.Fatalf("model %s missing from %s", c.model, cfg.ModelsPath)
	}
	// The stage-2 template fetches <model>/<kernel> and <model>/<dtb>; they
	// resolve through the per-model tree like a real deployment's files.
	modelDir := filepath.Join(cfg.TFTPRoot, "models", c.model)
	kernel := ubootDummy(c.kernel, 1)
	dtb := ubootDummy(c.dtb, 2)
	ubootWriteFile(t, filepath.Join(modelDir, entry.Kernel), kernel)
	ubootWriteFile(t, filepath.Join(modelDir, entry.DTB), dtb)

	stage1 := filepath.Join(n.Dir, "stage1-boot.scr")
	if out, err := n.Run(t, n.NS, bins.Ctl, "stage1", "--model", c.model, "--vci", c.vciStyle, "--arch", string(c.arch), "-o", stage1); err != nil {
		t.Fatalf("rpinetctl stage1: %v\n%s", err, out)
	}
	script, err := os.ReadFile(stage1)
	if err != nil {
		t.Fatal(err)
	}

	srv := n.StartServers(t, cfg)
	tap := n.AddTap(t, c.tap)
	dir := ubootArtifactDir(t, string(c.arch))
	env := map[string]string{
		// After stage 2 returns: show the bootargs it built and checksum
		// what landed at the load addresses, then end QEMU.
		"bootcmd": fmt.Sprintf("source ${stage1addr}; echo \"RESULT bootargs=[${bootargs}]\"; "+
			"crc32 ${kernel_addr_r} %x; crc32 ${fdt_addr_r} %x; poweroff", len(kernel), len(dtb)),
	}
	for k, v := range c.env {
		env[k] = v
	}
	board := qemu.Machine{
		Arch: c.arch, Dir: dir, NS: n.NS, Tap: tap, MAC: c.mac,
		Bootargs: firmwareBootargs,
		Script:   script,
		Env:      env,
		Timeout:  45 * time.Second,
	}
	res, err := qemu.Run(context.Background(), board)
	t.Logf("console log: %s (QEMU ran %s)", res.ConsolePath, res.Elapsed.Round(time.Millisecond))
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\n--- console tail (%s):\n%s\n--- coredhcp log:\n%s\n--- rpi-tftpd log:\n%s",
			append(args, res.ConsolePath, res.Tail(60), qemu.Tail(srv.DHCP.Log(), 40), qemu.Tail(srv.TFTP.Log(), 40))...)
	}
	if err != nil {
		fail("boot: %v", err)
	}
	con := res.Console

	// The address U-Boot bound is the one macpin pinned for this MAC.
	bound := qemu.BoundAddresses(con)
	if len(bound) != 1 {
		fail("want exactly one DHCP bind, got %v", bound)
	}
	pinned := storePinnedIP(t, cfg.StorePath, c.mac)
	if bound[0].String() != pinned {
		fail("U-Boot bound %s but the store pins %s to %s", bound[0], c.mac, pinned)
	}

	// Stage 2 is the one for this model, named by modelboot, and ran.
	transfers := qemu.Transfers(con)
	if len(transfers) == 0 || transfers[0].File != entry.Stage2 || !transfers[0].Done {
		fail("first TFTP transfer should be the stage-2 script %s, got %+v", entry.Stage2, transfers)
	}
	// It was rendered for this board: the template saw the model and the MAC.
	if len(qemu.Lines(con, "rpinetboot stage2: model "+c.model+" node "+c.mac+" ")) != 1 {
		fail("stage 2 did not announce model %s and node %s", c.model, c.mac)
	}

	// Firmware bootargs filtered, NFS root added.
	result := qemu.Lines(con, "RESULT bootargs=[")
	if len(result) != 1 {
		fail("bootcmd did not print the bootargs stage 2 left")
	}
	args := strings.Fields(strings.TrimSuffix(strings.SplitN(result[0], "[", 2)[1], "]"))
	for _, bad := range []string{"root=/dev/mmcblk0p2", "kgdboc="} {
		for _, a := range args {
			if strings.HasPrefix(a, bad) {
				fail("bootargs keep %q: %v", a, args)
			}
		}
	}
	for _, want := range []string{"console=ttyAMA0,115200", "rootwait", "quiet", "root=/dev/nfs"} {
		if !hasArg(args, want) {
			fail("bootargs lack %q: %v", want, args)
		}
	}
	if !hasArgPrefix(args, "nfsroot=") {
		fail("bootargs lack nfsroot=: %v", args)
	}

	// Kernel and dtb arrived whole at the addresses stage 2 loaded them to.
	for _, f := range []struct {
		name string
		data []byte
	}{{entry.Kernel, kernel}, {entry.DTB, dtb}} {
		tr, ok := ubootTransfer(transfers, f.name)
		if !ok || !tr.Done || tr.Bytes != int64(len(f.data)) {
			fail("TFTP of %s: want %d bytes transferred, got %+v", f.name, len(f.data), tr)
		}
		sum := fmt.Sprintf("==> %08x", crc32.ChecksumIEEE(f.data))
		if len(qemu.Lines(con, sum)) != 1 {
			fail("no crc32 line %q for %s: the file was not loaded where stage 2 said", sum, f.name)
		}
	}
	for _, l := range append(qemu.Lines(con, "bootargs"), qemu.Lines(con, "Bytes transferred")...) {
		t.Logf("console: %s", l)
	}

	// A reboot of the board gets its pinned address again.
	board.Dir = ubootArtifactDir(t, string(c.arch)+"-reboot")
	res, err = qemu.Run(context.Background(), board)
	t.Logf("reboot console log: %s (QEMU ran %s)", res.ConsolePath, res.Elapsed.Round(time.Millisecond))
	if err != nil {
		fail("reboot: %v", err)
	}
	if again := qemu.BoundAddresses(res.Console); len(again) != 1 || again[0].String() != pinned {
		fail("after a reboot U-Boot bound %v, want the pinned %s", again, pinned)
	}
}

// storePinnedIP reads the macpin store the way rpi-tftpd does: read-only.
func storePinnedIP(t *testing.T, dsn, mac string) string {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dsn, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open store %s: %v", dsn, err)
	}
	defer st.Close()
	node, err := st.Node(context.Background(), hw)
	if err != nil {
		t.Fatalf("store: pin of %s: %v", mac, err)
	}
	return node.IP.String()
}

// ubootArtifactDir is a per-arch directory that outlives the test, so the
// console log stays readable after a run (the lead quotes it).
func ubootArtifactDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "rpinetboot-uboot", name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ubootDummy returns n bytes that are neither a Linux image nor a DTB, so the
// boot command fails harmlessly, and that differ per seed.
func ubootDummy(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func ubootWriteFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ubootTransfer(ts []qemu.Transfer, name string) (qemu.Transfer, bool) {
	for _, tr := range ts {
		if tr.File == name || strings.HasSuffix(tr.File, "/"+name) {
			return tr, true
		}
	}
	return qemu.Transfer{}, false
}

func hasArg(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasArgPrefix(list []string, p string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}
