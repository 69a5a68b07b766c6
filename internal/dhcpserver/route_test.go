package dhcpserver

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

func TestRouteFollowsRFC2131(t *testing.T) {
	mac := net.HardwareAddr{0xb8, 0x27, 0xeb, 1, 2, 3}
	yi := net.IPv4(10, 0, 0, 50)
	cases := []struct {
		name string
		req  func(*dhcpv4.DHCPv4)
		resp func(*dhcpv4.DHCPv4)
		via  via
		dst  string
	}{
		{"relayed: back to the relay's port 67", func(r *dhcpv4.DHCPv4) {
			r.GatewayIPAddr = net.IPv4(10, 0, 9, 1)
			r.ClientIPAddr = net.IPv4(10, 0, 0, 7)
		}, nil, viaUnicast, "10.0.9.1:67"},
		{"NAK: broadcast even with ciaddr", func(r *dhcpv4.DHCPv4) { r.ClientIPAddr = net.IPv4(10, 0, 0, 7) },
			func(r *dhcpv4.DHCPv4) { r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak)) }, viaBroadcast, "255.255.255.255:68"},
		{"renewing client: unicast to ciaddr", func(r *dhcpv4.DHCPv4) { r.ClientIPAddr = net.IPv4(10, 0, 0, 7) },
			nil, viaUnicast, "10.0.0.7:68"},
		{"broadcast flag", func(r *dhcpv4.DHCPv4) { r.SetBroadcast() }, nil, viaBroadcast, "255.255.255.255:68"},
		{"no address yet, no flag: layer 2 to yiaddr", nil, nil, viaLayer2, "10.0.0.50:68"},
		{"no yiaddr: broadcast (nothing to unicast to)", nil, func(r *dhcpv4.DHCPv4) { r.YourIPAddr = net.IPv4zero },
			viaBroadcast, "255.255.255.255:68"},
		{"chaddr not Ethernet: broadcast", func(r *dhcpv4.DHCPv4) { r.HWType = iana.HWTypeInfiniband },
			nil, viaBroadcast, "255.255.255.255:68"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := dhcpv4.NewDiscovery(mac)
			req.Flags = 0
			if c.req != nil {
				c.req(req)
			}
			resp, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer), dhcpv4.WithYourIP(yi))
			if c.resp != nil {
				c.resp(resp)
			}
			how, dst := route(req, resp)
			if how != c.via || dst.String() != c.dst {
				t.Errorf("route = %d %s, want %d %s", how, dst, c.via, c.dst)
			}
		})
	}
}
