//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// dnsmasqMenu43 is option 43 as dnsmasq 2.90 sends it for
// --pxe-service=0,"Raspberry Pi Boot": discovery control 3, menu prompt
// (timeout 0, "PXE"), boot item type 0 "Raspberry Pi Boot", end.
// TestOption43MatchesDnsmasq checks this constant against dnsmasq itself.
var dnsmasqMenu43 = append([]byte{6, 1, 3, 10, 4, 0, 'P', 'X', 'E', 9, 20, 0, 0, 17}, append([]byte("Raspberry Pi Boot"), 255)...)

// bootfile is what a reply names as the boot file: the BOOTP file field, or option 67.
func bootfile(m *dhcpv4.DHCPv4) string {
	if m.BootFileName != "" {
		return m.BootFileName
	}
	return m.BootFileNameOption()
}

// The Pi 3B+ ROM's DISCOVER gets the Raspberry Pi answer with the
// Pi 3 boot file from models.yml and this server as next-server.
func TestPi3DiscoverGetsRPiPXEOffer(t *testing.T) {
	r := newBootRig(t, nil)
	b := piboard.NewBoard(piboard.Pi3, 31, 1)
	offer := r.exchange(t, b.Discover())
	if offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("got %s, want OFFER", offer.MessageType())
	}
	if got := offer.ClassIdentifier(); got != "PXEClient" {
		t.Errorf("option 60 = %q, want PXEClient", got)
	}
	if got := offer.GetOneOption(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, dnsmasqMenu43) {
		t.Errorf("option 43 = % x\nwant dnsmasq's % x", got, dnsmasqMenu43)
	}
	if got := bootfile(offer); got != "bootcode.bin" {
		t.Errorf("boot file = %q, want bootcode.bin (models.yml default for rpi-3-b-plus)", got)
	}
	if got := offer.ServerIPAddr.String(); got != r.net.ServerIP {
		t.Errorf("next-server = %s, want %s", got, r.net.ServerIP)
	}
	if !inPool(r.net, offer.YourIPAddr.String()) {
		t.Errorf("yiaddr %s outside the pool %s100-250", offer.YourIPAddr, r.net.Prefix)
	}
	if piboard.HasInnerPad(offer.ToBytes()) {
		t.Errorf("OFFER carries pad options between options")
	}
}

// The Pi 4 EEPROM's DISCOVER (option 97 RPi4 + serial) gets the
// Pi 4 answer, and its REQUEST without option 60 still gets the ACK with it.
func TestPi4DiscoverGetsPi4Answer(t *testing.T) {
	r := newBootRig(t, nil)
	for _, tc := range []struct {
		model    piboard.Model
		bootfile string
	}{{piboard.Pi4, "start4.elf"}, {piboard.Pi5, "kernel_2712.img"}} {
		b := piboard.NewBoard(tc.model, 32, 1)
		offer := r.exchange(t, b.Discover())
		if err := piboard.CheckPiOffer(tc.model, piboard.Reply{Msg: offer, Raw: offer.ToBytes()}); err != nil {
			t.Errorf("%s: the EEPROM would ignore the OFFER: %v", tc.model, err)
		}
		if got := bootfile(offer); got != tc.bootfile {
			t.Errorf("%s: boot file = %q, want %s", tc.model, got, tc.bootfile)
		}
		req := b.Request(offer)
		if req.Options.Has(dhcpv4.OptionClassIdentifier) {
			t.Fatalf("simulated REQUEST carries option 60")
		}
		ack := r.exchange(t, req)
		if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
			t.Fatalf("%s: REQUEST got %s for %s, want ACK for %s", tc.model, ack.MessageType(), ack.YourIPAddr, offer.YourIPAddr)
		}
		if got := ack.ClassIdentifier(); got != "PXEClient" {
			t.Errorf("%s: ACK option 60 = %q, want PXEClient", tc.model, got)
		}
		if got := bootfile(ack); got != tc.bootfile {
			t.Errorf("%s: ACK boot file = %q, want %s", tc.model, got, tc.bootfile)
		}
	}
}

