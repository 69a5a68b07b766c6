package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// The one network every server is configured for: a /16 so perfdhcp's
// clients and a 1,000-board storm fit, the same pool and lease time for all.
const (
	subnetCIDR = "10.99.0.0/16"
	netmask    = "255.255.0.0"
	serverIP   = "10.99.0.1"
	clientIP   = "10.99.0.2" // perfdhcp's own address, outside the pool
	poolFirst  = "10.99.1.1"
	poolLast   = "10.99.255.254"
	leaseSecs  = 3600
)

// testbed is one fresh server namespace (bridge br0 holding serverIP/16)
// and one client namespace joined to it.
type testbed struct {
	net      *harness.Net
	clientNS string
	iface    string
	prof     *profRun  // set: start ours from the profiling build
	pool     []ipRange // the addresses every server hands out
}

// ipRange is an inclusive range of addresses.
type ipRange struct{ First, Last string }

// wholePool is the /16 pool of the perfdhcp runs.
var wholePool = []ipRange{{poolFirst, poolLast}}

// stormPool is the pool of the storms: 10.99.K.1-10.99.K.254 for K = 1..8
// (2,032 addresses). piboard adds each board's address to the client
// interface as a /24, which makes 10.99.K.255 that /24's broadcast address
// on the client side: a board handed it cannot receive TFTP replies, with
// any server. Leaving .0 and .255 out keeps that testbed artefact out of
// the results; it is the same for every server.
func stormPool() []ipRange {
	var p []ipRange
	for k := 1; k <= 8; k++ {
		p = append(p, ipRange{fmt.Sprintf("10.99.%d.1", k), fmt.Sprintf("10.99.%d.254", k)})
	}
	return p
}

// newTestbed builds the namespaces through the harness and moves the bridge
// onto the benchmark's /16 (the harness gives it a /24 of its own).
func newTestbed(s *scope) *testbed {
	n := harness.NewNet(s)
	run(s, "ip", "-n", n.NS, "addr", "flush", "dev", n.Bridge)
	run(s, "ip", "-n", n.NS, "addr", "add", serverIP+"/16", "dev", n.Bridge)
	n.Prefix, n.ServerIP = "10.99.0.", serverIP
	bridgeWithoutNetfilter(s, n.NS)
	ns, iface := n.AddClient(s, "load")
	// Boards add their address as a /24; this route reaches the server from any of them.
	run(s, "ip", "-n", ns, "route", "add", subnetCIDR, "dev", iface)
	return &testbed{net: n, clientNS: ns, iface: iface, pool: wholePool}
}

// bridgeWithoutNetfilter makes the testbed's bridge forward like a switch.
// On a host with br_netfilter loaded (any Docker host; this one), bridged
// frames also go through netfilter's IP hooks, which measured as ~19 % of
// the CPU a TFTP ACK costs its sender. A Pi rack reaches the server through
// a switch, not a Linux bridge, so that cost is a testbed artefact; it is
// turned off in the server's own namespace only (the setting is per
// namespace), for every server alike. Without br_netfilter there is
// nothing to turn off.
func bridgeWithoutNetfilter(s *scope, ns string) {
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		return
	}
	for _, k := range []string{"iptables", "ip6tables", "arptables"} {
		run(s, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-"+k+"=0")
	}
}

// run runs a setup command and fails the step with its output on error.
func run(s *scope, argv ...string) string {
	// deps: forwarded
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		s.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// waitUDP waits until something in ns is bound to UDP port, or p ends.
func waitUDP(s *scope, ns string, port int, p *harness.Proc) {
	want := fmt.Sprintf(":%d ", port)
	for i := 0; i < 200; i++ {
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-lunH").CombinedOutput()
		if strings.Contains(strings.ReplaceAll(string(out), "\t", " ")+" ", want) {
			return
		}
		if p.Exited() {
			s.Fatalf("%s exited at start:\n%s", p.Name, tail(p.Log(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Fatalf("%s did not bind UDP port %d within 10 s:\n%s", p.Name, port, tail(p.Log(), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
