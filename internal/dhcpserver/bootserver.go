package dhcpserver

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// bootServerDst is where a reply to a request received on a port other than
// 67 goes: back to the client's source address and port. That is the PXE
// boot-server exchange (a `listen: "%eth0:4011"` address, used beside
// proxydhcp): the client already has an address and sends its REQUEST to
// port 4011 from port 68 or 4011, and waits on that port (PXE spec 2.1,
// §2.2.4). Nil for port 67 traffic, which follows RFC 2131 (route), and for
// a peer that cannot be answered directly.
func bootServerDst(listenPort int, peer *net.UDPAddr) *net.UDPAddr {
	if listenPort == dhcpv4.ServerPort || peer == nil || peer.Port == 0 {
		return nil
	}
	ip := peer.IP.To4()
	if ip == nil || ip.IsUnspecified() || ip.Equal(net.IPv4bcast) {
		return nil
	}
	return &net.UDPAddr{IP: ip, Port: peer.Port}
}
