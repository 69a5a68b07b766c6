package piboard

import (
	"encoding/binary"
	"fmt"
	"net"
)

// Model is a simulated boot loader.
type Model string

// The simulated boot loaders.
const (
	Pi3 Model = "pi3" // Pi 3B+ boot ROM: DISCOVER only, shared xid, bootcode.bin first
	Pi4 Model = "pi4" // Pi 4 EEPROM: DISCOVER+REQUEST, option 97 RPi4, blksize 1024, tsize probe
	Pi5 Model = "pi5" // Pi 5 EEPROM: like the Pi 4 with RPi5
)

// Pi3XID is the transaction id every Pi 3B+ ROM uses, which is why server
// state must be keyed by MAC.
const Pi3XID = 0x26f30339

// PXEVendorClass is option 60 of every ROM/EEPROM DISCOVER.
const PXEVendorClass = "PXEClient:Arch:00000:UNDI:002001"

// Board is one simulated board.
type Board struct {
	Model    Model
	MAC      net.HardwareAddr
	Serial   uint32
	Revision uint32   // board revision in option 97 (Pi 4/5)
	Files    []string // what it fetches after DHCP; nil means DefaultFiles(Model)
}

// SerialHex is the serial as the bootloader prints it in TFTP paths.
func (b Board) SerialHex() string { return fmt.Sprintf("%08x", b.Serial) }

var modelInfo = map[Model]struct {
	oui      [3]byte
	tag      byte // top serial byte, so serials of different models never collide
	revision uint32
	magic    string
}{
	Pi3: {[3]byte{0xb8, 0x27, 0xeb}, 0x3b, 0x00a020d3, ""},
	Pi4: {[3]byte{0xdc, 0xa6, 0x32}, 0x4b, 0x00c03111, "RPi4"},
	Pi5: {[3]byte{0x2c, 0xcf, 0x67}, 0x5b, 0x00d04170, "RPi5"},
}

// ParseModel accepts pi3, pi4 and pi5.
func ParseModel(s string) (Model, error) {
	if _, ok := modelInfo[Model(s)]; !ok {
		return "", fmt.Errorf("model %q: want pi3, pi4 or pi5", s)
	}
	return Model(s), nil
}

// NewBoard returns board number i of a fleet made with seed: the MAC's low
// three bytes and the serial's low three bytes are seed<<16+i, so fleets
// with different seeds (or indexes) never share a MAC.
func NewBoard(m Model, seed, i int) Board {
	info := modelInfo[m]
	low := uint32(seed)<<16 + uint32(i)
	mac := net.HardwareAddr{info.oui[0], info.oui[1], info.oui[2], byte(low >> 16), byte(low >> 8), byte(low)}
	return Board{Model: m, MAC: mac, Serial: uint32(info.tag)<<24 | low&0xffffff, Revision: info.revision}
}

// Fleet returns n boards of kind "pi3", "pi4", "pi5", or "mix" (the three in turn).
func Fleet(kind string, n, seed int) ([]Board, error) {
	var models []Model
	if kind == "mix" {
		models = []Model{Pi3, Pi4, Pi5}
	} else {
		m, err := ParseModel(kind)
		if err != nil {
			return nil, fmt.Errorf("fleet: %w (or mix)", err)
		}
		models = []Model{m}
	}
	if seed < 0 || seed > 255 || n < 0 || n > 65536 {
		return nil, fmt.Errorf("fleet: seed %d, n %d: want seed 0..255 and n 0..65536", seed, n)
	}
	boards := make([]Board, n)
	for i := range boards {
		boards[i] = NewBoard(models[i%len(models)], seed, i)
	}
	return boards, nil
}

// DefaultFiles is what each bootloader fetches after DHCP. For the Pi 3 the
// first entry is fetched from the root and the second is tried in
// <serial>/ first; for the Pi 4/5 every name gets the <serial>/ prefix.
func DefaultFiles(m Model) []string {
	switch m {
	case Pi3:
		return []string{"bootcode.bin", "start.elf", "fixup.dat", "config.txt", "cmdline.txt", "bcm2710-rpi-3-b-plus.dtb", "kernel8.img"}
	case Pi4:
		return []string{"config.txt", "start4.elf", "fixup4.dat", "cmdline.txt", "bcm2711-rpi-4-b.dtb", "kernel8.img"}
	case Pi5:
		return []string{"config.txt", "bcm2712-rpi-5-b.dtb", "cmdline.txt", "kernel_2712.img"}
	}
	return nil
}

// Opt97 is the client machine identifier the board sends: type 0 and a
// 16-byte GUID. Pi 4/5: magic, revision, 4 low MAC bytes, serial (32-bit
// little-endian each); Pi 3: the serial four times.
func (b Board) Opt97() []byte {
	g := make([]byte, 17)
	info := modelInfo[b.Model]
	if info.magic == "" {
		for i := 0; i < 4; i++ {
			binary.LittleEndian.PutUint32(g[1+4*i:], b.Serial)
		}
		return g
	}
	copy(g[1:5], info.magic)
	binary.LittleEndian.PutUint32(g[5:], b.Revision)
	copy(g[9:13], b.MAC[2:6])
	binary.LittleEndian.PutUint32(g[13:], b.Serial)
	return g
}
