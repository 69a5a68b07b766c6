// Package dhcpserver is rpinetboot's DHCPv4 packet loop: it replaces the
// listener and dispatcher of upstream CoreDHCP's server package while
// keeping CoreDHCP's configuration, plugin loading and handler chain
// untouched, so every `server4:` stanza behaves exactly as before.
//
// It exists because upstream's loop fails Raspberry Pi fleets in three ways
// the end-to-end tests measured:
//
//   - A boot storm overflows the port-67 socket. With the kernel's default
//     receive buffer (~208 KiB, about a hundred DHCP packets) 300–650 of
//     1,000 boards powered on at the same instant lost their DISCOVER; a Pi 3
//     ROM waits 5 s per lost DISCOVER and tries only 5 times. Here the socket
//     asks for a 16 MiB buffer (SO_RCVBUFFORCE, falling back to SO_RCVBUF
//     capped by net.core.rmem_max, with a warning naming the sysctl), and one
//     reader goroutine per socket does nothing but read batches (recvmmsg)
//     and dispatch them.
//   - Upstream drops DHCPDECLINE before any plugin sees it, so macpin could
//     never blacklist an address a board found in use. Here DECLINE and
//     RELEASE run through the chain like any request; whatever the chain
//     returns for them is never sent (RFC 2131: no reply to either).
//   - Upstream starts an unbounded goroutine per packet and opens a new raw
//     socket for every reply sent to a client without an address. Here at
//     most MaxInflight packets are handled at once (more are dropped and
//     counted, the boards retry), and layer-2 replies go through one
//     AF_PACKET socket opened at start and shared by every handler.
//
// Two handler modes. When every `server4:` plugin is one the binary vouches
// never blocks (Options.NonBlocking: cmd/coredhcp lists upstream's pure
// plugins and all of ours), each listener runs the chain inline on its
// reader goroutine, packet after packet of a read batch; a plugin that must
// wait (macpin, for a new pin's commit) holds the reply through
// internal/replyhold and a sender goroutine sends it when the wait is over,
// in order. That saves a goroutine and two thread wake-ups per packet, which
// on a small virtual machine cost more CPU than the DORA itself. A config
// with a plugin that may block (upstream's range writes its database per
// lease, sleep sleeps) gets one handler goroutine per packet instead,
// bounded by MaxInflight.
//
// DHCPv6 (`server6:`) is still served by upstream's server package,
// unchanged.
package dhcpserver
