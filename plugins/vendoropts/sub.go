package vendoropts

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// parseSub encodes one sub-option token CODE:TYPE:VALUE[,TYPE:VALUE...]
// as code, length, value; several typed pieces are concatenated, which is
// how PXE records like the boot menu item (u16, u8, text) are written.
func parseSub(tok string) ([]byte, error) {
	codeS, rest, ok := strings.Cut(tok, ":")
	if !ok {
		return nil, fmt.Errorf("want CODE:TYPE:VALUE")
	}
	code, err := strconv.ParseUint(codeS, 0, 8)
	if err != nil || code == 0 || code == 255 {
		return nil, fmt.Errorf("code %q: want 1 to 254", codeS)
	}
	var val []byte
	for _, piece := range strings.Split(rest, ",") {
		typ, v, ok := strings.Cut(piece, ":")
		if !ok {
			return nil, fmt.Errorf("%q: want TYPE:VALUE with TYPE text, ip, u8, u16, u32 or hex", piece)
		}
		b, err := encodeValue(typ, v)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: %w", typ, v, err)
		}
		val = append(val, b...)
	}
	if len(val) > 255 {
		return nil, fmt.Errorf("value is %d bytes, want at most 255", len(val))
	}
	return append([]byte{byte(code), byte(len(val))}, val...), nil
}

func encodeValue(typ, v string) ([]byte, error) {
	switch typ {
	case "text":
		s, err := unescape(v)
		return []byte(s), err
	case "ip":
		ip := net.ParseIP(v).To4()
		if ip == nil {
			return nil, fmt.Errorf("want an IPv4 address")
		}
		return ip, nil
	case "u8", "u16", "u32":
		bits, _ := strconv.Atoi(typ[1:])
		n, err := strconv.ParseUint(v, 0, bits)
		if err != nil {
			return nil, fmt.Errorf("want an unsigned %d-bit number", bits)
		}
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, uint32(n))
		return b[4-bits/8:], nil
	case "hex":
		b, err := hex.DecodeString(strings.NewReplacer(":", "", "-", "").Replace(v))
		if err != nil {
			return nil, fmt.Errorf("want hex bytes like 01:02:ff or 0102ff")
		}
		return b, nil
	default:
		return nil, fmt.Errorf("type %q: want text, ip, u8, u16, u32 or hex", typ)
	}
}
