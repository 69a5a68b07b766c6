package uboot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// nsPrefix names every network namespace these tests create, so leftovers of
// a killed run can be found and removed.
const nsPrefix = "rpnb-s1-"

// TestStage1OnRealUBoot boots Debian's U-Boot under QEMU inside a private
// network namespace. Its stock boot command fetches and sources our stage 1
// (as boot.scr.uimg); stage 1 must then DHCP with the model's vendor class,
// TFTP the stage 2 the answer names (or boot.scr when it names none) and run it.
func TestStage1OnRealUBoot(t *testing.T) {
	removeLeftovers(t)
	for _, tc := range []struct {
		arch     string
		qemu     []string
		bios     string
		imgArch  uint8
		dnsmasq  []string // extra dnsmasq flags: the per-model boot file, or none
		stage2At string
	}{
		{"arm64", []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"}, "/usr/lib/u-boot/qemu_arm64/u-boot.bin", uimage.ArchARM64,
			[]string{"--dhcp-vendorclass=set:r4,rpi-4-b", "--dhcp-boot=tag:r4,rpi-4-b/boot.scr"}, "rpi-4-b/boot.scr"},
		{"arm", []string{"qemu-system-arm", "-M", "virt", "-cpu", "cortex-a15"}, "/usr/lib/u-boot/qemu_arm/u-boot.bin", uimage.ArchARM,
			nil, DefaultStage2},
	} {
		t.Run(tc.arch, func(t *testing.T) {
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

			ns := netns(t)
			sh(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
			sh(t, "ip", "netns", "exec", ns, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
			sh(t, "ip", "netns", "exec", ns, "ip", "addr", "add", "10.99.7.1/24", "dev", "tap0")
			sh(t, "ip", "netns", "exec", ns, "ip", "link", "set", "tap0", "up")

			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			dlog := filepath.Join(dir, "dnsmasq.log")
			dargs := append([]string{"netns", "exec", ns, "dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground",
				"--user=root", "--port=0", "--interface=tap0", "--bind-interfaces", "--no-ping",
				"--dhcp-range=10.99.7.100,10.99.7.150,255.255.255.0,1h", "--dhcp-leasefile=" + filepath.Join(dir, "leases"),
				"--enable-tftp", "--tftp-root=" + tftp, "--log-dhcp", "--log-facility=" + dlog,
				"--pid-file=" + filepath.Join(dir, "dnsmasq.pid")}, tc.dnsmasq...)
			start(t, ctx, exec.CommandContext(ctx, "ip", dargs...))
			waitFor(t, dlog, "TFTP root")

			var console bytes.Buffer
			q := exec.CommandContext(ctx, "ip", append(append([]string{"netns", "exec", ns}, tc.qemu...),
				"-m", "512", "-nographic", "-no-reboot", "-bios", tc.bios,
				"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
				"-device", "virtio-net-device,netdev=n0,mac=02:00:0a:63:07:10")...)
			q.Stdout, q.Stderr = &console, &console
			err = q.Run()
			out := strings.ReplaceAll(console.String(), "\r", "")
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

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// netns creates a namespace that is removed, with everything running in it,
// when the test ends.
func netns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	ns := nsPrefix + hex.EncodeToString(b)
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { deleteNS(ns) })
	return ns
}

// deleteNS kills what still runs inside ns (only processes in it) and deletes it.
func deleteNS(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

// removeLeftovers deletes namespaces an earlier, killed run left behind.
func removeLeftovers(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], nsPrefix) {
			deleteNS(f[0])
		}
	}
}

// start runs cmd in the background until the test ends.
func start(t *testing.T, ctx context.Context, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
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
