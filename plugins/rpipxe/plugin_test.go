package rpipxe

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/internal/classify"
)

// dnsmasqMenu is option 43 as dnsmasq sends it for
// pxe-service=0,"Raspberry Pi Boot" (checked live in TestMenuFormMatchesDnsmasq).
var dnsmasqMenu = []byte{
	0x06, 0x01, 0x03, 0x0a, 0x04, 0x00, 0x50, 0x58, 0x45, 0x09, 0x14, 0x00, 0x00, 0x11,
	0x52, 0x61, 0x73, 0x70, 0x62, 0x65, 0x72, 0x72, 0x79, 0x20, 0x50, 0x69, 0x20, 0x42, 0x6f, 0x6f, 0x74, 0xff,
}

func mustSetup(t *testing.T, args ...string) *pxe {
	t.Helper()
	p, err := parseArgs(args...)
	if err != nil {
		t.Fatalf("parseArgs(%q): %v", args, err)
	}
	return p
}

// wire returns the options part of the serialized reply as code → bytes,
// failing on a pad byte between options or a missing end.
func wire(t *testing.T, resp *dhcpv4.DHCPv4) map[byte][]byte {
	t.Helper()
	b := resp.ToBytes()
	if len(b) < 240 {
		t.Fatalf("reply is %d bytes", len(b))
	}
	opts := map[byte][]byte{}
	for i := 240; ; {
		if i >= len(b) {
			t.Fatal("options have no end (255)")
		}
		switch code := b[i]; code {
		case 0:
			t.Fatalf("pad (option 0) at offset %d between options: the Pi 4 EEPROM ignores such replies", i)
		case 255:
			return opts
		default:
			if i+1 >= len(b) || i+2+int(b[i+1]) > len(b) {
				t.Fatalf("option %d overruns the packet", code)
			}
			opts[code] = append(opts[code], b[i+2:i+2+int(b[i+1])]...)
			i += 2 + int(b[i+1])
		}
	}
}

func TestStanzaWithoutArgumentsAnswersPi3(t *testing.T) {
	p := mustSetup(t)
	req := request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:12:34:56", map[uint8][]byte{60: []byte(pi3VCI), 93: {0, 0}, 97: pi3GUID})
	resp, stop := p.handle(req, offerFor(t, req))
	if stop {
		t.Error("rpipxe must not stop the plugin chain")
	}
	o := wire(t, resp)
	if string(o[60]) != "PXEClient" {
		t.Errorf("option 60 = %q, want PXEClient", o[60])
	}
	if !bytes.Equal(o[43], dnsmasqMenu) {
		t.Errorf("option 43 = % x\nwant         % x", o[43], dnsmasqMenu)
	}
	if len(o[43]) != 32 {
		t.Errorf("option 43 is %d bytes, want 32", len(o[43]))
	}
	// Options the earlier plugins set survive.
	if !bytes.Equal(o[54], []byte{192, 168, 50, 1}) || o[1] == nil {
		t.Errorf("server id / netmask lost: %v", o)
	}
}

func TestPi4DiscoverAndRequestWithoutOption60(t *testing.T) {
	p := mustSetup(t)
	mac := "dc:a6:32:01:02:03"
	for _, tc := range []struct {
		mt   dhcpv4.MessageType
		opts map[uint8][]byte
	}{
		{dhcpv4.MessageTypeDiscover, map[uint8][]byte{60: []byte(pi3VCI), 93: {0, 0}, 97: pi4GUID}},
		{dhcpv4.MessageTypeRequest, map[uint8][]byte{93: {0, 0}, 97: pi4GUID}},
	} {
		req := request(t, tc.mt, mac, tc.opts)
		resp, _ := p.handle(req, offerFor(t, req))
		o := wire(t, resp)
		if string(o[60]) != "PXEClient" || !bytes.Equal(o[43], dnsmasqMenu) {
			t.Errorf("%s: options 60/43 = %q / % x", tc.mt, o[60], o[43])
		}
	}
}

