// Package uimage encodes and decodes legacy U-Boot images (the 64-byte
// "uImage" header that mkimage writes), byte-for-byte as Debian's
// u-boot-tools mkimage does, so generated boot scripts need no external tool.
package uimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Magic is the big-endian value every legacy image starts with.
const Magic = 0x27051956

// HeaderSize is the fixed size of the legacy header.
const HeaderSize = 64

// nameLen is the size of the image name field, NUL padded.
const nameLen = 32

// OS, Arch, Type and Comp codes we emit (include/image.h in U-Boot).
const (
	OSLinux    = 5
	ArchARM    = 2
	ArchARM64  = 22
	TypeScript = 6
	CompNone   = 0
)

// Header is the decoded legacy image header.
type Header struct {
	HeaderCRC uint32
	Time      time.Time
	Size      uint32 // size of the data part that follows the header
	Load      uint32
	Entry     uint32
	DataCRC   uint32
	OS        uint8
	Arch      uint8
	Type      uint8
	Comp      uint8
	Name      string
}

// Script wraps text as a "script" image exactly as
// `mkimage -A <arch> -O linux -T script -C none -n name -d file` does:
// the data part is a zero-terminated list of big-endian part sizes (one part
// here) followed by the text, padded to 4 bytes.
// arch is ArchARM or ArchARM64; names longer than 31 bytes are cut like mkimage.
func Script(text []byte, name string, mtime time.Time, arch uint8) []byte {
	data := make([]byte, 8, 8+len(text)+3)
	binary.BigEndian.PutUint32(data[0:4], uint32(len(text)))
	// data[4:8] is the zero terminator of the size list.
	data = append(data, text...)
	// mkimage pads each part to a multiple of 4 bytes, except the last;
	// with a single part there is nothing to pad.
	h := make([]byte, HeaderSize, HeaderSize+len(data))
	binary.BigEndian.PutUint32(h[0:4], Magic)
	binary.BigEndian.PutUint32(h[8:12], uint32(mtime.Unix()))
	binary.BigEndian.PutUint32(h[12:16], uint32(len(data)))
	// load and entry stay 0 for scripts.
	binary.BigEndian.PutUint32(h[24:28], crc32.ChecksumIEEE(data))
	h[28] = OSLinux
	h[29] = arch
	h[30] = TypeScript
	h[31] = CompNone
	n := []byte(name)
	if len(n) > nameLen-1 {
		n = n[:nameLen-1]
	}
	copy(h[32:32+nameLen], n)
	binary.BigEndian.PutUint32(h[4:8], crc32.ChecksumIEEE(h[:HeaderSize]))
	return append(h, data...)
}

// Errors from Decode.
var (
	ErrShort    = errors.New("uimage: shorter than its header says")
	ErrMagic    = errors.New("uimage: bad magic")
	ErrHeaderCR = errors.New("uimage: header CRC mismatch")
	ErrDataCRC  = errors.New("uimage: data CRC mismatch")
)

// Decode parses and verifies a legacy image, returning the header and the
// data part (for scripts: the size list and text; see ScriptText).
func Decode(b []byte) (Header, []byte, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, nil, ErrShort
	}
	if binary.BigEndian.Uint32(b[0:4]) != Magic {
		return h, nil, ErrMagic
	}
	hdr := make([]byte, HeaderSize)
	copy(hdr, b[:HeaderSize])
	h.HeaderCRC = binary.BigEndian.Uint32(hdr[4:8])
	binary.BigEndian.PutUint32(hdr[4:8], 0)
	if crc32.ChecksumIEEE(hdr) != h.HeaderCRC {
		return h, nil, ErrHeaderCR
	}
	h.Time = time.Unix(int64(binary.BigEndian.Uint32(b[8:12])), 0).UTC()
	h.Size = binary.BigEndian.Uint32(b[12:16])
	h.Load = binary.BigEndian.Uint32(b[16:20])
	h.Entry = binary.BigEndian.Uint32(b[20:24])
	h.DataCRC = binary.BigEndian.Uint32(b[24:28])
	h.OS, h.Arch, h.Type, h.Comp = b[28], b[29], b[30], b[31]
	h.Name = string(bytes.TrimRight(b[32:64], "\x00"))
	if uint64(len(b)-HeaderSize) < uint64(h.Size) {
		return h, nil, ErrShort
	}
	data := b[HeaderSize : HeaderSize+int(h.Size)]
	if crc32.ChecksumIEEE(data) != h.DataCRC {
		return h, nil, ErrDataCRC
	}
	return h, data, nil
}

// ScriptText returns the first part of a script image's data (the script text).
func ScriptText(data []byte) ([]byte, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("uimage: script data of %d bytes has no size list", len(data))
	}
	n := binary.BigEndian.Uint32(data[0:4])
	// Skip the size list up to its zero terminator.
	off := 4
	for {
		if off+4 > len(data) {
			return nil, errors.New("uimage: unterminated script size list")
		}
		v := binary.BigEndian.Uint32(data[off : off+4])
		off += 4
		if v == 0 {
			break
		}
	}
	if uint64(off)+uint64(n) > uint64(len(data)) {
		return nil, fmt.Errorf("uimage: script part of %d bytes overruns data of %d", n, len(data))
	}
	return data[off : off+int(n)], nil
}
