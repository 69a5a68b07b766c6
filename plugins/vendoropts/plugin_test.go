package vendoropts

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// piMenu is option 43 as dnsmasq sends it for pxe-service=0,"Raspberry Pi Boot".
var piMenu = []byte{
	0x06, 0x01, 0x03, 0x0a, 0x04, 0x00, 0x50, 0x58, 0x45, 0x09, 0x14, 0x00, 0x00, 0x11,
	0x52, 0x61, 0x73, 0x70, 0x62, 0x65, 0x72, 0x72, 0x79, 0x20, 0x50, 0x69, 0x20, 0x42, 0x6f, 0x6f, 0x74, 0xff,
}

var piArgs = []string{"vendor-prefix=PXEClient", "oui=b8:27:eb", "reply-vendor=PXEClient",
	"sub=6:u8:3", "sub=10:u8:0,text:PXE", "sub=9:u16:0,u8:17,text:Raspberry%20Pi%20Boot"}

func request(t testing.TB, mac, vci string) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dhcpv4.NewDiscovery(hw)
	if err != nil {
		t.Fatal(err)
	}
	if vci != "" {
		d.UpdateOption(dhcpv4.OptClassIdentifier(vci))
	}
	return d
}

func reply(t testing.TB, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	r, err := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 168, 50, 1))))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustParse(t *testing.T, args ...string) *class {
	t.Helper()
	c, err := parseArgs(args)
	if err != nil {
		t.Fatalf("parseArgs(%q): %v", args, err)
	}
	return c
}

func TestReproducesRaspberryPiMenu(t *testing.T) {
	h, err := setup4(piArgs...)
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, "b8:27:eb:01:02:03", "PXEClient:Arch:00000:UNDI:002001")
	resp, stop := h(req, reply(t, req))
	if stop {
		t.Error("vendoropts must not stop the chain")
	}
	back, err := dhcpv4.FromBytes(resp.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, piMenu) {
		t.Errorf("option 43 = % x\nwant         % x", got, piMenu)
	}
	if got := back.ClassIdentifier(); got != "PXEClient" {
		t.Errorf("option 60 = %q", got)
	}
}

func TestMatching(t *testing.T) {
	for _, tc := range []struct {
		args []string
		mac  string
		vci  string
		want bool
	}{
		{[]string{"vendor=ACME"}, "52:54:00:00:00:01", "ACME", true},
		{[]string{"vendor=ACME"}, "52:54:00:00:00:01", "ACME-2", false},
		{[]string{"vendor=ACME"}, "52:54:00:00:00:01", "", false},
		{[]string{"vendor=ACME", "vendor=Other"}, "52:54:00:00:00:01", "Other", true},
		{[]string{"vendor=ACME%20Phone"}, "52:54:00:00:00:01", "ACME Phone", true},
		{[]string{"vendor-prefix=ACME"}, "52:54:00:00:00:01", "ACME-2", true},
		{[]string{"oui=52:54:00"}, "52:54:00:00:00:01", "", true},
		{[]string{"oui=52:54:00"}, "52:54:01:00:00:01", "ACME", false},
		{[]string{"vendor=ACME", "oui=52:54:00"}, "52:54:00:00:00:01", "ACME", true},
		{[]string{"vendor=ACME", "oui=52:54:00"}, "52:54:01:00:00:01", "ACME", false},
		{[]string{"vendor=ACME", "oui=52:54:00"}, "52:54:00:00:00:01", "Other", false},
	} {
		c := mustParse(t, append(tc.args, "sub=1:u8:1")...)
		req := request(t, tc.mac, tc.vci)
		resp := reply(t, req)
		before := resp.ToBytes()
		out, _ := c.handle(req, resp)
		changed := !bytes.Equal(before, out.ToBytes())
		if changed != tc.want {
			t.Errorf("%v mac=%s vci=%q: changed=%v, want %v", tc.args, tc.mac, tc.vci, changed, tc.want)
		}
	}
}

func TestTwoStanzasAreIndependent(t *testing.T) {
	a, err := setup4("vendor=A", "sub=1:text:a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := setup4("vendor=B", "sub=1:text:b", "end=no")
	if err != nil {
		t.Fatal(err)
	}
	for vci, want := range map[string][]byte{"A": {1, 1, 'a', 255}, "B": {1, 1, 'b'}} {
		req := request(t, "52:54:00:00:00:01", vci)
		resp, _ := a(req, reply(t, req))
		resp, _ = b(req, resp)
		if got := resp.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want) {
			t.Errorf("class %s: option 43 = % x, want % x", vci, got, want)
		}
	}
}

