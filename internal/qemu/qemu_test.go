//go:build integration

package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

func script(t *testing.T, text string) []byte {
	t.Helper()
	return uimage.Script([]byte(text), "test", time.Unix(0, 0), uimage.ArchARM64)
}

// TestFirmwareBootargsAndFlashScript boots both arches with no NIC: the
// stage-1 script comes from pflash (the "SD card") and reads the bootargs
// the custom DTB carries, as a Pi's stage 2 reads the firmware's.
func TestFirmwareBootargsAndFlashScript(t *testing.T) {
	const bootargs = `console=ttyAMA0,115200 root=/dev/mmcblk0p2 rootwait kgdboc=ttyAMA0 quiet`
	for _, arch := range []Arch{ARM64, ARM} {
		t.Run(string(arch), func(t *testing.T) {
			t.Parallel()
			res, err := Run(context.Background(), Machine{
				Arch:     arch,
				Dir:      t.TempDir(),
				Bootargs: bootargs,
				Script: script(t, `echo "flash-script: running"
setenv ba
fdt addr ${fdt_addr}
fdt get value ba /chosen bootargs
echo "BA=[${ba}]"
`),
				Env:     map[string]string{"bootcmd": "source ${stage1addr}; poweroff"},
				Timeout: 20 * time.Second,
			})
			if err != nil {
				t.Fatalf("%v\nconsole tail:\n%s", err, res.Tail(30))
			}
			t.Logf("console %s, %s", res.ConsolePath, res.Elapsed)
			for _, want := range []string{
				"Loading Environment from Flash... OK", // the baked env was read, not the default
				"flash-script: running",
				"BA=[" + bootargs + "]",
				"poweroff",
			} {
				if !strings.Contains(res.Console, want) {
					t.Errorf("console lacks %q; tail:\n%s", want, res.Tail(30))
				}
			}
		})
	}
}

