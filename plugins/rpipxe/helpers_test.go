package rpipxe

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// pi3GUID is option 97 as the Pi 3B+ ROM sends it: the serial four times.
var pi3GUID = []byte{0, 0xcd, 0xab, 0x34, 0x12, 0xcd, 0xab, 0x34, 0x12, 0xcd, 0xab, 0x34, 0x12, 0xcd, 0xab, 0x34, 0x12}

// pi4GUID is option 97 of a Pi 4 EEPROM with MAC dc:a6:32:01:02:03.
var pi4GUID = []byte{0, 'R', 'P', 'i', '4', 0x11, 0x31, 0xc0, 0x00, 0x32, 0x01, 0x02, 0x03, 0xef, 0xbe, 0xad, 0xde}

const pi3VCI = "PXEClient:Arch:00000:UNDI:002001"

// request builds a request of type mt from mac with raw options.
func request(t testing.TB, mt dhcpv4.MessageType, mac string, opts map[uint8][]byte) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dhcpv4.NewDiscovery(hw, dhcpv4.WithMessageType(mt))
	if err != nil {
		t.Fatal(err)
	}
	for c, v := range opts {
		d.Options[c] = v
	}
	return d
}

// offerFor builds the reply upstream plugins would hand to us.
func offerFor(t testing.TB, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	mt := dhcpv4.MessageTypeOffer
	if req.MessageType() == dhcpv4.MessageTypeRequest {
		mt = dhcpv4.MessageTypeAck
	}
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithServerIP(net.IPv4(192, 168, 50, 1)),
		dhcpv4.WithYourIP(net.IPv4(192, 168, 50, 100)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 168, 50, 1))),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
