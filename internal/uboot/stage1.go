// Package uboot writes the text of the stage-1 U-Boot script that lives on a
// Pi's read-only SD card: it names the board's model in DHCP option 60, asks
// the server for the per-model stage-2 script and runs it.
package uboot

import (
	"fmt"
	"regexp"
	"strings"
)

// VCI styles: how the model is spelt in bootp_vci (DHCP option 60). The
// classifier understands both.
const (
	VCIRPi  = "rpi"  // bootp_vci is the bare model name, e.g. "rpi-4-b"
	VCIWalt = "walt" // bootp_vci is "walt.node.<model>", the WalT convention
)

// DefaultStage2 is loaded when the DHCP answer names no boot file.
const DefaultStage2 = "boot.scr"

// validModel matches models.yml names; anything else could inject U-Boot
// commands into the script, so it is refused rather than quoted.
var validModel = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// VCI returns the bootp_vci value for model in the given style ("" means VCIRPi).
func VCI(model, style string) (string, error) {
	if !validModel.MatchString(model) {
		return "", fmt.Errorf("model %q: want lower-case letters, digits, '.', '_' or '-' (like rpi-4-b)", model)
	}
	switch style {
	case "", VCIRPi:
		return model, nil
	case VCIWalt:
		return "walt.node." + model, nil
	default:
		return "", fmt.Errorf("vci style %q: want %s or %s", style, VCIRPi, VCIWalt)
	}
}

// Stage1 returns the stage-1 script text for model with bootp_vci in the given
// style. The DHCP file field (set per model by the modelboot plugin) names the
// stage-2 script; DefaultStage2 is used when the answer carries none.
func Stage1(model, style string) (string, error) {
	vci, err := VCI(model, style)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# rpinetboot stage 1 for %s: DHCP with this model's vendor class,\n", model)
	b.WriteString("# then TFTP and run the stage-2 script the server names.\n")
	// autoload=no stops dhcp from TFTPing the boot file to loadaddr itself.
	b.WriteString("setenv autoload no\n")
	fmt.Fprintf(&b, "setenv bootp_vci %s\n", vci)
	// dhcp leaves a stale bootfile (from the default env or an earlier run)
	// in place when the answer has no file field, so clear it first.
	b.WriteString("setenv bootfile\n")
	b.WriteString("if dhcp; then\n")
	fmt.Fprintf(&b, "  if test -z \"${bootfile}\"; then setenv bootfile %s; fi\n", DefaultStage2)
	b.WriteString("  if tftpboot ${scriptaddr} ${bootfile}; then\n")
	b.WriteString("    source ${scriptaddr}\n")
	b.WriteString("    echo \"rpinetboot stage1: stage 2 ${bootfile} returned without booting\"\n")
	b.WriteString("  else\n")
	b.WriteString("    echo \"rpinetboot stage1: TFTP of ${bootfile} from ${serverip} failed\"\n")
	b.WriteString("  fi\n")
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  echo \"rpinetboot stage1: no DHCP answer for %s\"\n", vci)
	b.WriteString("fi\n")
	return b.String(), nil
}
