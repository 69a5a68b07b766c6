package main

import (
	"github.com/coredhcp/coredhcp/plugins"
	pl_autoconfigure "github.com/coredhcp/coredhcp/plugins/autoconfigure"
	pl_dns "github.com/coredhcp/coredhcp/plugins/dns"
	pl_file "github.com/coredhcp/coredhcp/plugins/file"
	pl_ipv6only "github.com/coredhcp/coredhcp/plugins/ipv6only"
	pl_leasetime "github.com/coredhcp/coredhcp/plugins/leasetime"
	pl_mtu "github.com/coredhcp/coredhcp/plugins/mtu"
	pl_nbp "github.com/coredhcp/coredhcp/plugins/nbp"
	pl_netmask "github.com/coredhcp/coredhcp/plugins/netmask"
	pl_prefix "github.com/coredhcp/coredhcp/plugins/prefix"
	pl_range "github.com/coredhcp/coredhcp/plugins/range"
	pl_router "github.com/coredhcp/coredhcp/plugins/router"
	pl_searchdomains "github.com/coredhcp/coredhcp/plugins/searchdomains"
	pl_serverid "github.com/coredhcp/coredhcp/plugins/serverid"
	pl_sleep "github.com/coredhcp/coredhcp/plugins/sleep"
	pl_staticroute "github.com/coredhcp/coredhcp/plugins/staticroute"
)

// allPlugins is every plugin this build offers: upstream's first, then ours.
// Keep upstream's complete so existing coredhcp configs load unchanged.
var allPlugins = []*plugins.Plugin{
	&pl_autoconfigure.Plugin,
	&pl_dns.Plugin,
	&pl_file.Plugin,
	&pl_ipv6only.Plugin,
	&pl_leasetime.Plugin,
	&pl_mtu.Plugin,
	&pl_nbp.Plugin,
	&pl_netmask.Plugin,
	&pl_prefix.Plugin,
	&pl_range.Plugin,
	&pl_router.Plugin,
	&pl_searchdomains.Plugin,
	&pl_serverid.Plugin,
	&pl_sleep.Plugin,
	&pl_staticroute.Plugin,
	// rpinetboot plugins are appended in ours.go.
}

// nonBlocking names the plugins whose DHCPv4 handlers never block: they
// only read memory, or (macpin) hand their wait to the loop through
// replyhold. A configuration made only of these runs the chain inline on
// each listener's reader goroutine. Upstream's range (a database write per
// new lease) and sleep (by design) block, so a config using either keeps
// one goroutine per request.
var nonBlocking = map[string]bool{
	"autoconfigure": true, "dns": true, "file": true, "ipv6only": true, "lease_time": true,
	"mtu": true, "nbp": true, "netmask": true, "prefix": true, "router": true,
	"searchdomains": true, "server_id": true, "staticroute": true,
}
