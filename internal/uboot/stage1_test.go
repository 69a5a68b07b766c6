package uboot

import (
	"strings"
	"testing"
)

func TestStage1(t *testing.T) {
	got, err := Stage1("rpi-4-b", "")
	if err != nil {
		t.Fatal(err)
	}
	// The order matters to U-Boot: vci before dhcp, bootfile cleared before
	// dhcp so an answer without a file falls back to boot.scr.
	order := []string{
		"setenv autoload no\n",
		"setenv bootp_vci rpi-4-b\n",
		"setenv bootfile\n",
		"if dhcp; then\n",
		`if test -z "${bootfile}"; then setenv bootfile boot.scr; fi`,
		"if tftpboot ${scriptaddr} ${bootfile}; then\n",
		"source ${scriptaddr}\n",
		`echo "rpinetboot stage1: TFTP of ${bootfile} from ${serverip} failed"`,
		`echo "rpinetboot stage1: no DHCP answer for rpi-4-b"`,
	}
	pos := 0
	for _, want := range order {
		i := strings.Index(got[pos:], want)
		if i < 0 {
			t.Fatalf("stage1 lacks %q after offset %d:\n%s", want, pos, got)
		}
		pos += i + len(want)
	}
}

func TestStage1WaltStyle(t *testing.T) {
	got, err := Stage1("rpi-3-b-plus", VCIWalt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "setenv bootp_vci walt.node.rpi-3-b-plus\n") {
		t.Errorf("walt style vci missing:\n%s", got)
	}
}

// A model reaches a U-Boot command line, so anything that could end or
// extend a command is refused, not escaped.
func TestStage1RefusesBadInput(t *testing.T) {
	for _, m := range []string{"", "rpi 4", "rpi-4-b; reset", "RPI-4-B", "rpi-4-b\nreset", "${x}", strings.Repeat("a", 65)} {
		if _, err := Stage1(m, ""); err == nil {
			t.Errorf("Stage1(%q) accepted", m)
		}
	}
	if _, err := Stage1("rpi-4-b", "pxe"); err == nil || !strings.Contains(err.Error(), "want rpi or walt") {
		t.Errorf("unknown style: %v", err)
	}
}
