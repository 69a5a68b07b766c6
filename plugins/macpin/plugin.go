// Package macpin pins each client MAC to one IPv4 address forever, durably,
// before the first OFFER leaves: the Raspberry Pi 3B+ ROM takes an OFFERed
// address and starts TFTP without ever sending REQUEST, so an address that is
// only recorded at ACK ends up on two boards.
//
// Example stanza (see README.md for every option):
//
//	server4:
//	  plugins:
//	    - macpin: /var/lib/rpinetboot/nodes.db 192.168.50.100 192.168.50.250 1h range=192.168.50.20-192.168.50.29 reserve=dc:a6:32:01:02:03=192.168.50.10
//
// Known MACs are answered from memory with no disk write; new MACs are pinned
// by group commit (concurrent DISCOVERs share one transaction and one fsync).
package macpin

import (
	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
)

var log = logger.GetLogger("plugins/macpin")

// Plugin is the macpin plugin for registration in coredhcp.
var Plugin = plugins.Plugin{
	Name:   "macpin",
	Setup4: setup4,
}

func setup4(args ...string) (handler.Handler4, error) {
	cfg, err := ParseArgs(args...)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	track(m)
	return m.Handler4, nil
}
