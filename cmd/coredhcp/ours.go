package main

import (
	"github.com/rpinetboot/rpinetboot/plugins/macpin"
	"github.com/rpinetboot/rpinetboot/plugins/metrics"
	"github.com/rpinetboot/rpinetboot/plugins/modelboot"
	"github.com/rpinetboot/rpinetboot/plugins/proxydhcp"
	"github.com/rpinetboot/rpinetboot/plugins/rpipxe"
	"github.com/rpinetboot/rpinetboot/plugins/vendoropts"
)

// The rpinetboot plugins join upstream's list; names never clash with upstream's.
func init() {
	allPlugins = append(allPlugins,
		&rpipxe.Plugin,
		&vendoropts.Plugin,
		&modelboot.Plugin,
		&macpin.Plugin,
		&metrics.Plugin,
		&proxydhcp.Plugin,
	)
	// None of ours blocks a handler: macpin holds the reply for a new
	// pin's commit instead of waiting (internal/replyhold).
	for _, name := range []string{"rpipxe", "vendoropts", "modelboot", "macpin", "metrics", "proxydhcp"} {
		nonBlocking[name] = true
	}
}
