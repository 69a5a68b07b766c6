package dhcpserver

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// via is how a reply travels.
type via int

const (
	viaUnicast   via = iota // UDP to dst through the routing table
	viaBroadcast            // UDP to 255.255.255.255:68 out of the receiving interface
	viaLayer2               // Ethernet frame to chaddr, IP to yiaddr: the client has no address yet
)

// route picks a reply's destination by RFC 2131 §4.1, in upstream's order:
// through the relay (giaddr:67); a NAK by broadcast; to ciaddr:68 for a
// client that has an address; broadcast if the client asked for it; else
// unicast to yiaddr at the client's hardware address. Replies that cannot go
// by layer 2 (no yiaddr, or chaddr is not an Ethernet address) are broadcast.
func route(req, resp *dhcpv4.DHCPv4) (via, *net.UDPAddr) {
	switch {
	case !unspecified(req.GatewayIPAddr):
		return viaUnicast, &net.UDPAddr{IP: req.GatewayIPAddr, Port: dhcpv4.ServerPort}
	case resp.MessageType() == dhcpv4.MessageTypeNak:
		return viaBroadcast, &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	case !unspecified(req.ClientIPAddr):
		return viaUnicast, &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpv4.ClientPort}
	case req.IsBroadcast(), unspecified(resp.YourIPAddr), !ethernetMAC(req):
		return viaBroadcast, &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	default:
		return viaLayer2, &net.UDPAddr{IP: resp.YourIPAddr, Port: dhcpv4.ClientPort}
	}
}

func unspecified(ip net.IP) bool { return ip == nil || ip.IsUnspecified() }

func ethernetMAC(req *dhcpv4.DHCPv4) bool {
	return req.HWType == iana.HWTypeEthernet && len(req.ClientHWAddr) == 6
}
