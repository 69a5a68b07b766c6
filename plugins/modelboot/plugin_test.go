package modelboot

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

const modelsYML = `
default:
  bootfile: bootcode.bin
  stage2: boot.scr
models:
  rpi-3-b-plus:
    stage2: rpi-3-b-plus/boot.scr
  rpi-4-b:
    bootfile: start4.elf
    tftp_server: 192.168.50.2
    stage2: rpi-4-b/boot.scr
`

const pi3VCI = "PXEClient:Arch:00000:UNDI:002001"

var serverID = net.IPv4(192, 168, 50, 1).To4()

// pi4GUID is option 97 of a Pi 4 EEPROM with MAC dc:a6:32:01:02:03.
var pi4GUID = []byte{0, 'R', 'P', 'i', '4', 0x11, 0x31, 0xc0, 0x00, 0x32, 0x01, 0x02, 0x03, 0xef, 0xbe, 0xad, 0xde}

func writeModels(t testing.TB, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "models.yml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustParse(t testing.TB, args ...string) *boot {
	t.Helper()
	b, err := parseArgs(append([]string{writeModels(t, modelsYML)}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(t testing.TB, mt dhcpv4.MessageType, mac string, opts map[uint8][]byte, prl ...dhcpv4.OptionCode) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	if len(prl) == 0 { // U-Boot's list: no 66, no 67
		prl = []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer, dhcpv4.OptionHostName, dhcpv4.OptionRootPath}
	}
	d, err := dhcpv4.NewDiscovery(hw, dhcpv4.WithMessageType(mt))
	if err != nil {
		t.Fatal(err)
	}
	d.Options.Del(dhcpv4.OptionParameterRequestList)
	d.UpdateOption(dhcpv4.OptParameterRequestList(prl...))
	for c, v := range opts {
		d.Options[c] = v
	}
	return d
}

// reply is what server_id and friends hand over: siaddr = server id.
func reply(t testing.TB, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	r, err := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithServerIP(serverID), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverID)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// onWire serializes and parses resp back, as the board would see it.
func onWire(t *testing.T, resp *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.FromBytes(resp.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBootAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		req    func(t *testing.T) *dhcpv4.DHCPv4
		file   string
		opt67  string // "" = absent
		siaddr string
		opt66  string // "" = absent
	}{
		{
			name: "Pi 3B+ ROM, option 67 requested",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:01:02:03", map[uint8][]byte{60: []byte(pi3VCI)}, dhcpv4.OptionBootfileName)
			},
			file: "bootcode.bin", opt67: "bootcode.bin", siaddr: "192.168.50.1",
		},
		{
			name: "Pi 3B+ ROM, option 67 not requested",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:01:02:03", map[uint8][]byte{60: []byte(pi3VCI)})
			},
			file: "bootcode.bin", siaddr: "192.168.50.1",
		},
		{
			name: "opt67=always",
			args: []string{"opt67=always"},
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:01:02:03", map[uint8][]byte{60: []byte(pi3VCI)})
			},
			file: "bootcode.bin", opt67: "bootcode.bin", siaddr: "192.168.50.1",
		},
		{
			name: "Pi 4 EEPROM with its own TFTP server",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte(pi3VCI), 97: pi4GUID}, dhcpv4.OptionBootfileName)
			},
			file: "start4.elf", opt67: "start4.elf", siaddr: "192.168.50.2", opt66: "192.168.50.2",
		},
		{
			name: "Pi 4 EEPROM REQUEST without option 60",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeRequest, "dc:a6:32:01:02:03", map[uint8][]byte{97: pi4GUID})
			},
			file: "start4.elf", siaddr: "192.168.50.2", opt66: "192.168.50.2",
		},
		{
			name: "U-Boot walt.node VCI gets its model's stage 2 and next-server, no option 66",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte("walt.node.rpi-4-b"), 93: {0, 22}})
			},
			file: "rpi-4-b/boot.scr", siaddr: "192.168.50.2",
		},
		{
			name: "U-Boot rpi-3-b-plus keeps the server_id next-server",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeDiscover, "b8:27:eb:01:02:03", map[uint8][]byte{60: []byte("rpi-3-b-plus")})
			},
			file: "rpi-3-b-plus/boot.scr", siaddr: "192.168.50.1",
		},
		{
			name: "U-Boot default VCI gets the default stage 2",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, dhcpv4.MessageTypeDiscover, "52:54:00:01:02:03", map[uint8][]byte{60: []byte("U-Boot.armv8")})
			},
			file: "boot.scr", siaddr: "192.168.50.1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustParse(t, tc.args...)
			req := tc.req(t)
			resp, stop := b.handle(req, reply(t, req))
			if stop {
				t.Error("modelboot must not stop the chain")
			}
			m := onWire(t, resp)
			if m.BootFileName != tc.file {
				t.Errorf("file field = %q, want %q", m.BootFileName, tc.file)
			}
			if got := string(m.Options.Get(dhcpv4.OptionBootfileName)); got != tc.opt67 {
				t.Errorf("option 67 = %q, want %q", got, tc.opt67)
			}
			if got := m.ServerIPAddr.String(); got != tc.siaddr {
				t.Errorf("siaddr = %s, want %s", got, tc.siaddr)
			}
			if got := string(m.Options.Get(dhcpv4.OptionTFTPServerName)); got != tc.opt66 {
				t.Errorf("option 66 = %q, want %q", got, tc.opt66)
			}
		})
	}
}

