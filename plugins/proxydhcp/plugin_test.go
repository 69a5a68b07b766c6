package proxydhcp

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/plugins/modelboot"
	"github.com/rpinetboot/rpinetboot/plugins/rpipxe"
)

var serverIP = net.IPv4(192, 168, 50, 2).To4()

// chain is the proxy example's plugin list with lease options a careless
// config might add before proxydhcp (they must not leak).
func chain(t *testing.T, args ...string) []handler.Handler4 {
	t.Helper()
	leasey := func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		resp.ServerIPAddr = serverIP
		resp.UpdateOption(dhcpv4.OptServerIdentifier(serverIP))
		resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)))
		resp.UpdateOption(dhcpv4.OptRouter(serverIP))
		resp.UpdateOption(dhcpv4.OptDNS(serverIP))
		resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(time.Hour))
		resp.YourIPAddr = net.IPv4(192, 168, 50, 77)
		return resp, false
	}
	pxe, err := rpipxe.Plugin.Setup4()
	if err != nil {
		t.Fatal(err)
	}
	mb, err := modelboot.Plugin.Setup4("../../examples/models.yml")
	if err != nil {
		t.Fatal(err)
	}
	px, err := Plugin.Setup4(args...)
	if err != nil {
		t.Fatal(err)
	}
	return []handler.Handler4{leasey, pxe, mb, px}
}

// run passes req through the chain as the DHCP loop does.
func run(t *testing.T, hs []handler.Handler4, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	resp, err := dhcpv4.NewReplyFromRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	default:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	}
	for _, h := range hs {
		var stop bool
		if resp, stop = h(req, resp); stop {
			break
		}
	}
	return resp
}

var pi4MAC = net.HardwareAddr{0xdc, 0xa6, 0x32, 0x07, 0x00, 0x01}

// pi4 builds a Pi 4 EEPROM request: 60 PXEClient (DISCOVER only), 93=0, 97 RPi4.
func pi4(mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	g := append([]byte{0, 'R', 'P', 'i', '4', 0x11, 0x31, 0xc0, 0x00}, append([]byte(pi4MAC[2:]), 0x01, 0x00, 0x07, 0x4b)...)
	base := []dhcpv4.Modifier{dhcpv4.WithMessageType(mt), dhcpv4.WithHwAddr(pi4MAC),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0})),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, g))}
	if mt == dhcpv4.MessageTypeDiscover {
		base = append(base, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")))
	}
	m, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		panic(err)
	}
	return m
}

// A Pi 4 DISCOVER gets an OFFER without address or lease options but with
// the whole boot answer.
func TestPiDiscoverGetsProxyOffer(t *testing.T) {
	offer := run(t, chain(t), pi4(dhcpv4.MessageTypeDiscover))
	if offer == nil {
		t.Fatal("no answer to a Pi 4 DISCOVER")
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.IsUnspecified() {
		t.Errorf("got %s with yiaddr %s, want OFFER with 0.0.0.0", offer.MessageType(), offer.YourIPAddr)
	}
	if offer.ClassIdentifier() != "PXEClient" || !bytes.Contains(offer.GetOneOption(dhcpv4.OptionVendorSpecificInformation), []byte("Raspberry Pi Boot")) {
		t.Errorf("option 60 %q / 43 % x: not the Raspberry Pi answer", offer.ClassIdentifier(), offer.GetOneOption(dhcpv4.OptionVendorSpecificInformation))
	}
	if !offer.ServerIdentifier().Equal(serverIP) || !offer.ServerIPAddr.Equal(serverIP) {
		t.Errorf("server id %s, next-server %s, want %s", offer.ServerIdentifier(), offer.ServerIPAddr, serverIP)
	}
	if offer.BootFileName != "start4.elf" {
		t.Errorf("boot file %q, want start4.elf (examples/models.yml for rpi-4-b)", offer.BootFileName)
	}
	for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer, dhcpv4.OptionIPAddressLeaseTime} {
		if offer.Options.Has(o) {
			t.Errorf("proxy OFFER leaks %s", o)
		}
	}
	if g := offer.GetOneOption(dhcpv4.OptionClientMachineIdentifier); len(g) != 17 {
		t.Errorf("option 97 not echoed (% x)", g)
	}
}

