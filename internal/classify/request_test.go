package classify

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func typed(t *testing.T, mt dhcpv4.MessageType, mac string, opts map[uint8][]byte) *dhcpv4.DHCPv4 {
	t.Helper()
	p := pkt(t, mac, opts)
	p.UpdateOption(dhcpv4.OptMessageType(mt))
	return p
}

func TestRequestRecognisedByRecentDiscover(t *testing.T) {
	cfg, err := ParseArgs("remember=10s")
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg)
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	mac := "dc:a6:32:0a:0b:0c"
	guid := repeated(0x1234abcd) // an older EEPROM: no RPi4 magic
	disc := typed(t, dhcpv4.MessageTypeDiscover, mac, map[uint8][]byte{60: []byte(pi3VCI), 97: guid})
	req := typed(t, dhcpv4.MessageTypeRequest, mac, map[uint8][]byte{97: guid})
	other := typed(t, dhcpv4.MessageTypeRequest, "dc:a6:32:0a:0b:0d", map[uint8][]byte{97: guid})
	other.TransactionID = req.TransactionID // memory is by MAC, never by xid

	if f := c.Facts(req); f.RPiPXE || f.Netboot {
		t.Fatal("REQUEST recognised before any DISCOVER was seen")
	}
	if f := c.Facts(disc); !f.RPiPXE || f.Remembered {
		t.Fatalf("DISCOVER: %+v", f)
	}
	now = now.Add(5 * time.Second)
	if f := c.Facts(req); !f.RPiPXE || !f.Remembered || !f.Netboot {
		t.Errorf("REQUEST 5 s after the DISCOVER: %+v", f)
	}
	if f := c.Facts(other); f.RPiPXE {
		t.Error("another MAC with the same xid was recognised")
	}
	linux := typed(t, dhcpv4.MessageTypeRequest, mac, map[uint8][]byte{60: []byte("dhcpcd-9.4.1")})
	if f := c.Facts(linux); f.RPiPXE {
		t.Error("REQUEST with another vendor class recognised")
	}
	now = now.Add(11 * time.Second)
	if f := c.Facts(req); f.RPiPXE {
		t.Error("REQUEST recognised after the memory expired")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	r := newRecent(time.Hour, 100)
	now := time.Unix(0, 0)
	for i := 0; i < 10_000; i++ {
		r.remember([]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}, now)
	}
	if n := r.size(); n > 200 {
		t.Errorf("memory holds %d entries, bound is 200", n)
	}
	if !r.seen([]byte{2, 0, 0, 0, byte(9999 >> 8), byte(9999 & 0xff)}, now) {
		t.Error("most recent MAC forgotten")
	}
}