func TestRequestRememberedFromDiscover(t *testing.T) {
	b := mustParse(t)
	// An older EEPROM: its REQUEST has no option 60 and no RPi4 magic; the
	// classification remembers the board from its DISCOVER.
	mac := "dc:a6:32:77:00:01"
	req := request(t, dhcpv4.MessageTypeRequest, mac, nil)
	if out, _ := b.handle(req, reply(t, req)); out.BootFileName != "" {
		t.Fatalf("REQUEST of a board never seen got file %q", out.BootFileName)
	}
	disc := request(t, dhcpv4.MessageTypeDiscover, mac, map[uint8][]byte{60: []byte(pi3VCI)})
	b.handle(disc, reply(t, disc))
	out, _ := b.handle(req, reply(t, req))
	if out.BootFileName != "bootcode.bin" {
		t.Errorf("file field = %q, want the default bootcode.bin", out.BootFileName)
	}
	// What an earlier plugin wrote into the reply is not a classification.
	other := request(t, dhcpv4.MessageTypeRequest, "dc:a6:32:77:00:02", nil)
	resp := reply(t, other)
	resp.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte("Raspberry Pi Boot")))
	if out, _ := b.handle(other, resp); out.BootFileName != "" {
		t.Errorf("a reply marked by another plugin was taken for a Pi: file %q", out.BootFileName)
	}
}

func TestOthersUntouched(t *testing.T) {
	b := mustParse(t, "opt67=always")
	for name, req := range map[string]*dhcpv4.DHCPv4{
		"PC PXE":         request(t, dhcpv4.MessageTypeDiscover, "52:54:00:01:02:03", map[uint8][]byte{60: []byte(pi3VCI)}, dhcpv4.OptionBootfileName),
		"Linux on a Pi":  request(t, dhcpv4.MessageTypeRequest, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte("dhcpcd-9.4.1")}, dhcpv4.OptionBootfileName),
		"no options":     request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", nil),
		"U-Boot EFI PXE": request(t, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte("PXEClient:Arch:00011:UNDI:003000"), 93: {0, 11}}),
	} {
		t.Run(name, func(t *testing.T) {
			resp := reply(t, req)
			before := resp.ToBytes()
			out, stop := b.handle(req, resp)
			if stop || out == nil || !bytes.Equal(before, out.ToBytes()) {
				t.Errorf("reply changed (stop=%v)", stop)
			}
		})
	}
}

