package main

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
)

// firmwareSizes are the sizes of a Raspberry Pi OS (bookworm) boot
// partition's files that a Pi 3B+ and a Pi 4 fetch over TFTP; the contents
// are random bytes of those sizes.
var firmwareSizes = map[string]int{
	"bootcode.bin":             52_456,
	"start.elf":                2_981_632,
	"fixup.dat":                7_314,
	"start4.elf":               2_252_768,
	"fixup4.dat":               5_446,
	"config.txt":               1_990,
	"cmdline.txt":              154,
	"bcm2710-rpi-3-b-plus.dtb": 34_798,
	"bcm2711-rpi-4-b.dtb":      55_793,
	"kernel8.img":              8_391_275,
}

// firmware is the set of files the storms serve: where it was written and
// each file's CRC-32C (as piboard reports it), to check what boards got.
type firmware struct {
	dir string
	crc map[string]string // by file name
}

// writeFirmware writes the firmware set into dir (random bytes seeded by
// file name, so every run serves the same bytes).
func writeFirmware(dir string) (firmware, error) {
	fw := firmware{dir: dir, crc: map[string]string{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fw, fmt.Errorf("firmware dir: %w", err)
	}
	for name, size := range firmwareSizes {
		h := fnv.New64a()
		h.Write([]byte(name))
		r := rand.New(rand.NewChaCha8([32]byte{byte(h.Sum64()), byte(h.Sum64() >> 8), byte(h.Sum64() >> 16)}))
		b := make([]byte, size)
		for i := 0; i+8 <= len(b); i += 8 {
			v := r.Uint64()
			for k := 0; k < 8; k++ {
				b[i+k] = byte(v >> (8 * k))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fw, fmt.Errorf("firmware %s: %w", name, err)
		}
		fw.crc[name] = piboard.CRC32C(b)
	}
	return fw, nil
}

// treeFor lays out the firmware for a server: ours resolves
// <serial>/NAME through its tree chain, so every file goes to default/;
// the peers serve paths literally, so the files go to the root with one
// <serial> -> . symlink per Pi 4 board (what the Foundation's recipe does
// with a directory per serial), and Pi 3 boards find no <serial>/ and fall
// back to the root as the real ROM does. Files are hard links to fw.
func treeFor(dir, fw string, ours bool, boards []piboard.Board) (string, error) {
	root := filepath.Join(dir, "tftp")
	files := root
	if ours {
		files = filepath.Join(root, "default")
	}
	if err := os.MkdirAll(files, 0o755); err != nil {
		return "", fmt.Errorf("tftp tree: %w", err)
	}
	names := make([]string, 0, len(firmwareSizes))
	for n := range firmwareSizes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.Link(filepath.Join(fw, n), filepath.Join(files, n)); err != nil {
			return "", fmt.Errorf("tftp tree: %w", err)
		}
	}
	if !ours {
		for _, b := range boards {
			if b.Model == piboard.Pi3 {
				continue
			}
			if err := os.Symlink(".", filepath.Join(root, b.SerialHex())); err != nil {
				return "", fmt.Errorf("tftp tree: %w", err)
			}
		}
	}
	return root, nil
}