// ubootDiscover is U-Boot 2023.01's DISCOVER with bootp_vci set (see the
// QEMU recipe's capture): 53, 57=576, 93=22, 94, 60, 55=[1,3,6,12,17],
// broadcast flag 0, a fresh xid each time.
func ubootDiscover(mac net.HardwareAddr, vci string, xid uint32) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: 1, ClientHWAddr: mac,
		ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero, GatewayIPAddr: net.IPv4zero,
		Options: dhcpv4.Options{}}
	binary.BigEndian.PutUint32(m.TransactionID[:], xid)
	m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeDiscover))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionMaximumDHCPMessageSize, []byte{2, 64}))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(93), []byte{0, 22}))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(94), []byte{1, 0, 0}))
	m.UpdateOption(dhcpv4.OptClassIdentifier(vci))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionParameterRequestList, []byte{1, 3, 6, 12, 17}))
	return m
}

// A U-Boot stage 1 whose bootp_vci names the model gets that
// model's stage-2 script as boot file, on retransmits with new xids too,
// and in the ACK.
func TestUBootVCIGetsStage2Script(t *testing.T) {
	r := newBootRig(t, nil)
	mac := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01}
	var offer *dhcpv4.DHCPv4
	for i, xid := range []uint32{0xddcc0001, 0xddcc0002} { // retransmit: new xid
		offer = r.exchange(t, ubootDiscover(mac, "walt.node.rpi-3-b-plus", xid))
		if got := bootfile(offer); got != "rpi-3-b-plus/boot.scr" {
			t.Errorf("DISCOVER %d: boot file = %q, want rpi-3-b-plus/boot.scr", i+1, got)
		}
		if got := offer.ServerIPAddr.String(); got != r.net.ServerIP {
			t.Errorf("DISCOVER %d: next-server = %s, want %s (U-Boot ignores option 66)", i+1, got, r.net.ServerIP)
		}
		if offer.Options.Has(dhcpv4.OptionVendorSpecificInformation) {
			t.Errorf("DISCOVER %d: U-Boot got option 43 (% x)", i+1, offer.GetOneOption(dhcpv4.OptionVendorSpecificInformation))
		}
	}
	req := ubootDiscover(mac, "walt.node.rpi-3-b-plus", 0xddcc0002)
	req.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
	req.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))
	req.UpdateOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier()))
	ack := r.exchange(t, req)
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("REQUEST got %s for %s, want ACK for %s", ack.MessageType(), ack.YourIPAddr, offer.YourIPAddr)
	}
	if got := bootfile(ack); got != "rpi-3-b-plus/boot.scr" {
		t.Errorf("ACK boot file = %q, want rpi-3-b-plus/boot.scr", got)
	}
}