func TestSubOptionTypes(t *testing.T) {
	c := mustParse(t, "vendor=X", "end=no",
		"sub=1:text:a%2Cb%20c", "sub=2:ip:10.0.0.1", "sub=3:u8:255", "sub=4:u16:0x1234",
		"sub=5:u32:1", "sub=6:hex:de:ad:BE:ef", "sub=0x07:hex:", "sub=8:ip:10.0.0.1,ip:10.0.0.2")
	want := []byte{
		1, 5, 'a', ',', 'b', ' ', 'c',
		2, 4, 10, 0, 0, 1,
		3, 1, 255,
		4, 2, 0x12, 0x34,
		5, 4, 0, 0, 0, 1,
		6, 4, 0xde, 0xad, 0xbe, 0xef,
		7, 0,
		8, 8, 10, 0, 0, 1, 10, 0, 0, 2,
	}
	if !bytes.Equal(c.opt43, want) {
		t.Errorf("option 43 = % x\nwant         % x", c.opt43, want)
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pi.yml")
	doc := `# The Raspberry Pi menu, long form.
vendor-prefix: PXEClient
oui: [b8:27:eb, dc:a6:32]
reply-vendor: PXEClient
end: true
sub:
  - "6:u8:3"
  - "10:u8:0,text:PXE"
  - "9:u16:0,u8:17,text:Raspberry Pi Boot"
`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, "file="+path)
	if !bytes.Equal(c.opt43, piMenu) || c.replyVendor != "PXEClient" || len(c.ouis) != 2 {
		t.Errorf("file gave option 43 % x, reply-vendor %q, %d OUIs", c.opt43, c.replyVendor, len(c.ouis))
	}
}

func TestSetupErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	_ = os.WriteFile(bad, []byte("sub:\n  - \"6:u8:300\"\n"), 0o644)
	nested := filepath.Join(dir, "nested.yml")
	_ = os.WriteFile(nested, []byte("file: other.yml\n"), 0o644)
	list := filepath.Join(dir, "list.yml")
	_ = os.WriteFile(list, []byte("- a\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sub=1:u8:1"}, "no matcher"},
		{[]string{"vendor=X"}, "no sub-option"},
		{[]string{"vendor=X", "sub"}, `argument "sub": want key=value`},
		{[]string{"vendor=X", "colour=red"}, `unknown key "colour"`},
		{[]string{"vendor=", "sub=1:u8:1"}, `option "vendor=": empty value`},
		{[]string{"vendor=%zz", "sub=1:u8:1"}, "bad %XX escape"},
		{[]string{"oui=zz:00:00", "sub=1:u8:1"}, "oui=zz:00:00"},
		{[]string{"vendor=X", "sub=0:u8:1"}, "code \"0\": want 1 to 254"},
		{[]string{"vendor=X", "sub=255:u8:1"}, "want 1 to 254"},
		{[]string{"vendor=X", "sub=1:u8:256"}, "u8:256: want an unsigned 8-bit number"},
		{[]string{"vendor=X", "sub=1:u16:-1"}, "16-bit"},
		{[]string{"vendor=X", "sub=1:ip:::1"}, "want an IPv4 address"},
		{[]string{"vendor=X", "sub=1:hex:zz"}, "want hex bytes"},
		{[]string{"vendor=X", "sub=1:float:1"}, `type "float"`},
		{[]string{"vendor=X", "sub=1"}, "want CODE:TYPE:VALUE"},
		{[]string{"vendor=X", "sub=1:u8"}, "want TYPE:VALUE"},
		{[]string{"vendor=X", "sub=1:text:" + strings.Repeat("x", 256)}, "value is 256 bytes"},
		{[]string{"vendor=X", "sub=1:text:" + strings.Repeat("x", 200), "sub=2:text:" + strings.Repeat("x", 60)}, "option 43 would be 265 bytes"},
		{[]string{"vendor=X", "end=maybe", "sub=1:u8:1"}, `option "end=maybe": want yes or no`},
		{[]string{"vendor=X", "file=" + filepath.Join(dir, "missing.yml")}, "no such file"},
		{[]string{"vendor=X", "file=" + bad}, "line 2: sub: 6:u8:300"},
		{[]string{"vendor=X", "file=" + nested}, "may not include another file"},
		{[]string{"vendor=X", "file=" + list}, "want a mapping"},
	} {
		_, err := setup4(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "vendoropts: ") {
			t.Errorf("setup4(%q) error = %v, want one starting with vendoropts: and containing %q", tc.args, err, tc.want)
		}
	}
}

func TestNilResponse(t *testing.T) {
	c := mustParse(t, "oui=52:54:00", "sub=1:u8:1")
	req := request(t, "52:54:00:00:00:01", "")
	if resp, stop := c.handle(req, nil); resp != nil || stop {
		t.Errorf("got %v, %v", resp, stop)
	}
}
