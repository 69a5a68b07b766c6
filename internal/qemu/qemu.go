// Package qemu boots Debian's packaged U-Boot (u-boot-qemu 2023.01) under
// QEMU so integration tests can watch a real U-Boot do DHCP, TFTP and
// `source` against our servers.
//
// How: the U-Boot environment is baked into pflash (mkenvimage, exactly
// 64 MiB, bank 1) so no console typing is needed; the NIC is
// virtio-net-device (U-Boot 2023.01 reads a wrong MAC from virtio-net-pci);
// QEMU runs inside the test's network namespace on a tap that already
// exists there; and the boot command ends with `poweroff` so QEMU exits by
// itself. A boot takes about half a second under TCG.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Arch selects the QEMU machine and the U-Boot build.
type Arch string

// The two U-Boot builds Debian ships for QEMU's virt machine.
const (
	ARM64 Arch = "arm64" // qemu-system-aarch64 -M virt -cpu cortex-a57, qemu_arm64/u-boot.bin
	ARM   Arch = "arm"   // qemu-system-arm -M virt -cpu cortex-a15, qemu_arm/u-boot.bin
)

// MaxTimeout bounds one boot; the recipe boots in about 0.5 s, so anything
// near a minute means U-Boot is stuck retrying DHCP forever.
const MaxTimeout = 59 * time.Second

// DefaultTimeout is used when Machine.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// memory is the guest RAM; the custom DTB is dumped with the same size so
// its /memory node matches what U-Boot sees.
const memory = "512"

// machine is what differs between the two arches.
type machine struct {
	binary string
	cpu    string
	uboot  string
}

var machines = map[Arch]machine{
	ARM64: {"qemu-system-aarch64", "cortex-a57", "/usr/lib/u-boot/qemu_arm64/u-boot.bin"},
	ARM:   {"qemu-system-arm", "cortex-a15", "/usr/lib/u-boot/qemu_arm/u-boot.bin"},
}

// Machine describes one U-Boot boot.
type Machine struct {
	Arch Arch
	// Dir receives the flash image, the DTB, qemu.cmd and console.log; it must exist.
	Dir string
	// NS is the network namespace QEMU runs in (it must hold Tap). Empty
	// runs QEMU in the caller's namespace, which is allowed only without Tap.
	NS string
	// Tap is an existing tap interface in NS; empty boots with no NIC.
	Tap string
	// MAC of the virtio NIC, e.g. "02:00:0a:63:00:10". Required with Tap.
	MAC string
	// Env is merged over DefaultEnv and baked into pflash; it must set bootcmd.
	// Values cannot contain newlines (mkenvimage stores one variable a line).
	Env map[string]string
	// Stock boots U-Boot's own default environment (no flash): its
	// `bootcmd=run distro_bootcmd` tries qfw, usb, scsi, virtio, nvme, then
	// DHCP (`boot.scr.uimg`, then the EFI PXE path), as a board with an
	// untouched U-Boot does. Env and Script must be empty.
	Stock bool
	// Script, if set, is placed in pflash at ScriptAddr, like a boot.scr on
	// the read-only SD card of a real board; bootcmd can `source ${stage1addr}`.
	Script []byte
	// Bootargs, if set, boots U-Boot with a copy of QEMU's own DTB whose
	// /chosen/bootargs is Bootargs, like the Pi firmware hands U-Boot the
	// cmdline.txt it merged with its own arguments.
	Bootargs string
	// Timeout for the whole boot; 0 means DefaultTimeout, at most MaxTimeout.
	Timeout time.Duration
}

// Result is what a boot left behind.
type Result struct {
	ConsolePath string        // raw console capture (serial, CR LF line ends)
	Console     string        // the console text with CRs removed
	Elapsed     time.Duration // QEMU start to exit
}

// Tail returns the last n lines of the console, for failure messages.
func (r *Result) Tail(n int) string {
	return Tail(r.Console, n)
}

// ErrTimeout means QEMU did not power off in time; the console tells why.
var ErrTimeout = errors.New("qemu did not power off in time")

