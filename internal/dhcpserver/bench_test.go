package dhcpserver

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BenchmarkHandleDiscover is the loop's own cost per DISCOVER (parse,
// template, a one-plugin chain, route), without the socket.
func BenchmarkHandleDiscover(b *testing.B) {
	s := newTestServers(func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		resp.YourIPAddr = net.IPv4(10, 99, 0, 5)
		return resp, true
	})
	pkt := request(b, dhcpv4.MessageTypeDiscover)
	b.ReportAllocs()
	for b.Loop() {
		req, resp := s.handle(pkt, nil)
		route(req, resp)
		resp.ToBytes()
	}
}

// BenchmarkLayer2Frame is building the IPv4/UDP datagram of a layer-2 reply.
func BenchmarkLayer2Frame(b *testing.B) {
	payload := make([]byte, 400)
	src, dst := net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 0, 50)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ipv4UDP(src, dst, 67, 68, payload); err != nil {
			b.Fatal(err)
		}
	}
}