func TestNonMatchingClientsUntouched(t *testing.T) {
	p := mustSetup(t)
	for name, req := range map[string]*dhcpv4.DHCPv4{
		"PC PXE ROM":              request(t, dhcpv4.MessageTypeDiscover, "52:54:00:12:34:56", map[uint8][]byte{60: []byte(pi3VCI), 93: {0, 0}}),
		"Pi MAC, Linux":           request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte("dhcpcd-9.4.1:Linux")}),
		"Pi MAC, U-Boot":          request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:01:02:03", map[uint8][]byte{60: []byte("walt.node.rpi-3-b-plus"), 93: {0, 22}}),
		"Pi MAC, U-Boot EFI PXE":  request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte("PXEClient:Arch:00011:UNDI:003000"), 93: {0, 11}}),
		"Pi MAC, nothing":         request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", nil),
		"Pi MAC, short option 97": request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{97: {0, 'R', 'P', 'i', '4'}}),
		"odd option 93":           request(t, dhcpv4.MessageTypeDiscover, "52:54:00:12:34:56", map[uint8][]byte{93: {7}}),
	} {
		t.Run(name, func(t *testing.T) {
			resp := offerFor(t, req)
			before := resp.ToBytes()
			got, stop := p.handle(req, resp)
			if stop || got == nil {
				t.Fatalf("handler returned %v, stop=%v", got, stop)
			}
			if after := got.ToBytes(); !bytes.Equal(before, after) {
				t.Errorf("reply changed:\nbefore % x\nafter  % x", before, after)
			}
		})
	}
}

func TestForms(t *testing.T) {
	dir := t.TempDir()
	menu := filepath.Join(dir, "menu.txt")
	if err := os.WriteFile(menu, []byte("Lab Boot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []byte
	}{
		{[]string{"form=menu"}, dnsmasqMenu},
		{[]string{"form=string"}, []byte("Raspberry Pi Boot")},
		{[]string{"form=string3"}, []byte("Raspberry Pi Boot   ")},
		{[]string{"form=string", "menu-file=" + menu}, []byte("Lab Boot")},
		{[]string{"menu-file=" + menu}, []byte{6, 1, 3, 10, 4, 0, 'P', 'X', 'E', 9, 11, 0, 0, 8, 'L', 'a', 'b', ' ', 'B', 'o', 'o', 't', 255}},
	} {
		p := mustSetup(t, tc.args...)
		req := request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:12:34:56", map[uint8][]byte{60: []byte(pi3VCI)})
		resp, _ := p.handle(req, offerFor(t, req))
		if got := wire(t, resp)[43]; !bytes.Equal(got, tc.want) {
			t.Errorf("%v: option 43 = % x, want % x", tc.args, got, tc.want)
		}
	}
}

func TestClassifyStanzaOUIsApply(t *testing.T) {
	cfg, err := classify.ParseArgs("oui=02:00:00", "oui=02:00:01")
	if err != nil {
		t.Fatal(err)
	}
	classify.Configure(cfg)
	t.Cleanup(func() { classify.Configure(nil) })
	p := mustSetup(t)
	for mac, want := range map[string]bool{"02:00:00:00:00:01": true, "02:00:01:00:00:01": true, "b8:27:eb:00:00:01": false} {
		req := request(t, dhcpv4.MessageTypeDiscover, mac, map[uint8][]byte{60: []byte(pi3VCI)})
		resp, _ := p.handle(req, offerFor(t, req))
		if got := resp.Options.Has(dhcpv4.OptionVendorSpecificInformation); got != want {
			t.Errorf("%s answered=%v, want %v", mac, got, want)
		}
	}
}

func TestSetupErrors(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, "long.txt")
	_ = os.WriteFile(long, []byte(strings.Repeat("x", 241)), 0o644)
	ctl := filepath.Join(dir, "ctl.txt")
	_ = os.WriteFile(ctl, []byte("a\tb"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"form=pxe"}, `"pxe": want one of menu, string, string3`},
		{[]string{"oui=b8:27:eb"}, "put `- classify: oui=b8:27:eb` first"},
		{[]string{"remember=30s"}, "put `- classify: remember=30s` first"},
		{[]string{"menu"}, `argument "menu": want key=value`},
		{[]string{"colour=red"}, `unknown key "colour"`},
		{[]string{"menu-file=" + filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"menu-file=" + long}, "menu text is 241 bytes, want 1 to 240"},
		{[]string{"menu-file=" + ctl}, "printable ASCII"},
	} {
		_, err := setup4(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "rpipxe: ") {
			t.Errorf("setup4(%q) error = %v, want one starting with rpipxe: and containing %q", tc.args, err, tc.want)
		}
	}
	// The longest text that still fits one option 43 is accepted.
	_ = os.WriteFile(long, []byte(strings.Repeat("x", 240)), 0o644)
	if _, err := setup4("menu-file=" + long); err != nil {
		t.Errorf("240-byte menu text refused: %v", err)
	}
}

func TestNilResponsePassesThrough(t *testing.T) {
	p := mustSetup(t)
	req := request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:12:34:56", map[uint8][]byte{60: []byte(pi3VCI)})
	if resp, stop := p.handle(req, nil); resp != nil || stop {
		t.Errorf("nil response: got %v, %v", resp, stop)
	}
}
