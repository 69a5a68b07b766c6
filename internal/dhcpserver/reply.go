package dhcpserver

import (
	"fmt"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"
	"golang.org/x/net/ipv4"
)

// reply sends resp to where route says, out of the interface the request
// came in on when the destination is on the link; a request that came to a
// PXE boot-server port (4011) is answered where it came from.
func (l *listener) reply(req, resp *dhcpv4.DHCPv4, ifindex int, peer *net.UDPAddr) {
	s := l.srv
	how, dst := route(req, resp)
	if bs := bootServerDst(l.addr.Port, peer); bs != nil {
		how, dst = viaUnicast, bs
	}
	fields := func() logrus.Fields {
		return logrus.Fields{"mac": req.ClientHWAddr.String(), "type": resp.MessageType().String(), "dst": dst.String(), "ifindex": ifindex}
	}
	if how == viaLayer2 && ifindex == 0 {
		// No interface to put the frame on: a broadcast still reaches
		// the client if the routing table knows the way.
		how, dst = viaBroadcast, &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	}
	var err error
	switch how {
	case viaLayer2:
		src := l.sourceIP(resp, ifindex)
		err = s.l2.send(ifindex, req.ClientHWAddr, src, dst.IP, resp.ToBytes())
		if err == nil {
			s.stats.layer2.Add(1)
		}
	case viaBroadcast:
		var cm *ipv4.ControlMessage
		if l.ifi.Index == 0 && ifindex != 0 {
			cm = &ipv4.ControlMessage{IfIndex: ifindex}
		}
		_, err = l.conn.WriteTo(resp.ToBytes(), cm, dst)
		if err == nil {
			s.stats.broadcast.Add(1)
		}
	default:
		_, err = l.conn.WriteTo(resp.ToBytes(), nil, dst)
		if err == nil {
			s.stats.unicast.Add(1)
		}
	}
	if err != nil {
		s.stats.sendErrors.Add(1)
		if ok, missed := s.warn.Allow("", fmt.Sprint("send", how)); ok {
			log.WithFields(fields()).WithField("suppressed", missed).WithError(err).Warn("reply not sent")
		}
		return
	}
	if log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		log.WithFields(fields()).Debug("reply sent")
	}
}

// sourceIP is the IPv4 source of a layer-2 reply: the server identifier the
// chain put in the reply (that is where the client will talk to), else the
// address the listener is bound to, else the interface's first address.
func (l *listener) sourceIP(resp *dhcpv4.DHCPv4, ifindex int) net.IP {
	if sid := resp.ServerIdentifier().To4(); sid != nil && !sid.IsUnspecified() {
		return sid
	}
	if ip := l.addr.IP.To4(); ip != nil && !ip.IsUnspecified() && !ip.IsMulticast() {
		return ip
	}
	if ip := l.srv.addrs.lookup(ifindex); ip != nil {
		return ip
	}
	if ok, _ := l.srv.warn.Allow("", "nosrc"); ok {
		log.WithField("ifindex", ifindex).Warn("interface has no IPv4 address and the reply no server identifier; layer-2 replies leave from 0.0.0.0")
	}
	return net.IPv4zero
}