func TestUnknownModelLoggedOnce(t *testing.T) {
	hook := test.NewLocal(log.Logger)
	defer hook.Reset()
	b := mustParse(t)
	count := func(model string) int {
		n := 0
		for _, e := range hook.AllEntries() {
			if e.Level == logrus.InfoLevel && e.Data["model"] == model && strings.Contains(e.Message, "no entry") {
				n++
			}
		}
		return n
	}
	for i := 0; i < 5; i++ {
		for _, vci := range []string{"walt.node.rpi-9-x", "walt.node.rpi-8-y"} {
			req := request(t, dhcpv4.MessageTypeRequest, "52:54:00:01:02:03", map[uint8][]byte{60: []byte(vci)})
			out, _ := b.handle(req, reply(t, req))
			if out.BootFileName != "boot.scr" {
				t.Fatalf("unknown model got %q, want the default boot.scr", out.BootFileName)
			}
		}
	}
	if count("rpi-9-x") != 1 || count("rpi-8-y") != 1 {
		t.Errorf("unknown models logged %d and %d times, want once each", count("rpi-9-x"), count("rpi-8-y"))
	}
	// A known model is never reported.
	req := request(t, dhcpv4.MessageTypeRequest, "52:54:00:01:02:03", map[uint8][]byte{60: []byte("rpi-4-b")})
	b.handle(req, reply(t, req))
	if count("rpi-4-b") != 0 {
		t.Error("known model reported as unknown")
	}
	hook.Reset()
	off := mustParse(t, "log-unknown=off")
	req = request(t, dhcpv4.MessageTypeRequest, "52:54:00:01:02:03", map[uint8][]byte{60: []byte("walt.node.rpi-7-z")})
	off.handle(req, reply(t, req))
	if count("rpi-7-z") != 0 {
		t.Error("log-unknown=off still logged")
	}
}

func TestUnknownNamesBounded(t *testing.T) {
	s := newOnceSet(3)
	var firsts, fulls int
	for i := 0; i < 100; i++ {
		f, full := s.add(string(rune('a' + i%50)))
		if f {
			firsts++
		}
		if full {
			fulls++
		}
	}
	if firsts != 3 || fulls != 1 || len(s.names) != 3 {
		t.Errorf("firsts=%d fulls=%d held=%d, want 3, 1, 3", firsts, fulls, len(s.names))
	}
}

func TestSetupErrors(t *testing.T) {
	good := writeModels(t, modelsYML)
	badTFTP := writeModels(t, "models:\n  rpi-4-b:\n    tftp_server: tftp.example.org\n")
	badYAML := writeModels(t, "default:\n  bootfiel: x\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing <models.yml>"},
		{[]string{"opt67=always"}, `models.yml "opt67=always": want the path of models.yml before the options`},
		{[]string{filepath.Join(t.TempDir(), "missing.yml")}, "no such file"},
		{[]string{badTFTP}, `model rpi-4-b: tftp_server "tftp.example.org": want an IPv4 address`},
		{[]string{badYAML}, "bootfiel"},
		{[]string{good, "opt67=sometimes"}, `"sometimes": want one of requested, always`},
		{[]string{good, "log-unknown=loud"}, `"loud": want one of once, off`},
		{[]string{good, "oui=1:2:3"}, "put `- classify: oui=1:2:3` first"},
		{[]string{good, "verbose"}, `argument "verbose": want key=value`},
		{[]string{good, "colour=red"}, `unknown key "colour"`},
	} {
		_, err := setup4(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "modelboot: ") {
			t.Errorf("setup4(%q) error = %v, want one starting with modelboot: and containing %q", tc.args, err, tc.want)
		}
	}
}

func TestExampleModelsLoad(t *testing.T) {
	if _, err := setup4("../../examples/models.yml"); err != nil {
		t.Errorf("examples/models.yml: %v", err)
	}
}
