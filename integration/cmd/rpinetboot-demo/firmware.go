package main

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
)

// firmware lists the placeholder boot files with the sizes of a Raspberry Pi
// OS (bookworm) boot partition, so the boards move realistic amounts of
// data. The bytes are pseudo-random (seeded by the name, so every run
// serves the same files); nothing boots from them. config.txt and
// cmdline.txt are not here: rpi-tftpd renders them per board from the
// shipped templates.
var firmware = map[string]int{
	"bootcode.bin":                    52_456,
	"start.elf":                       2_981_632,
	"start_cd.elf":                    813_020,
	"start4.elf":                      2_252_768,
	"start4cd.elf":                    813_020,
	"fixup.dat":                       7_314,
	"fixup_cd.dat":                    3_170,
	"fixup4.dat":                      5_446,
	"fixup4cd.dat":                    3_170,
	"bcm2710-rpi-3-b.dtb":             34_180,
	"bcm2710-rpi-3-b-plus.dtb":        34_798,
	"bcm2711-rpi-4-b.dtb":             55_793,
	"bcm2711-rpi-400.dtb":             55_765,
	"bcm2711-rpi-cm4.dtb":             56_417,
	"bcm2712-rpi-5-b.dtb":             79_312,
	"kernel8.img":                     8_391_275,
	"kernel_2712.img":                 9_371_136,
	"overlays/overlay_map.dtb":        5_487,
	"overlays/disable-bt.dtbo":        1_073,
	"overlays/vc4-kms-v3d.dtbo":       2_946,
	"overlays/vc4-kms-v3d-pi4.dtbo":   4_227,
	"overlays/vc4-kms-v3d-pi5.dtbo":   6_016,
	"overlays/dwc2.dtbo":              1_015,
	"overlays/README":                 42_051,
	"overlays/hifiberry-dacplus.dtbo": 2_386,
}

// writeFirmware makes sure dir holds every placeholder file at its size.
// Files already there at the right size are kept, so only the first run
// pays for writing them. It returns the number of files written and the
// total size of the set.
func writeFirmware(dir string) (written int, total int64, err error) {
	names := make([]string, 0, len(firmware))
	for n := range firmware {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		size := firmware[name]
		total += int64(size)
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(size) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, total, fmt.Errorf("firmware %s: %w", name, err)
		}
		// Write to a temporary name first: a run killed mid-write must not
		// leave a short file that a later run takes for the real one.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, placeholder(name, size), 0o644); err != nil {
			return written, total, fmt.Errorf("firmware %s: %w", name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return written, total, fmt.Errorf("firmware %s: %w", name, err)
		}
		written++
	}
	return written, total, nil
}

// placeholder is size pseudo-random bytes seeded by name.
func placeholder(name string, size int) []byte {
	h := fnv.New64a()
	h.Write([]byte(name))
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], h.Sum64())
	r := rand.New(rand.NewChaCha8(seed))
	b := make([]byte, size+7)
	for i := 0; i < size; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:size]
}
