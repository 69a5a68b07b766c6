package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/rpinetboot/rpinetboot/internal/qemu"
)

// firmwareBootargs is what a Pi's firmware hands U-Boot in /chosen/bootargs
// from the SD card's cmdline.txt; the stage-2 script must drop root= and
// kgdboc= and add the NFS root.
const firmwareBootargs = "console=ttyAMA0,115200 root=/dev/mmcblk0p2 rootwait kgdboc=ttyAMA0 quiet"

// ubootBoard is one real U-Boot (Debian's u-boot-qemu) under QEMU doing the
// two-stage boot: stage 1 in flash (the read-only SD card) sets bootp_vci
// to its model, runs dhcp and sources the stage-2 script rpi-tftpd renders,
// which loads kernel and DTB.
type ubootBoard struct {
	arch  qemu.Arch
	model string // models.yml model, announced in bootp_vci
	vci   string // `rpinetctl stage1 --vci` style
	mac   string
	tap   string
	env   map[string]string // extra baked U-Boot variables
}

// ubootBoards are the two U-Boot boards: an arm64 U-Boot announcing a Pi 3B+
// WalT-style and a 32-bit one announcing a Pi 4 by its bare model name.
// Their MACs are fixed (and outside the simulated fleet's) so pins persist.
var ubootBoards = []ubootBoard{
	{arch: qemu.ARM64, model: "rpi-3-b-plus", vci: "walt", mac: "b8:27:eb:de:00:64", tap: "qtap64",
		env: map[string]string{"tftpwindowsize": "16"}},
	{arch: qemu.ARM, model: "rpi-4-b", vci: "rpi", mac: "dc:a6:32:de:00:32", tap: "qtap32",
		env: map[string]string{"tftpwindowsize": "16"}},
}

func (u ubootBoard) row() row {
	return row{MAC: u.mac, Board: fmt.Sprintf("U-Boot %s %s", u.arch, u.model), Model: u.model, Step: "off"}
}

// ubootPrep is what a U-Boot board needs before power-on.
type ubootPrep struct {
	board  ubootBoard
	dir    string // flash image, DTB, console.log
	stage1 []byte // the stage-1 script image
	entry  models.Entry
	kernel int64 // sizes of the files stage 2 must load, to check they arrived whole
	dtb    int64
}

// prepareUBoot writes the board's stage-1 script with `rpinetctl stage1`
// (as an admin would for the SD card) and looks up what stage 2 will load.
func prepareUBoot(ctl, stateDir, tftpRoot string, table *models.Table, u ubootBoard) (ubootPrep, error) {
	p := ubootPrep{board: u, dir: filepath.Join(stateDir, "uboot-"+string(u.arch))}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return p, fmt.Errorf("u-boot %s: %w", u.arch, err)
	}
	entry, ok := table.Lookup(u.model)
	if !ok {
		return p, fmt.Errorf("u-boot %s: model %s is not in models.yml", u.arch, u.model)
	}
	p.entry = entry
	for _, f := range []struct {
		name string
		size *int64
	}{{entry.Kernel, &p.kernel}, {entry.DTB, &p.dtb}} {
		fi, err := os.Stat(filepath.Join(tftpRoot, "default", f.name))
		if err != nil {
			return p, fmt.Errorf("u-boot %s: stage 2 loads %s: %w", u.arch, f.name, err)
		}
		*f.size = fi.Size()
	}
	script := filepath.Join(p.dir, "stage1-boot.scr")
	// deps: built
	out, err := exec.Command(ctl, "stage1", "--model", u.model, "--vci", u.vci, "--arch", string(u.arch), "-o", script).CombinedOutput()
	if err != nil {
		return p, fmt.Errorf("u-boot %s: rpinetctl stage1: %w: %s", u.arch, err, strings.TrimSpace(string(out)))
	}
	if p.stage1, err = os.ReadFile(script); err != nil {
		return p, fmt.Errorf("u-boot %s: %w", u.arch, err)
	}
	return p, nil
}

// dhcpStall is how long a U-Boot board may keep broadcasting DISCOVERs
// without binding before the demo power-cycles it, and powerCycles how
// often. QEMU's virtio-net under Debian's U-Boot 2023.01 now and then
// takes no frame at all after power-on when many boards boot at once
// (the OFFERs are on its tap, U-Boot never sees them; about 1 run in 5
// with 50 boards), and U-Boot itself would retry for 30 s; a rack
// controller would power-cycle the board, and so does the demo. The row
// says so, and last-run.json counts the cycles.
const (
	dhcpStall   = 6 * time.Second
	powerCycles = 2
)

