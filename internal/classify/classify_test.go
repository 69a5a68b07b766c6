package classify

import (
	"encoding/binary"
	"net"
	"regexp"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// pkt builds a DISCOVER from mac with the given raw options.
func pkt(t testing.TB, mac string, opts map[uint8][]byte) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dhcpv4.NewDiscovery(hw)
	if err != nil {
		t.Fatal(err)
	}
	for c, v := range opts {
		d.Options[c] = v
	}
	return d
}

// guid builds option 97 as a Pi 4/5 EEPROM sends it.
func guid(magic string, rev uint32, mac string, serial uint32) []byte {
	b := make([]byte, 17)
	copy(b[1:5], magic)
	binary.LittleEndian.PutUint32(b[5:], rev)
	hw, _ := net.ParseMAC(mac)
	copy(b[9:13], hw[2:6])
	binary.LittleEndian.PutUint32(b[13:], serial)
	return b
}

func repeated(serial uint32) []byte {
	b := make([]byte, 17)
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint32(b[1+4*i:], serial)
	}
	return b
}

const (
	pi3VCI = "PXEClient:Arch:00000:UNDI:002001"
	pi4MAC = "dc:a6:32:01:02:03"
	pi3MAC = "b8:27:eb:aa:bb:cc"
	pcMAC  = "52:54:00:12:34:56"
)

