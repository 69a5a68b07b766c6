package classify

import (
	"net"
	"regexp"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var serialRE = regexp.MustCompile(`^[0-9a-f]{8}$`)

// checkResult asserts the promises callers rely on, whatever the input.
func checkResult(t *testing.T, r Facts) {
	t.Helper()
	if r.Model != Unknown && SanitizeModel(r.Model) != r.Model {
		t.Fatalf("unsafe model %q", r.Model)
	}
	if r.Serial != "" && !serialRE.MatchString(r.Serial) {
		t.Fatalf("bad serial %q", r.Serial)
	}
	if r.RPiPXE && !r.PiOUI {
		t.Fatalf("rpi-pxe without a Pi OUI: %+v", r)
	}
	if r.Arch < -1 || r.Arch > 0xffff {
		t.Fatalf("arch out of range: %d", r.Arch)
	}
}

func FuzzClassify(f *testing.F) {
	for _, opts := range []map[uint8][]byte{
		{60: []byte(pi3VCI), 93: arch0, 97: repeated(0x1234abcd)},
		{60: []byte(pi3VCI), 93: arch0, 97: guid("RPi4", 0xc03111, pi4MAC, 0xdeadbeef)},
		{97: guid("RPi5", 0xd04170, pi4MAC, 1)},
		{60: []byte("walt.node.rpi-3-b-plus"), 93: {0, 22}},
		{60: []byte("U-Boot.armv7"), 93: {0}},
	} {
		f.Add(pkt(f, pi4MAC, opts).ToBytes())
	}
	c := Default()
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		checkResult(t, c.Classify(req))
	})
}

func FuzzDecodeOpt97(f *testing.F) {
	f.Add(guid("RPi4", 0xc03111, pi4MAC, 0xdeadbeef), []byte{0xdc, 0xa6, 0x32, 1, 2, 3})
	f.Add(repeated(0x1234abcd), []byte{0xb8, 0x27, 0xeb, 1, 2, 3})
	f.Add([]byte{0, 'R', 'P', 'i'}, []byte{})
	f.Fuzz(func(t *testing.T, opt, mac []byte) {
		g := DecodeOpt97(opt, net.HardwareAddr(mac))
		if g.Serial != "" && !serialRE.MatchString(g.Serial) {
			t.Fatalf("bad serial %q", g.Serial)
		}
		if (g.Ignored == "") == (g.Serial == "" && g.Family == "") {
			t.Fatalf("either facts or a reason, not both or neither: %+v", g)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	req := pkt(b, pi4MAC, map[uint8][]byte{60: []byte(pi3VCI), 93: arch0, 97: guid("RPi4", 0xc03111, pi4MAC, 0xdeadbeef)})
	c := Default()
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(req)
	}
}

func BenchmarkClassifyUBoot(b *testing.B) {
	req := pkt(b, pi4MAC, map[uint8][]byte{60: []byte("walt.node.rpi-4-b"), 93: {0, 22}})
	c := Default()
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(req)
	}
}