func TestBeginOfEnd(t *testing.T) {
	cfg, _ := ParseArgs("oui=02:00:00")
	Configure(cfg)
	t.Cleanup(func() { Configure(nil) })
	req := typed(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:00:01", map[uint8][]byte{60: []byte(pi3VCI)})
	if f := Begin(req); !f.RPiPXE {
		t.Fatalf("configured OUI not used: %+v", f)
	}
	// Reconfiguring mid-request does not change the request's facts: they are computed once.
	Configure(nil)
	if f := Of(req); !f.RPiPXE {
		t.Error("Of recomputed the facts instead of reading Begin's")
	}
	End(req)
	if f := Of(req); f.RPiPXE {
		t.Error("after End, Of still returned the old facts")
	}
}

func TestNetbootNeedsMoreThanPXEClient(t *testing.T) {
	laptop := map[uint8][]byte{60: []byte("PXEClient:Arch:00007:UNDI:003016"), 93: {0, 7}}
	if f := Default().Classify(pkt(t, pcMAC, laptop)); !f.PXE || f.Netboot {
		t.Errorf("a bare PXEClient from a PC counted as netboot by default: %+v", f)
	}
	cfg, err := ParseArgs("pxe-arch=7,11")
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Classify(pkt(t, pcMAC, laptop)); !f.Netboot || f.Class() != "pxe" {
		t.Errorf("configured arch 7 not netboot: %+v", f)
	}
	http := map[uint8][]byte{60: []byte("HTTPClient:Arch:00016:UNDI:003001"), 93: {0, 16}}
	if f := cfg.Classify(pkt(t, pcMAC, http)); !f.HTTPClient || f.Netboot {
		t.Errorf("HTTP client of an unconfigured arch: %+v", f)
	}
}

func TestHostnameValidatedAtCapture(t *testing.T) {
	for name, want := range map[string]string{
		"pi-01": "pi-01", "pi-01\x00": "pi-01",
		"pi\nsetenv bootcmd reset; saveenv": "", "$(reboot)": "", "pi\x1b[2J": "", "a;b": "",
	} {
		f := Default().Classify(pkt(t, pcMAC, map[uint8][]byte{12: []byte(name)}))
		if f.Hostname != want || f.HostnameRefused != (want == "") {
			t.Errorf("option 12 %q: Hostname %q refused %v", name, f.Hostname, f.HostnameRefused)
		}
	}
}

func TestLinkSelection(t *testing.T) {
	gi := netip.MustParseAddr("10.20.2.1")
	for _, tc := range []struct {
		name    string
		giaddr  string
		opts    map[uint8][]byte
		relayed bool
		link    string
	}{
		{"direct", "", nil, false, ""},
		{"giaddr", "10.20.2.1", nil, true, "10.20.2.1"},
		{"option 118 wins over giaddr", "10.20.2.1", map[uint8][]byte{118: {10, 30, 0, 0}}, true, "10.30.0.0"},
		{"option 82.5 wins over 118", "10.20.2.1", map[uint8][]byte{118: {10, 30, 0, 0}, 82: {1, 2, 'a', 'b', 5, 4, 10, 40, 0, 1}}, true, "10.40.0.1"},
		{"truncated 82 ignored", "10.20.2.1", map[uint8][]byte{82: {5, 4, 10, 40}}, true, "10.20.2.1"},
		{"short 118 ignored", "10.20.2.1", map[uint8][]byte{118: {10, 30}}, true, "10.20.2.1"},
		{"118 without relay", "", map[uint8][]byte{118: {10, 30, 0, 0}}, false, "10.30.0.0"},
	} {
		p := pkt(t, pcMAC, tc.opts)
		if tc.giaddr != "" {
			p.GatewayIPAddr = gi.AsSlice()
		}
		f := Default().Classify(p)
		got := ""
		if f.LinkAddr.IsValid() {
			got = f.LinkAddr.String()
		}
		if f.Relayed != tc.relayed || got != tc.link {
			t.Errorf("%s: relayed %v link %q, want %v %q", tc.name, f.Relayed, got, tc.relayed, tc.link)
		}
	}
}

func TestIPXEUserClass(t *testing.T) {
	for _, uc := range [][]byte{[]byte("iPXE"), {4, 'i', 'P', 'X', 'E'}, {3, 'f', 'o', 'o', 4, 'i', 'P', 'X', 'E'}} {
		if f := Default().Classify(pkt(t, pcMAC, map[uint8][]byte{77: uc})); !f.IPXE {
			t.Errorf("user class % x not iPXE", uc)
		}
	}
	if f := Default().Classify(pkt(t, pcMAC, map[uint8][]byte{77: {9, 'i'}})); f.IPXE {
		t.Error("truncated user class taken for iPXE")
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"oui=b8:27", "OUI"}, {"vci=((", "bootp_vci pattern"}, {"pxe-arch=x", "option 93 architecture"},
		{"remember=48h", "outside"}, {"colour=red", `unknown key "colour"`},
	} {
		if _, err := ParseArgs(tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "classify: ") {
			t.Errorf("ParseArgs(%q) = %v, want an error with %q", tc.arg, err, tc.want)
		}
	}
	c, err := ParseArgs("vci=^lab\\.(?P<model>.+)$", "oui=02:00:00")
	if err != nil || len(c.UBootVCI) != 1 || len(c.OUIs) != 1 {
		t.Fatalf("replacing lists: %+v %v", c, err)
	}
}
