package modelboot

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func FuzzHandler(f *testing.F) {
	f.Add(request(f, dhcpv4.MessageTypeDiscover, "b8:27:eb:01:02:03", map[uint8][]byte{60: []byte(pi3VCI)}, dhcpv4.OptionBootfileName).ToBytes())
	f.Add(request(f, dhcpv4.MessageTypeRequest, "dc:a6:32:01:02:03", map[uint8][]byte{97: pi4GUID}).ToBytes())
	f.Add(request(f, dhcpv4.MessageTypeDiscover, "52:54:00:01:02:03", map[uint8][]byte{60: []byte("walt.node.rpi-4-b")}).ToBytes())
	b := mustParse(f, "log-unknown=off")
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := dhcpv4.FromBytes(raw)
		if err != nil {
			return
		}
		resp, err := dhcpv4.NewReplyFromRequest(req)
		if err != nil {
			return
		}
		if out, _ := b.handle(req, resp); out == nil {
			t.Fatal("handler dropped a reply")
		}
	})
}
