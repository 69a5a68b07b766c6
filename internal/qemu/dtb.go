package qemu

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// customDTB dumps QEMU's own virt DTB for this machine and sets
// /chosen/bootargs in it. QEMU's DTB has no bootargs and -append needs
// -kernel, so -dtb is the only way to hand U-Boot firmware-style arguments.
// The blob is re-packed with 4 KiB of free space so `fdt set` in a stage-2
// script has room to grow it.
func customDTB(ctx context.Context, mc machine, dir, bootargs string) (string, error) {
	dumped := filepath.Join(dir, "virt.dtb")
	out := filepath.Join(dir, "custom.dtb")
	steps := [][]string{
		{mc.binary, "-M", "virt,dumpdtb=" + dumped, "-cpu", mc.cpu, "-m", memory, "-nographic", "-nic", "none"},
		// fdtput takes the value as one argv string: no DTS quoting to get wrong.
		{"fdtput", "-t", "s", dumped, "/chosen", "bootargs", bootargs},
		{"dtc", "-q", "-I", "dtb", "-O", "dtb", "-p", "4096", "-o", out, dumped},
	}
	for _, argv := range steps {
		// deps: qemu-system-aarch64 qemu-system-arm fdtput dtc
		if b, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("custom dtb: %s: %w: %s", argv[0], err, strings.TrimSpace(string(b)))
		}
	}
	return out, nil
}
