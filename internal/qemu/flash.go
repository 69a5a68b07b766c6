package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// The qemu_arm* U-Boot keeps its environment at the start of flash bank 1
// (0x04000000), 0x40000 bytes; QEMU wants the pflash file to be exactly 64 MiB.
const (
	envSize   = 0x40000
	flashSize = 64 << 20
)

// ScriptAddr is where Machine.Script appears in the guest: flash bank 1 right
// after the environment. The baked env names it ${stage1addr}.
const ScriptAddr = "0x04040000"

// DefaultEnv is the baked environment's base. A baked env replaces U-Boot's
// default one completely, so the load addresses must be restated; these are
// the qemu_arm* defaults (the same for both arches), fdt_addr included,
// which is also the variable the Pi firmware sets.
func DefaultEnv() map[string]string {
	return map[string]string{
		"bootdelay":      "0",
		"baudrate":       "115200",
		"arch":           "arm",
		"board":          "qemu-arm",
		"loadaddr":       "0x40200000",
		"scriptaddr":     "0x40200000",
		"pxefile_addr_r": "0x40300000",
		"kernel_addr_r":  "0x40400000",
		"ramdisk_addr_r": "0x44000000",
		"fdt_addr_r":     "0x43f00000",
		"fdt_addr":       "0x40000000",
		"fdt_high":       "0xffffffff",
		"initrd_high":    "0xffffffff",
		"autoload":       "no",
		"netretry":       "no",
		"stage1addr":     ScriptAddr,
	}
}

// envText renders DefaultEnv overlaid with env as mkenvimage input, sorted
// so the image is reproducible.
func envText(env map[string]string) (string, error) {
	all := DefaultEnv()
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\n\x00") {
			return "", fmt.Errorf("env name %q: want a name without '=', NUL or newline", k)
		}
		if strings.ContainsAny(v, "\n\x00") {
			return "", fmt.Errorf("env %s: value has a newline or NUL; mkenvimage stores one variable a line", k)
		}
		all[k] = v
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%s\n", k, all[k])
	}
	return b.String(), nil
}

// flashImage writes dir/flash1.img: the environment (mkenvimage, the
// reference encoder) followed by script at ScriptAddr.
func flashImage(ctx context.Context, dir string, env map[string]string, script []byte) (string, error) {
	text, err := envText(env)
	if err != nil {
		return "", err
	}
	if len(script) > flashSize-envSize {
		return "", fmt.Errorf("stage-1 script of %d bytes does not fit in flash (max %d)", len(script), flashSize-envSize)
	}
	envTxt := filepath.Join(dir, "env.txt")
	if err := os.WriteFile(envTxt, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("env: %w", err)
	}
	envImg := filepath.Join(dir, "env.img")
	if out, err := exec.CommandContext(ctx, "mkenvimage", "-s", fmt.Sprint(envSize), "-o", envImg, envTxt).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkenvimage: %w: %s", err, strings.TrimSpace(string(out)))
	}
	img, err := os.ReadFile(envImg)
	if err != nil {
		return "", fmt.Errorf("env image: %w", err)
	}
	if len(img) != envSize {
		return "", fmt.Errorf("env image: mkenvimage wrote %d bytes, want %d", len(img), envSize)
	}
	path := filepath.Join(dir, "flash1.img")
	if err := writeSparse(path, img, script); err != nil {
		return "", fmt.Errorf("flash image: %w", err)
	}
	return path, nil
}

// writeSparse writes env at offset 0 and script at envSize and extends the
// file to flashSize with a hole, so a 64 MiB image costs a few KiB of disk.
func writeSparse(path string, env, script []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(env); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteAt(script, envSize); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(flashSize); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
