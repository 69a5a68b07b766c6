package macpin

import (
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// start runs a macpin on a fresh store file in t.TempDir() with the given
// range and extra options, fast flush and poll intervals.
func start(t testing.TB, first, last string, opts ...string) (*Macpin, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nodes.db")
	return startAt(t, path, first, last, opts...), path
}

func startAt(t testing.TB, path, first, last string, opts ...string) *Macpin {
	t.Helper()
	cfg, err := ParseArgs(append([]string{path, first, last, "1h"}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.FlushInterval, cfg.PollInterval = 50*time.Millisecond, 50*time.Millisecond
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func hw(i int) net.HardwareAddr {
	return net.HardwareAddr{0xdc, 0xa6, 0x32, byte(i >> 16), byte(i >> 8), byte(i)}
}

// packet builds a client message the way coredhcp hands it to plugins: the
// request plus a reply whose type the server already set.
func packet(t testing.TB, mac net.HardwareAddr, mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) (*dhcpv4.DHCPv4, *dhcpv4.DHCPv4) {
	t.Helper()
	req, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := dhcpv4.NewReplyFromRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	}
	resp.UpdateOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1)))
	return req, resp
}

// discover sends a DISCOVER and returns the offered address (invalid if none).
func discover(t testing.TB, m *Macpin, mac net.HardwareAddr, mods ...dhcpv4.Modifier) netip.Addr {
	t.Helper()
	req, resp := packet(t, mac, dhcpv4.MessageTypeDiscover, mods...)
	out, _ := m.Handler4(req, resp)
	if out == nil {
		return netip.Addr{}
	}
	if out.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("DISCOVER from %s answered with %s", mac, out.MessageType())
	}
	a, _ := netip.AddrFromSlice(out.YourIPAddr.To4())
	return a
}

// withServerID names this test server (10.0.0.1, what packet's replies
// carry) in option 54, as a real DECLINE does.
func withServerID() dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1)))
}

func withRequested(ip netip.Addr) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP(ip.AsSlice())))
}

func mustNode(t testing.TB, s store.Store, mac net.HardwareAddr) store.Node {
	t.Helper()
	n, err := s.Node(t.Context(), mac)
	if err != nil {
		t.Fatalf("store has no pin for %s: %v", mac, err)
	}
	return n
}

func openStore(t testing.TB, path string, ro bool) store.Store {
	t.Helper()
	s, err := store.Open(path, store.Options{ReadOnly: ro})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eventually polls cond for up to 3 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func ip4(s string) netip.Addr { return netip.MustParseAddr(s) }