// TestTimeoutKillsQEMU: a bootcmd that never powers off ends in ErrTimeout
// after the timeout, with QEMU gone and the console kept. The assertion is
// on the banner (printed within 0.1 s) so a loaded CI host does not flake.
func TestTimeoutKillsQEMU(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	res, err := Run(context.Background(), Machine{
		Arch:    ARM64,
		Dir:     dir,
		Env:     map[string]string{"bootcmd": "echo waiting-forever"},
		Timeout: 4 * time.Second,
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("Run returned after %s; the 4 s timeout was not enforced", d)
	}
	if !strings.Contains(res.Console, "U-Boot 20") {
		t.Fatalf("console up to the timeout is lost:\n%s", res.Tail(10))
	}
	if pids := qemuPIDsUsing(t, dir); len(pids) > 0 {
		t.Fatalf("QEMU still running after timeout: pids %v", pids)
	}
}

func TestMachineValidation(t *testing.T) {
	dir := t.TempDir()
	ok := map[string]string{"bootcmd": "poweroff"}
	for name, m := range map[string]Machine{
		"bad arch":      {Arch: "riscv", Dir: dir, Env: ok},
		"long timeout":  {Arch: ARM64, Dir: dir, Env: ok, Timeout: time.Minute},
		"tap in rootns": {Arch: ARM64, Dir: dir, Env: ok, Tap: "tap0", MAC: "02:00:00:00:00:01"},
		"tap no mac":    {Arch: ARM64, Dir: dir, Env: ok, Tap: "tap0", NS: "x"},
		"no bootcmd":    {Arch: ARM64, Dir: dir},
		"no dir":        {Arch: ARM64, Env: ok},
		"newline env":   {Arch: ARM64, Dir: dir, Env: map[string]string{"bootcmd": "a\nb"}},
	} {
		if _, err := Run(context.Background(), m); err == nil {
			t.Errorf("%s: Run accepted %+v", name, m)
		}
	}
}

// TestDHCPAndTFTPAgainstDnsmasq checks the tap plumbing and the console
// parsers against a throwaway dnsmasq in a namespace, like the recipe's run.sh.
func TestDHCPAndTFTPAgainstDnsmasq(t *testing.T) {
	for i, arch := range []Arch{ARM64, ARM} {
		t.Run(string(arch), func(t *testing.T) {
			t.Parallel()
			n := harness.NewNet(t)
			ns, tap := n.NS, n.AddTap(t, "tap0")
			dir := t.TempDir()
			tftp := filepath.Join(dir, "tftp")
			must(t, os.MkdirAll(tftp, 0o755))
			kernel := make([]byte, 70000+i)
			must(t, os.WriteFile(filepath.Join(tftp, "kernel.img"), kernel, 0o644))
			must(t, os.WriteFile(filepath.Join(tftp, "boot.scr"), script(t, "echo stage2-from-dnsmasq\ntftpboot ${kernel_addr_r} kernel.img\ntftpboot ${kernel_addr_r} absent.img\n"), 0o644))
			dns := exec.Command("ip", "netns", "exec", ns, "dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground",
				"--user=root", "--port=0", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--interface="+n.Bridge, "--bind-interfaces", "--no-ping",
				"--dhcp-range="+n.Prefix+"100,"+n.Prefix+"150,255.255.255.0,1h", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
				"--dhcp-vendorclass=set:walt,walt.node", "--dhcp-boot=tag:walt,boot.scr",
				"--enable-tftp", "--tftp-root="+tftp, "--log-dhcp", "--log-facility="+filepath.Join(dir, "dnsmasq.log"))
			var stderr bytes.Buffer // where dnsmasq says why it did not start
			dns.Stdout, dns.Stderr = &stderr, &stderr
			must(t, dns.Start())
			t.Cleanup(func() { _ = dns.Process.Kill(); _ = dns.Wait() })
			waitFor(t, filepath.Join(dir, "dnsmasq.log"), "TFTP root", dns, &stderr)

			res, err := Run(context.Background(), Machine{
				Arch: arch, Dir: dir, NS: ns, Tap: tap, MAC: fmt.Sprintf("02:00:0a:63:00:%02x", 0x10+i),
				Env: map[string]string{
					"bootp_vci": "walt.node.rpi-3-b-plus",
					"bootcmd":   "dhcp; tftpboot ${scriptaddr} ${bootfile}; source ${scriptaddr}; poweroff",
				},
				Timeout: 30 * time.Second,
			})
			if err != nil {
				log, _ := os.ReadFile(filepath.Join(dir, "dnsmasq.log"))
				t.Fatalf("%v\nconsole tail:\n%s\ndnsmasq log:\n%s", err, res.Tail(30), log)
			}
			t.Logf("console %s, %s", res.ConsolePath, res.Elapsed)
			bound := BoundAddresses(res.Console)
			if len(bound) != 1 || !strings.HasPrefix(bound[0].String(), n.Prefix) {
				t.Fatalf("bound addresses %v, want one in %s0/24; tail:\n%s", bound, n.Prefix, res.Tail(30))
			}
			got := Transfers(res.Console)
			if len(got) != 3 || got[0].File != "boot.scr" || !got[0].Done ||
				got[1].File != "kernel.img" || got[1].Bytes != int64(len(kernel)) || got[1].Server != n.ServerIP ||
				got[2].File != "absent.img" || got[2].Done || got[2].Err == "" {
				t.Fatalf("transfers %+v; tail:\n%s", got, res.Tail(40))
			}
			if !strings.Contains(res.Console, "stage2-from-dnsmasq") {
				t.Fatalf("stage 2 did not run; tail:\n%s", res.Tail(30))
			}
		})
	}
}

func qemuPIDsUsing(t *testing.T, dir string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), dir) && strings.Contains(string(cmd), "qemu-system") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitFor waits for substr in the log at path that cmd writes; if it never
// comes, cmd is stopped and the failure shows how it ended and its output.
func waitFor(t *testing.T, path, substr string, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), substr) {
			return
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never showed %q:\n%s\n%s ended (%v), output:\n%s", path, substr, b, cmd.Path, cmd.ProcessState, out)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
