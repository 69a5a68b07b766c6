//go:build integration

package uboot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/qemu"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// TestStage1OnRealUBoot boots Debian's U-Boot under QEMU inside a private
// network namespace. Its stock boot command fetches and sources our stage 1
// (as boot.scr.uimg); stage 1 must then DHCP with the model's vendor class,
// TFTP the stage 2 the answer names (or boot.scr when it names none) and run it.
func TestStage1OnRealUBoot(t *testing.T) {
	for i, tc := range []struct {
		arch     qemu.Arch
		imgArch  uint8
		dnsmasq  []string // extra dnsmasq flags: the per-model boot file, or none
		stage2At string
	}{
		{qemu.ARM64, uimage.ArchARM64, []string{"--dhcp-vendorclass=set:r4,rpi-4-b", "--dhcp-boot=tag:r4,rpi-4-b/boot.scr"}, "rpi-4-b/boot.scr"},
		{qemu.ARM, uimage.ArchARM, nil, DefaultStage2},
	} {
		t.Run(string(tc.arch), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tftp := filepath.Join(dir, "tftp")
			text, err := Stage1("rpi-4-b", VCIRPi)
			if err != nil {
				t.Fatal(err)
			}
			mtime := time.Unix(1700000000, 0)
			writeFile(t, filepath.Join(tftp, "boot.scr.uimg"), uimage.Script([]byte(text), "stage1", mtime, tc.imgArch))
			stage2 := "echo \"STAGE2-OK bootfile=${bootfile} vci=${bootp_vci}\"\npoweroff\n"
			writeFile(t, filepath.Join(tftp, tc.stage2At), uimage.Script([]byte(stage2), "stage2", mtime, tc.imgArch))

			n := harness.NewNet(t)
			tap := n.AddTap(t, "tap0")
			dlog := filepath.Join(dir, "dnsmasq.log")
			n.Start(t, n.NS, "dnsmasq", append([]string{"dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground",
				"--user=root", "--port=0", "--interface=" + n.Bridge, "--bind-interfaces", "--no-ping",
				"--dhcp-range=" + n.Prefix + "100," + n.Prefix + "150,255.255.255.0,1h", "--dhcp-leasefile=" + filepath.Join(dir, "leases"),
				"--enable-tftp", "--tftp-root=" + tftp, "--log-dhcp", "--log-facility=" + dlog,
				"--pid-file=" + filepath.Join(dir, "dnsmasq.pid")}, tc.dnsmasq...)...)
			waitFor(t, dlog, "TFTP root")

			// The stock environment: distro boot's dhcp target fetches
			// boot.scr.uimg and sources it.
			res, err := qemu.Run(context.Background(), qemu.Machine{
				Arch: tc.arch, Dir: dir, NS: n.NS, Tap: tap, MAC: fmt.Sprintf("02:00:0a:63:07:%02x", 0x10+i),
				Stock: true, Timeout: 45 * time.Second,
			})
			out := res.Console
			logb, _ := os.ReadFile(dlog)
			if err != nil {
				t.Fatalf("qemu: %v (poweroff never reached)\nconsole:\n%s\ndnsmasq:\n%s", err, tail(out), tail(string(logb)))
			}
			want := "STAGE2-OK bootfile=" + tc.stage2At + " vci=rpi-4-b"
			if !strings.Contains(out, want) {
				t.Errorf("console lacks %q:\n%s", want, tail(out))
			}
			if !strings.Contains(string(logb), "vendor class: rpi-4-b") {
				t.Errorf("dnsmasq never saw vendor class rpi-4-b:\n%s", tail(string(logb)))
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, file, text string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(file); err == nil && bytes.Contains(b, []byte(text)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(file)
	t.Fatalf("%s never said %q:\n%s", file, text, b)
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