// Everyone else hears nothing, and REQUESTs selecting the address server
// stay its business; a REQUEST to us is answered with an ACK, never a NAK.
func TestSilenceAndRequests(t *testing.T) {
	hs := chain(t)
	linux, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 1, 2, 3})
	if r := run(t, hs, linux); r != nil {
		t.Errorf("a Linux DISCOVER got %s", r.MessageType())
	}
	pxePC, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 1, 2, 4}, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")))
	if r := run(t, hs, pxePC); r != nil {
		t.Errorf("answer=rpi answered a UEFI PC: %s", r.MessageType())
	}
	run(t, hs, pi4(dhcpv4.MessageTypeDiscover)) // rpipxe remembers the board
	other := net.IPv4(192, 168, 50, 1)
	if r := run(t, hs, pi4(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(other)),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 168, 50, 120))))); r != nil {
		t.Errorf("REQUEST to the address server got %s from the proxy", r.MessageType())
	}
	if r := run(t, hs, pi4(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 168, 50, 120))))); r != nil {
		t.Errorf("INIT-REBOOT REQUEST got %s from the proxy", r.MessageType())
	}
	ack := run(t, hs, pi4(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP))))
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.IsUnspecified() || ack.ClassIdentifier() != "PXEClient" {
		t.Fatalf("REQUEST to the proxy: got %v, want an ACK without address and with PXEClient", ack)
	}
	// The PXE boot-server REQUEST (port 4011): ciaddr set, no option 54.
	bs := run(t, hs, pi4(dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.IPv4(192, 168, 50, 120))))
	if bs == nil || bs.MessageType() != dhcpv4.MessageTypeAck || bs.BootFileName == "" {
		t.Fatalf("boot-server REQUEST: got %v, want an ACK with the boot file", bs)
	}
}

// answer=pxe also serves generic PXE clients, with a discovery-control
// option 43 when nothing earlier set one.
func TestAnswerPXE(t *testing.T) {
	hs := chain(t, "answer=pxe")
	pc, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 1, 2, 4}, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")))
	r := run(t, hs, pc)
	if r == nil || !r.YourIPAddr.IsUnspecified() || !bytes.Equal(r.GetOneOption(dhcpv4.OptionVendorSpecificInformation), pxeSkipDiscovery) {
		t.Fatalf("PXE PC: got %v, want a proxy OFFER with option 43 % x", r, pxeSkipDiscovery)
	}
	linux, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 1, 2, 3})
	if run(t, hs, linux) != nil {
		t.Error("answer=pxe answered a non-PXE client")
	}
}

// The first sight of a board runs the hook once, with the model and serial
// from the DISCOVER; the hook's run does not hold up the answer.
func TestFirstSightFiresEventOnce(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\nsleep 1\necho \"$RPINETBOOT_SOURCE $RPINETBOOT_MAC $RPINETBOOT_MODEL $RPINETBOOT_SERIAL\" >> "+dir+"/runs\n"), 0o755)
	hs := chain(t, "on-new="+hook)
	start := time.Now()
	for range 3 {
		if run(t, hs, pi4(dhcpv4.MessageTypeDiscover)) == nil {
			t.Fatal("no proxy OFFER")
		}
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("3 DISCOVERs took %v with a 1 s hook; the hook must run in the background", d)
	}
	var runs []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if runs, _ = os.ReadFile(filepath.Join(dir, "runs")); len(runs) > 0 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	runs, _ = os.ReadFile(filepath.Join(dir, "runs"))
	if got, want := string(runs), "proxydhcp dc:a6:32:07:00:01 rpi-4-b 4b070001\n"; got != want {
		t.Errorf("hook runs:\n%q\nwant exactly one:\n%q", got, want)
	}
}

func TestArgErrors(t *testing.T) {
	for arg, want := range map[string]string{
		"answer=all":    "want one of rpi, netboot, pxe",
		"keep=3":        "address lease",
		"keep=300":      "outside 1..254",
		"oui=zz":        "put `- classify: oui=zz` first",
		"bogus":         "want key=value",
		"color=red":     "unknown key",
		"on-new=rel/x":  "absolute path",
		"on-new-url=ht": "http://",
	} {
		_, err := Plugin.Setup4(arg)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "proxydhcp: ") {
			t.Errorf("%s: err %v, want one starting with proxydhcp: and mentioning %q", arg, err, want)
		}
	}
}
