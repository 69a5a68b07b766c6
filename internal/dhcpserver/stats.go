package dhcpserver

import "sync/atomic"

// Stats are the DHCPv4 loop's counters since start, for logs and metrics.
type Stats struct {
	Received    uint64 // datagrams read from the listening sockets
	Malformed   uint64 // not a DHCPv4 BOOTREQUEST we could parse
	UnknownType uint64 // parsed, but not a message type a server acts on
	Busy        uint64 // dropped because MaxInflight handlers were running
	Declines    uint64 // DHCPDECLINE run through the chain
	Releases    uint64 // DHCPRELEASE run through the chain
	NoReply     uint64 // the chain returned nil (plugin chose not to answer)
	Replies     uint64 // replies sent (Layer2 + Broadcast + Unicast)
	Layer2      uint64 // of Replies: unicast to chaddr over AF_PACKET
	Broadcast   uint64 // of Replies: to 255.255.255.255:68
	Unicast     uint64 // of Replies: to a relay (giaddr) or to ciaddr
	SendErrors  uint64 // replies the kernel refused
	ReadErrors  uint64 // failed reads on a listening socket
	Panics      uint64 // handler chains that panicked (recovered, logged)
}

type counters struct {
	received, malformed, unknownType, busy, declines, releases, noReply atomic.Uint64
	layer2, broadcast, unicast, sendErrors, readErrors, panics          atomic.Uint64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Received: c.received.Load(), Malformed: c.malformed.Load(), UnknownType: c.unknownType.Load(),
		Busy: c.busy.Load(), Declines: c.declines.Load(), Releases: c.releases.Load(), NoReply: c.noReply.Load(),
		Layer2: c.layer2.Load(), Broadcast: c.broadcast.Load(), Unicast: c.unicast.Load(),
		SendErrors: c.sendErrors.Load(), ReadErrors: c.readErrors.Load(), Panics: c.panics.Load(),
	}
	s.Replies = s.Layer2 + s.Broadcast + s.Unicast
	return s
}
