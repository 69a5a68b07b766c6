//go:build integration

package piboard

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The parsers that read what a server sends (Ethernet/IP/UDP framing,
// option walking, OACK options, the Pi acceptance check) never panic,
// whatever the bytes: a broken server must fail a board, not the harness.
func FuzzServerBytes(f *testing.F) {
	m, _ := dhcpv4.New()
	m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	m.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte("Raspberry Pi Boot")))
	f.Add(broadcastFrame(net.HardwareAddr{2, 0, 0, 0, 0, 1}, m.ToBytes()))
	f.Add(m.ToBytes())
	f.Add([]byte("blksize\x001024\x00tsize\x00123\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dhcpPayload(b)
		HasInnerPad(b)
		parseOACK(b)
		if m, err := dhcpv4.FromBytes(b); err == nil {
			for _, model := range []Model{Pi3, Pi4} {
				_ = CheckPiOffer(model, Reply{Msg: m, Raw: b})
			}
			tftpServer(m)
		}
	})
}