// Our option 43 is byte for byte what dnsmasq (the server the
// Raspberry Pi documentation uses) sends to the same Pi 3B+ DISCOVER.
func TestOption43MatchesDnsmasq(t *testing.T) {
	dn := harness.NewNet(t)
	dns, diface := dn.AddClient(t, "pi")
	d := dn.Start(t, dn.NS, "dnsmasq", "dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground", "--user=root",
		"--port=0", "--pid-file="+filepath.Join(dn.Dir, "dnsmasq.pid"), "--interface="+dn.Bridge, "--bind-interfaces", "--no-ping", "--log-dhcp", "--log-facility=-",
		"--dhcp-range="+dn.Prefix+"100,"+dn.Prefix+"200,255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(dn.Dir, "leases"), "--pxe-service=0,Raspberry Pi Boot")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.Log(), "DHCP, IP range") {
		if d.Exited() || time.Now().After(deadline) {
			t.Fatalf("dnsmasq did not start:\n%s", d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	dl, err := piboard.OpenLink(dns, diface)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	b := piboard.NewBoard(piboard.Pi3, 33, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	theirs, err := dl.Exchange(ctx, b.Discover(), 5*time.Second)
	if err != nil {
		t.Fatalf("dnsmasq: %v\n%s", err, d.Log())
	}
	r := newBootRig(t, nil)
	ours := r.exchange(t, b.Discover())
	want := theirs.Msg.GetOneOption(dhcpv4.OptionVendorSpecificInformation)
	if got := ours.GetOneOption(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want) {
		t.Errorf("option 43:\n ours    % x\n dnsmasq % x", got, want)
	}
	if !bytes.Equal(want, dnsmasqMenu43) {
		t.Errorf("dnsmasq's option 43 changed: % x; update dnsmasqMenu43", want)
	}
	if got, want := ours.ClassIdentifier(), theirs.Msg.ClassIdentifier(); got != want {
		t.Errorf("option 60: ours %q, dnsmasq %q", got, want)
	}
}

// malformed returns DHCP payloads that are broken in the ways a parser
// must survive: truncated headers and options, odd lengths of the options
// the Pi classification reads (60, 93, 97), and nonsense header fields.
func malformed() map[string][]byte {
	mac := net.HardwareAddr{0xb8, 0x27, 0xeb, 0xee, 0, 0}
	header := func(i byte) []byte {
		h := make([]byte, 240)
		h[0], h[1], h[2] = 1, 1, 6
		copy(h[4:8], []byte{0xde, 0xad, 0xbe, i})
		copy(h[28:34], mac)
		h[33] = i
		copy(h[236:240], []byte{99, 130, 83, 99})
		return h
	}
	withOpts := func(i byte, opts ...byte) []byte {
		p := append(header(i), 53, 1, 1)
		return append(append(p, opts...), 255)
	}
	good := withOpts(0, 60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't')
	out := map[string][]byte{
		"empty":                  {},
		"one byte":               {1},
		"truncated header":       good[:100],
		"header without cookie":  good[:236],
		"cookie only":            good[:240],
		"option length past end": append(header(6), 53, 1, 1, 97, 17, 0, 1, 2),
		"option 97 empty":        withOpts(7, 97, 0),
		"option 97 one byte":     withOpts(8, 97, 1, 0),
		"option 97 five bytes":   withOpts(9, 97, 5, 0, 'R', 'P', 'i', '4'),
		"option 97 type 1":       withOpts(10, append([]byte{97, 17, 1}, bytes.Repeat([]byte{0xff}, 16)...)...),
		"option 97 all zero":     withOpts(11, append([]byte{97, 17}, make([]byte, 17)...)...),
		"option 97 255 bytes":    withOpts(12, append([]byte{97, 255}, bytes.Repeat([]byte("RPi4"), 64)[:255]...)...),
		"option 60 empty":        withOpts(13, 60, 0),
		"option 60 binary":       withOpts(14, 60, 4, 0, 0xff, 0, 0xfe),
		"option 60 PXE cut":      withOpts(15, 60, 3, 'P', 'X', 'E'),
		"option 93 empty":        withOpts(16, 60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', 93, 0),
		"option 93 one byte":     withOpts(17, 60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', 93, 1, 0),
		"option 93 three bytes":  withOpts(18, 60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', 93, 3, 0, 0, 0),
		"option 53 empty":        append(header(19), 53, 0, 255),
		"option 53 bogus type":   append(header(20), 53, 1, 200, 255),
		"no end option":          append(header(21), 53, 1, 1, 60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't'),
		"option 55 empty":        withOpts(22, 55, 0),
		"option 61 empty":        withOpts(23, 61, 0),
		"option 12 empty":        withOpts(24, 12, 0),
	}
	h := header(25)
	h[2] = 255 // hlen beyond chaddr
	out["hlen 255"] = append(h, 53, 1, 1, 255)
	h = header(26)
	h[0] = 2 // a BOOTREPLY sent to the server
	out["bootreply"] = append(h, 53, 1, 2, 255)
	out["all zero 300 bytes"] = make([]byte, 300)
	return out
}

// Malformed and truncated packets neither crash coredhcp nor stop it from
// serving boards afterwards.
func TestMalformedPacketsDoNotCrash(t *testing.T) {
	r := newBootRig(t, nil)
	src := net.HardwareAddr{0xb8, 0x27, 0xeb, 0xee, 0, 0}
	for round := 0; round < 3; round++ {
		for name, p := range malformed() {
			if err := r.link.SendRaw(src, p); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	if r.srv.DHCP.Exited() {
		t.Fatalf("coredhcp died on malformed packets:\n%s", tail(r.srv.DHCP.Log(), 40))
	}
	if log := r.srv.DHCP.Log(); strings.Contains(log, "panic") {
		t.Errorf("coredhcp logged a panic:\n%s", tail(log, 40))
	}
	for _, m := range []piboard.Model{piboard.Pi3, piboard.Pi4} {
		b := piboard.NewBoard(m, 34, 1)
		offer := r.exchange(t, b.Discover())
		if err := piboard.CheckPiOffer(m, piboard.Reply{Msg: offer, Raw: offer.ToBytes()}); err != nil {
			t.Errorf("%s after malformed packets: %v", m, err)
		}
	}
}
