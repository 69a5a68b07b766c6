//go:build integration

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/rpinetboot/rpinetboot/internal/models"
)

// A captured arm64 two-stage boot: the row follows it step by step, and the
// finished console passes the boot check, while a console cut short or a
// kernel of another size does not.
func TestUBootConsoleSteps(t *testing.T) {
	b, err := os.ReadFile("testdata/uboot-arm64-console.log")
	if err != nil {
		t.Fatal(err)
	}
	con := string(b)
	p := ubootPrep{board: ubootBoards[0], kernel: 8391275, dtb: 34798,
		entry: models.Entry{Stage2: "rpi-3-b-plus/boot.scr", Kernel: "kernel8.img", DTB: "bcm2710-rpi-3-b-plus.dtb"}}
	upTo := func(marker string) string {
		i := strings.Index(con, marker)
		if i < 0 {
			t.Fatalf("capture lacks %q", marker)
		}
		return con[:i+len(marker)]
	}
	for _, tc := range []struct {
		console string
		phase   phase
		step    string
		ip      string
	}{
		{upTo("BOOTP broadcast 1"), phaseDHCP, "DHCP, bootp_vci rpi-3-b-plus", ""},
		{upTo("Filename 'rpi-3-b-plus/boot.scr'."), phaseStage2, "stage-2 rpi-3-b-plus/boot.scr", "192.168.50.150"},
		{upTo("Filename 'rpi-3-b-plus/kernel8.img'."), phaseKernel, "kernel rpi-3-b-plus/kernel8.img", "192.168.50.150"},
		{con, phaseKernel, "dtb rpi-3-b-plus/bcm2710-rpi-3-b-plus.dtb", "192.168.50.150"},
	} {
		x := row{Phase: phaseDHCP}
		consoleStep(&x, tc.console, p)
		if x.Phase != tc.phase || x.Step != tc.step || x.IP != tc.ip {
			t.Errorf("after %q: row %s %q ip %q, want %s %q ip %q", tail(tc.console, 1), x.Phase, x.Step, x.IP, tc.phase, tc.step, tc.ip)
		}
	}
	if why := checkUBoot(con, p); why != "" {
		t.Errorf("finished boot rejected: %s", why)
	}
	if why := checkUBoot(upTo("Filename 'rpi-3-b-plus/kernel8.img'."), p); !strings.Contains(why, "kernel8.img") {
		t.Errorf("boot cut off in the kernel load: check says %q, want the kernel named", why)
	}
	other := p
	other.kernel++
	if why := checkUBoot(con, other); !strings.Contains(why, "kernel8.img not loaded whole") {
		t.Errorf("kernel of the wrong size: check says %q", why)
	}
}