var arch0 = []byte{0, 0}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		mac  string
		opts map[uint8][]byte
		want Facts
	}{
		{
			name: "Pi 3B+ ROM DISCOVER",
			mac:  pi3MAC,
			opts: map[uint8][]byte{60: []byte(pi3VCI), 93: arch0, 97: repeated(0x1234abcd)},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: 0, Serial: "1234abcd", Model: "rpi-3-b-plus"},
		},
		{
			name: "Pi 4 EEPROM DISCOVER",
			mac:  pi4MAC,
			opts: map[uint8][]byte{60: []byte(pi3VCI), 93: arch0, 97: guid("RPi4", 0x00c03111, pi4MAC, 0xdeadbeef)},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: 0, Family: "RPi4", Revision: 0xc03111, Serial: "deadbeef", Model: "rpi-4-b"},
		},
		{
			name: "Pi 4 EEPROM REQUEST without option 60",
			mac:  pi4MAC,
			opts: map[uint8][]byte{93: arch0, 97: guid("RPi4", 0x00c03111, pi4MAC, 0xdeadbeef)},
			want: Facts{PiOUI: true, RPiPXE: true, Arch: 0, Family: "RPi4", Revision: 0xc03111, Serial: "deadbeef", Model: "rpi-4-b"},
		},
		{
			name: "Pi 400 by revision",
			mac:  "e4:5f:01:00:00:01",
			opts: map[uint8][]byte{60: []byte(pi3VCI), 97: guid("RPi4", 0x00c03130, "e4:5f:01:00:00:01", 1)},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: -1, Family: "RPi4", Revision: 0xc03130, Serial: "00000001", Model: "rpi-400"},
		},
		{
			name: "CM5 Lite by revision",
			mac:  "2c:cf:67:00:00:02",
			opts: map[uint8][]byte{60: []byte(pi3VCI), 97: guid("RPi5", 0x00c041a0, "2c:cf:67:00:00:02", 2)},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: -1, Family: "RPi5", Revision: 0xc041a0, Serial: "00000002", Model: "rpi-cm5-lite"},
		},
		{
			name: "Pi 5 without revision falls back to family",
			mac:  "88:a2:9e:00:00:03",
			opts: map[uint8][]byte{60: []byte(pi3VCI), 97: guid("RPi5", 0, "88:a2:9e:00:00:03", 3)},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: -1, Family: "RPi5", Serial: "00000003", Model: "rpi-5-b"},
		},
		{
			name: "custom DHCP_OPTION97 magic still decoded when the MAC matches",
			mac:  pi4MAC,
			opts: map[uint8][]byte{60: []byte(pi3VCI), 97: guid("ACME", 0x00d03114, pi4MAC, 0x0badf00d)},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: -1, Revision: 0xd03114, Serial: "0badf00d", Model: "rpi-4-b"},
		},
		{
			name: "short option 97 gives no facts",
			mac:  pi4MAC,
			opts: map[uint8][]byte{60: []byte(pi3VCI), 97: {0, 'R', 'P', 'i'}},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: -1, Model: Unknown, Opt97Ignored: "option 97 is 4 bytes, want 17 (type 0 + 16-byte GUID)"},
		},
		{
			name: "Pi MAC, no option 60, short option 97: not the rpi-pxe class",
			mac:  pi4MAC,
			opts: map[uint8][]byte{97: {0}},
			want: Facts{PiOUI: true, Arch: -1, Model: Unknown, Opt97Ignored: "option 97 is 1 bytes, want 17 (type 0 + 16-byte GUID)"},
		},
		{
			name: "PC PXE client is not a Pi",
			mac:  pcMAC,
			opts: map[uint8][]byte{60: []byte(pi3VCI), 93: arch0},
			want: Facts{PXE: true, VendorClass: pi3VCI, Arch: 0, Model: Unknown},
		},
		{
			name: "U-Boot EFI fallback from a Pi MAC is not the ROM",
			mac:  pi4MAC,
			opts: map[uint8][]byte{60: []byte("PXEClient:Arch:00011:UNDI:003000"), 93: {0, 11}},
			want: Facts{PiOUI: true, PXE: true, VendorClass: "PXEClient:Arch:00011:UNDI:003000", Arch: 11, Model: Unknown},
		},
		{
			name: "odd option 93 is ignored",
			mac:  pcMAC,
			opts: map[uint8][]byte{93: {0}},
			want: Facts{Arch: -1, Model: Unknown, ArchIgnored: "option 93 length is not a positive multiple of 2"},
		},
		{
			name: "U-Boot walt.node VCI",
			mac:  pi3MAC,
			opts: map[uint8][]byte{60: []byte("walt.node.rpi-3-b-plus"), 93: {0, 22}},
			want: Facts{PiOUI: true, UBoot: true, VendorClass: "walt.node.rpi-3-b-plus", Arch: 22, Model: "rpi-3-b-plus"},
		},
		{
			name: "U-Boot rpi- VCI on any MAC",
			mac:  pcMAC,
			opts: map[uint8][]byte{60: []byte("rpi-4-b")},
			want: Facts{UBoot: true, VendorClass: "rpi-4-b", Arch: -1, Model: "rpi-4-b"},
		},
		{
			name: "U-Boot default VCI: U-Boot, model unknown",
			mac:  pcMAC,
			opts: map[uint8][]byte{60: []byte("U-Boot.armv8"), 93: {0, 22}},
			want: Facts{UBoot: true, VendorClass: "U-Boot.armv8", Arch: 22, Model: Unknown},
		},
		{
			name: "U-Boot VCI with an unsafe model name drops the name",
			mac:  pcMAC,
			opts: map[uint8][]byte{60: []byte("walt.node.../../etc")},
			want: Facts{UBoot: true, VendorClass: "walt.node.../../etc", Arch: -1, Model: Unknown},
		},
		{
			name: "upper-case model is lower-cased",
			mac:  pcMAC,
			opts: map[uint8][]byte{60: []byte("walt.node.RPI-5-B")},
			want: Facts{UBoot: true, VendorClass: "walt.node.RPI-5-B", Arch: -1, Model: "rpi-5-b"},
		},
		{
			name: "trailing NUL in option 60 is dropped",
			mac:  pi3MAC,
			opts: map[uint8][]byte{60: []byte(pi3VCI + "\x00")},
			want: Facts{PiOUI: true, PXE: true, RPiPXE: true, VendorClass: pi3VCI, Arch: -1, Model: "rpi-3-b-plus"},
		},
		{
			name: "ordinary Linux client",
			mac:  pi4MAC,
			opts: map[uint8][]byte{60: []byte("dhcpcd-9.4.1:Linux-6.1.0:aarch64:BCM2835")},
			want: Facts{PiOUI: true, VendorClass: "dhcpcd-9.4.1:Linux-6.1.0:aarch64:BCM2835", Arch: -1, Model: Unknown},
		},
	}
	c := Default()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Classify(pkt(t, tc.mac, tc.opts))
			// Every Pi ROM/EEPROM and U-Boot client is a netboot client.
			tc.want.Netboot = tc.want.Netboot || tc.want.RPiPXE || tc.want.UBoot
			if got != tc.want {
				t.Errorf("\ngot  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestClassifyCustomOUIs(t *testing.T) {
	o, err := ParseOUI("02:00:00")
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{OUIs: []net.HardwareAddr{o}}
	if r := c.Classify(pkt(t, "02:00:00:00:00:01", map[uint8][]byte{60: []byte(pi3VCI)})); !r.RPiPXE {
		t.Errorf("configured OUI not recognised: %+v", r)
	}
	if r := c.Classify(pkt(t, pi3MAC, map[uint8][]byte{60: []byte(pi3VCI)})); r.RPiPXE || r.PiOUI {
		t.Errorf("OUI list should replace the defaults: %+v", r)
	}
}

func TestClassifyNilSafe(t *testing.T) {
	var c *Config
	r := c.Classify(pkt(t, pi3MAC, map[uint8][]byte{60: []byte(pi3VCI)}))
	if !r.RPiPXE {
		t.Errorf("nil config should act as Default: %+v", r)
	}
	if r := Default().Classify(nil); r.Model != Unknown || r.Arch != -1 {
		t.Errorf("nil request: %+v", r)
	}
	d := pkt(t, pi3MAC, nil)
	d.ClientHWAddr = nil
	if r := Default().Classify(d); r.PiOUI {
		t.Errorf("empty MAC matched an OUI")
	}
}

func TestParseOUI(t *testing.T) {
	for in, want := range map[string]string{"b8:27:eb": "b8:27:eb", "DC-A6-32": "dc:a6:32"} {
		o, err := ParseOUI(in)
		if err != nil || o.String() != want {
			t.Errorf("ParseOUI(%q) = %v, %v; want %s", in, o, err, want)
		}
	}
	for _, bad := range []string{"", "b8:27", "b8:27:eb:01", "b8:27-eb", "zz:27:eb", "b827eb", "b8:27:e"} {
		if _, err := ParseOUI(bad); err == nil {
			t.Errorf("ParseOUI(%q) accepted", bad)
		}
	}
}

func TestParseVCIPattern(t *testing.T) {
	re, err := ParseVCIPattern(`^lab\.(?P<model>[a-z0-9-]+)$`)
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{UBootVCI: []*regexp.Regexp{re}}
	if r := c.Classify(pkt(t, pcMAC, map[uint8][]byte{60: []byte("lab.rpi-cm4")})); !r.UBoot || r.Model != "rpi-cm4" {
		t.Errorf("custom pattern: %+v", r)
	}
	if _, err := ParseVCIPattern("(("); err == nil {
		t.Error("bad regexp accepted")
	}
}

func TestModelFromRevision(t *testing.T) {
	for rev, want := range map[uint32]string{
		0xa02082: "rpi-3-b", 0xa020d3: "rpi-3-b-plus", 0x9020e0: "rpi-3-a-plus",
		0xc03111: "rpi-4-b", 0xc03130: "rpi-400", 0xa03140: "rpi-cm4", 0xa03150: "rpi-cm4s",
		0xd04170: "rpi-5-b", 0xc04180: "rpi-cm5", 0xd04190: "rpi-500", 0xb041a0: "rpi-cm5-lite",
		0x902120: "", // Zero 2 W: cannot netboot, no model
		0x0010:   "", // old-style code
		0x0:      "",
	} {
		if got := ModelFromRevision(rev); got != want {
			t.Errorf("ModelFromRevision(%#x) = %q, want %q", rev, got, want)
		}
	}
}

func TestSanitizeModel(t *testing.T) {
	for in, want := range map[string]string{
		"rpi-4-b": "rpi-4-b", "RPi-CM4": "rpi-cm4", "a.b_c-1": "a.b_c-1",
		"": "", "-x": "", ".hidden": "", "a/b": "", "a b": "", "ü": "",
		string(make([]byte, 65)): "",
	} {
		if got := SanitizeModel(in); got != want {
			t.Errorf("SanitizeModel(%q) = %q, want %q", in, got, want)
		}
	}
	long := "a"
	for len(long) < 64 {
		long += "b"
	}
	if SanitizeModel(long) != long || SanitizeModel(long+"c") != "" {
		t.Error("64-char limit not enforced exactly")
	}
}