// Run boots m and waits for QEMU to exit. It always returns a Result whose
// console holds what was printed so far, also together with an error, so
// callers can show the tail. QEMU never outlives Run: it is killed on
// timeout or when ctx ends, and it gets SIGKILL if the caller dies.
func Run(ctx context.Context, m Machine) (*Result, error) {
	res := &Result{ConsolePath: filepath.Join(m.Dir, "console.log")}
	mc, timeout, err := m.validate()
	if err != nil {
		return res, err
	}
	args := []string{"-M", "virt", "-cpu", mc.cpu, "-m", memory, "-nographic", "-no-reboot", "-bios", mc.uboot}
	if m.Bootargs != "" {
		dtb, err := customDTB(ctx, mc, m.Dir, m.Bootargs)
		if err != nil {
			return res, fmt.Errorf("qemu %s: %w", m.Arch, err)
		}
		args = append(args, "-dtb", dtb)
	}
	if !m.Stock {
		flash, err := flashImage(ctx, m.Dir, m.Env, m.Script)
		if err != nil {
			return res, fmt.Errorf("qemu %s: %w", m.Arch, err)
		}
		args = append(args, "-drive", "if=pflash,unit=1,format=raw,readonly=on,file="+flash)
	}
	if m.Tap != "" {
		args = append(args,
			"-netdev", "tap,id=n0,ifname="+m.Tap+",script=no,downscript=no",
			"-device", "virtio-net-device,netdev=n0,mac="+m.MAC)
	} else {
		args = append(args, "-nic", "none")
	}
	argv := append([]string{mc.binary}, args...)
	if m.NS != "" {
		// ip netns exec execs QEMU in place, so the PID we hold is QEMU's.
		argv = append([]string{"ip", "netns", "exec", m.NS}, argv...)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "qemu.cmd"), []byte(strings.Join(argv, " ")+"\n"), 0o644); err != nil {
		return res, fmt.Errorf("qemu %s: %w", m.Arch, err)
	}

	out, err := os.Create(res.ConsolePath)
	if err != nil {
		return res, fmt.Errorf("qemu %s: console: %w", m.Arch, err)
	}
	defer out.Close()
	var stderr bytes.Buffer
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// deps: ip qemu-system-aarch64 qemu-system-arm
	cmd := exec.CommandContext(rctx, argv[0], argv[1:]...)
	cmd.Stdout = out
	cmd.Stderr = &stderr
	// Pdeathsig survives the exec by ip netns exec; a killed test leaves no QEMU behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	res.Elapsed = time.Since(start)
	if raw, err := os.ReadFile(res.ConsolePath); err == nil {
		res.Console = strings.ReplaceAll(string(raw), "\r", "")
	}
	switch {
	case rctx.Err() != nil && ctx.Err() == nil:
		return res, fmt.Errorf("qemu %s after %s: %w", m.Arch, timeout, ErrTimeout)
	case ctx.Err() != nil:
		return res, fmt.Errorf("qemu %s: %w", m.Arch, ctx.Err())
	case runErr != nil:
		return res, fmt.Errorf("qemu %s: %w: %s", m.Arch, runErr, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

// validate checks m and resolves the arch and the timeout.
func (m Machine) validate() (machine, time.Duration, error) {
	mc, ok := machines[m.Arch]
	if !ok {
		return mc, 0, fmt.Errorf("qemu: arch %q: want %q or %q", m.Arch, ARM64, ARM)
	}
	timeout := m.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout < 0 || timeout > MaxTimeout {
		return mc, 0, fmt.Errorf("qemu %s: timeout %s: want at most %s", m.Arch, timeout, MaxTimeout)
	}
	if m.Dir == "" {
		return mc, 0, fmt.Errorf("qemu %s: no Dir for the flash image and console log", m.Arch)
	}
	if m.Tap != "" && m.NS == "" {
		// A tap in the root namespace would put U-Boot's DHCP on the host's network.
		return mc, 0, fmt.Errorf("qemu %s: tap %s needs a network namespace (NS)", m.Arch, m.Tap)
	}
	if m.Tap != "" && m.MAC == "" {
		return mc, 0, fmt.Errorf("qemu %s: tap %s needs a MAC", m.Arch, m.Tap)
	}
	if m.Stock && (len(m.Env) > 0 || m.Script != nil) {
		return mc, 0, fmt.Errorf("qemu %s: a stock boot takes no Env or Script", m.Arch)
	}
	if _, ok := m.Env["bootcmd"]; !ok && !m.Stock {
		return mc, 0, fmt.Errorf("qemu %s: Env has no bootcmd; U-Boot would sit at its prompt until the timeout", m.Arch)
	}
	return mc, timeout, nil
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