// runUBoot powers the board on in namespace ns and follows its console into
// rack row i until QEMU powers off; then it checks the boot really
// happened: one DHCP bind, the model's stage-2 script fetched and run for
// this MAC, kernel and DTB loaded whole.
func runUBoot(ctx context.Context, p ubootPrep, ns string, r *rack, i int) {
	u := p.board
	env := map[string]string{"bootcmd": "source ${stage1addr}; poweroff"}
	for k, v := range u.env {
		env[k] = v
	}
	m := qemu.Machine{Arch: u.arch, Dir: p.dir, NS: ns, Tap: u.tap, MAC: u.mac,
		Bootargs: firmwareBootargs, Script: p.stage1, Env: env, Timeout: 50 * time.Second}
	r.update(i, func(x *row) { x.Start, x.Phase, x.Step = time.Now(), phaseDHCP, "power on, U-Boot starting" })
	for cycle := 0; ; cycle++ {
		res, stalled, err := bootOnce(ctx, m, p, r, i)
		if stalled && cycle < powerCycles && ctx.Err() == nil {
			// Keep the stalled console for whoever wants to look.
			os.Rename(res.ConsolePath, filepath.Join(p.dir, fmt.Sprintf("console-stalled-%d.log", cycle+1)))
			r.update(i, func(x *row) {
				x.Cycles++
				x.Phase, x.Step = phaseDHCP, fmt.Sprintf("power cycle %d: no OFFER taken in %s", x.Cycles, dhcpStall)
			})
			continue
		}
		if err != nil {
			why := err.Error()
			switch {
			case ctx.Err() != nil:
				why = "interrupted"
			case stalled:
				why = fmt.Sprintf("no OFFER taken in %s, %d power cycles", dhcpStall, cycle)
			}
			r.update(i, func(x *row) { x.Phase, x.Step, x.Err = phaseFailed, "FAILED: "+why, why })
			return
		}
		if why := checkUBoot(res.Console, p); why != "" {
			r.update(i, func(x *row) {
				x.Phase, x.Step, x.Err = phaseFailed, "FAILED: "+why, why+" (console: "+res.ConsolePath+")"
			})
			return
		}
		r.update(i, func(x *row) {
			x.Phase = phaseBooted
			x.Step = fmt.Sprintf("booted, stage 2 + %.1f MB kernel", float64(p.kernel)/1e6)
		})
		return
	}
}

// bootOnce runs QEMU once while following its console; stalled reports
// that it was stopped for sitting in DHCP longer than dhcpStall.
func bootOnce(ctx context.Context, m qemu.Machine, p ubootPrep, r *rack, i int) (*qemu.Result, bool, error) {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	stalled := make(chan bool, 1)
	go func() { stalled <- follow(filepath.Join(p.dir, "console.log"), p, r, i, stop, cancel) }()
	res, err := qemu.Run(bctx, m)
	close(stop)
	return res, <-stalled, err
}

// follow reads the console while QEMU runs and moves the row along; it
// calls stall and returns true if U-Boot broadcasts DISCOVERs for longer
// than dhcpStall without binding.
func follow(path string, p ubootPrep, r *rack, i int, stop <-chan struct{}, stall func()) bool {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var asking time.Time // first DISCOVER seen
	for {
		select {
		case <-stop:
			return false
		case <-t.C:
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		con := strings.ReplaceAll(string(b), "\r", "")
		r.update(i, func(x *row) { consoleStep(x, con, p) })
		if len(qemu.BoundAddresses(con)) > 0 {
			continue
		}
		if asking.IsZero() && strings.Contains(con, "BOOTP broadcast") {
			asking = time.Now()
		}
		if !asking.IsZero() && time.Since(asking) > dhcpStall {
			stall()
			return true
		}
	}
}

// consoleStep sets the row from what U-Boot has printed so far.
func consoleStep(x *row, con string, p ubootPrep) {
	if bound := qemu.BoundAddresses(con); len(bound) > 0 {
		x.IP = bound[len(bound)-1].String()
	} else if strings.Contains(con, "BOOTP broadcast") {
		x.Phase, x.Step = phaseDHCP, "DHCP, bootp_vci "+p.board.model
		return
	}
	ts := qemu.Transfers(con)
	if len(ts) == 0 {
		return
	}
	last := ts[len(ts)-1]
	switch base := filepath.Base(last.File); {
	case base == p.entry.Kernel:
		x.Phase, x.Step = phaseKernel, "kernel "+last.File
	case base == p.entry.DTB:
		x.Phase, x.Step = phaseKernel, "dtb "+last.File
	default:
		x.Phase, x.Step = phaseStage2, "stage-2 "+last.File
	}
}

// checkUBoot says what is missing from a finished boot's console, or "".
func checkUBoot(con string, p ubootPrep) string {
	u := p.board
	if bound := qemu.BoundAddresses(con); len(bound) != 1 {
		return fmt.Sprintf("%d DHCP binds, want 1", len(bound))
	}
	ts := qemu.Transfers(con)
	if len(ts) == 0 || ts[0].File != p.entry.Stage2 || !ts[0].Done {
		return "stage-2 script " + p.entry.Stage2 + " not fetched"
	}
	if len(qemu.Lines(con, "rpinetboot stage2: model "+u.model+" node "+u.mac+" ")) != 1 {
		return "stage 2 did not run for this model and MAC"
	}
	for _, f := range []struct {
		name string
		size int64
	}{{p.entry.Kernel, p.kernel}, {p.entry.DTB, p.dtb}} {
		ok := false
		for _, t := range ts {
			if filepath.Base(t.File) == f.name && t.Done && t.Bytes == f.size {
				ok = true
			}
		}
		if !ok {
			return fmt.Sprintf("%s not loaded whole (%d bytes)", f.name, f.size)
		}
	}
	return ""
}
