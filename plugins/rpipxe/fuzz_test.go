package rpipxe

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func FuzzHandler(f *testing.F) {
	f.Add(request(f, dhcpv4.MessageTypeDiscover, "b8:27:eb:12:34:56", map[uint8][]byte{60: []byte(pi3VCI), 93: {0, 0}, 97: pi3GUID}).ToBytes())
	f.Add(request(f, dhcpv4.MessageTypeRequest, "dc:a6:32:01:02:03", map[uint8][]byte{93: {0, 0}, 97: pi4GUID}).ToBytes())
	f.Add(request(f, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte("walt.node.rpi-4-b")}).ToBytes())
	p, err := parseArgs()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		resp, err := dhcpv4.NewReplyFromRequest(req)
		if err != nil {
			return
		}
		out, _ := p.handle(req, resp)
		if out == nil {
			t.Fatal("handler dropped a reply")
		}
		_ = out.ToBytes()
	})
}

// BenchmarkHandler measures one Pi DISCOVER through the plugin (classify,
// memory, two option updates), the per-packet cost under a boot storm.
func BenchmarkHandler(b *testing.B) {
	p, err := parseArgs()
	if err != nil {
		b.Fatal(err)
	}
	req := request(b, dhcpv4.MessageTypeDiscover, "dc:a6:32:01:02:03", map[uint8][]byte{60: []byte(pi3VCI), 93: {0, 0}, 97: pi4GUID})
	resp := offerFor(b, req)
	b.ReportAllocs()
	for b.Loop() {
		p.handle(req, resp)
	}
}
