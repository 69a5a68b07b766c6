//go:build integration

package integration

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// The shared-network battery's budgets: small, so the test sees them bite.
const (
	snReclaimAfter = 10 * time.Second
	snProbation    = 6 * time.Second
	snBudget       = 2
)

// sharedNet is the battery's rig: the shipped example (pin=netboot with
// range after it) with a small board pool, short aging, a hook that records
// its environment, and metrics on for both daemons.
type sharedNet struct {
	*bootRig
	hookOut string
	rogueNS string
	rogueIf string
}

func newSharedNet(t *testing.T) *sharedNet {
	s := &sharedNet{}
	s.bootRig = newBootRig(t, func(t *testing.T, n *harness.Net, cfg harness.Config) {
		s.hookOut = filepath.Join(n.Dir, "hook.env")
		hook := filepath.Join(n.Dir, "hook.sh")
		if err := os.WriteFile(hook, []byte("#!/bin/sh\nenv | grep ^RPINETBOOT_ >> '"+s.hookOut+"'\necho --- >> '"+s.hookOut+"'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		rewriteConfig(t, cfg, n.Prefix+"100 "+n.Prefix+"199 1h pin=netboot", fmt.Sprintf("%s100 %s119 1h pin=netboot reclaim-after=%s decline-probation=%s decline-budget=%d on-new=%s",
			n.Prefix, n.Prefix, snReclaimAfter, snProbation, snBudget, hook))
		rewriteConfig(t, cfg, "    - macpin:", "    - metrics: 127.0.0.1:9467\n    - macpin:")
		rewriteConfig(t, cfg, "# metrics: 127.0.0.1:9469", "metrics: 127.0.0.1:9469")
		tr := &tree{t: t, root: cfg.TFTPRoot, sums: map[string]string{}}
		for _, m := range []piboard.Model{piboard.Pi3, piboard.Pi4} {
			for _, f := range piboard.DefaultFiles(m) {
				tr.put("default/"+f, content("default/"+f, 20000))
			}
		}
		tmpl, err := os.ReadFile("../examples/tftp/default/boot.scr.tmpl")
		if err != nil {
			t.Fatal(err)
		}
		tr.put("default/boot.scr.tmpl", tmpl)
		tr.put("default/whoami.txt.tmpl", []byte("host={{.Hostname}} model={{.Model}}\n"))
		tr.put("default/big.txt", content("sixty megabytes of text for netascii", 60<<20))
	})
	s.rogueNS, s.rogueIf = s.net.AddClient(t, "rogue")
	return s
}

// bootGenuine boots the Pi 3B+ and the Pi 4 (DHCP and every file) and
// renews the dhclient's lease: the three the battery keeps booting.
func (s *sharedNet) bootGenuine(t *testing.T, when string, boards []piboard.Board, dns, diface string) {
	t.Helper()
	rs := s.boot(t, piboard.Options{RetryInterval: 2 * time.Second, Discovers: 10}, boards)
	for _, r := range rs {
		if !r.OK() {
			t.Errorf("%s: %s %s did not boot: %s", when, r.Model, r.MAC, r.Error)
		} else if !inPool(s.net, r.IP) {
			t.Errorf("%s: %s got %s, outside the board pool", when, r.MAC, r.IP)
		}
	}
	env := runDhclient(t, s.net, dns, diface)
	if !inLeasePool(s.net, env["new_ip_address"]) {
		t.Errorf("%s: dhclient got %q, want a lease from range's pool", when, env["new_ip_address"])
	}
}

// metrics scrapes a daemon's metrics inside the server namespace.
func (s *sharedNet) metrics(t *testing.T, port int) string {
	t.Helper()
	code, body := getInNS(t, s.net.NS, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if code != 200 {
		t.Fatalf("metrics :%d: %d", port, code)
	}
	return body
}

// rogueDHCP sends m from the rogue's port of the segment and returns the
// answer, if any, within d.
func (s *sharedNet) rogueDHCP(t *testing.T, m *dhcpv4.DHCPv4, d time.Duration) *dhcpv4.DHCPv4 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Second)
	defer cancel()
	rep, err := s.link.Exchange(ctx, m, d)
	if err != nil {
		return nil
	}
	return rep.Msg
}

// piMAC is a made-up MAC with a Raspberry Pi OUI: what a rogue spoofing
// boards sends.
func piMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0xdc, 0xa6, 0x32, 0xee, byte(i >> 8), byte(i)}
}

// discoverAs builds a Pi ROM-like DISCOVER from mac with extra options.
func discoverAs(mac net.HardwareAddr, vendor string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, _ := dhcpv4.NewDiscovery(mac, append([]dhcpv4.Modifier{dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor))}, mods...)...)
	return m
}

// TestSharedNetworkBattery: one rogue client on the segment tries every
// attack on a shared network while a Pi 3B+, a Pi 4 and a dhclient keep
// booting. They get their addresses and files every time; the rogue's
// effect stays within the configured budgets and is undone by the
// configured times; rpi-tftpd's memory stays bounded under the netascii
// attack; client text never reaches a script, a hook or the terminal raw.
func TestSharedNetworkBattery(t *testing.T) {
	s := newSharedNet(t)
	pi3, pi4 := piboard.NewBoard(piboard.Pi3, 91, 1), piboard.NewBoard(piboard.Pi4, 91, 2)
	genuine := []piboard.Board{pi3, pi4}
	dns, diface := s.net.AddClient(t, "laptop")
	s.bootGenuine(t, "before any attack", genuine, dns, diface)
	pinOf := map[string]string{}
	for _, n := range storedPins(t, s.cfg.StorePath) {
		pinOf[n.MAC.String()] = n.IP.String()
	}
	serverID := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(s.net.ServerIP)))

	// 1. Bare PXEClient from made-up MACs: no pins (range's leases expire).
	for i := 0; i < 60; i++ {
		mac := net.HardwareAddr{0x06, 0x11, 0x22, 0x33, 0, byte(i)}
		s.rogueDHCP(t, discoverAs(mac, "PXEClient:Arch:00000:UNDI:002001"), 50*time.Millisecond)
	}
	if n := len(storedPins(t, s.cfg.StorePath)); n != 2 {
		t.Errorf("60 made-up MACs claiming PXE: %d pins, want the 2 boards'", n)
	}
	t.Logf("bare PXEClient flood: 60 MACs, %d pins", len(storedPins(t, s.cfg.StorePath)))

	// 2. DECLINE loop: DISCOVER, OFFER, DECLINE, over and over, from one MAC;
	// a DECLINE of a board's address from the rogue's MAC; one naming no server.
	rogue := piMAC(1)
	for i := 0; i < 8; i++ {
		o := s.rogueDHCP(t, discoverAs(rogue, piboard.PXEVendorClass), time.Second)
		if o == nil {
			continue
		}
		d, _ := dhcpv4.New(dhcpv4.WithHwAddr(rogue), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline), serverID,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(o.YourIPAddr)))
		s.link.Send(d)
		time.Sleep(200 * time.Millisecond) // a client waits after a DECLINE (RFC 2131 says 10 s)
	}
	for _, b := range genuine {
		d, _ := dhcpv4.New(dhcpv4.WithHwAddr(rogue), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline), serverID,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(pinOf[b.MAC.String()]))))
		s.link.Send(d)
		d, _ = dhcpv4.New(dhcpv4.WithHwAddr(b.MAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(pinOf[b.MAC.String()]))))
		s.link.Send(d) // no option 54
	}
	time.Sleep(300 * time.Millisecond)
	body := s.metrics(t, 9467)
	pool := s.net.Prefix + "100-" + s.net.Prefix + "119"
	onProbation := metricValue(body, `rpi_dhcp_declined_addresses{pool="`+pool+`"}`)
	ignored := metricValue(body, `rpi_dhcp_macpin_events_total{event="decline_ignored",pool="`+pool+`"}`)
	t.Logf("DECLINE loop: 8 rounds; %v addresses on probation (budget %d), %v DECLINEs ignored", onProbation, snBudget, ignored)
	if onProbation != snBudget || ignored < 8-snBudget+4 {
		t.Errorf("on probation %v (want the budget, %d), ignored %v", onProbation, snBudget, ignored)
		for _, l := range strings.Split(s.srv.DHCP.Log(), "\n") {
			if strings.Contains(l, "DECLINE") {
				t.Log(l)
			}
		}
	}
	for _, b := range genuine {
		for _, n := range storedPins(t, s.cfg.StorePath) {
			if n.MAC.String() == b.MAC.String() && n.IP.String() != pinOf[b.MAC.String()] {
				t.Errorf("a DECLINE not from %s moved its pin from %s to %s", b.MAC, pinOf[b.MAC.String()], n.IP)
			}
		}
	}
	s.bootGenuine(t, "during the DECLINE loop", genuine, dns, diface)
	deadline := time.Now().Add(snProbation + 5*time.Second)
	for time.Now().Before(deadline) && metricValue(s.metrics(t, 9467), `rpi_dhcp_declined_addresses{pool="`+pool+`"}`) > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	if v := metricValue(s.metrics(t, 9467), `rpi_dhcp_declined_addresses{pool="`+pool+`"}`); v != 0 {
		t.Errorf("%v addresses still on probation %s after the DECLINEs (probation %s)", v, snProbation+5*time.Second, snProbation)
	}

	// 3. Pool exhaustion by MACs spoofing Pi boards, and a hostile host name.
	// The genuine boards keep talking (as running boards do, every lease
	// renewal), so the flood's pins, never heard again, are the idle ones.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				for _, b := range genuine {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					s.link.Exchange(ctx, b.Discover(), time.Second)
					cancel()
				}
			}
		}
	}()
	time.Sleep(2500 * time.Millisecond) // their last-seen times reach macpin's memory (2 s flush)
	hostile := "pi\nsetenv bootcmd reset; saveenv\x1b[2J"
	for i := 2; i < 40; i++ {
		mods := []dhcpv4.Modifier{}
		if i == 2 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(hostile)))
		}
		s.rogueDHCP(t, discoverAs(piMAC(i), piboard.PXEVendorClass, mods...), 100*time.Millisecond)
	}
	if v := metricValue(s.metrics(t, 9467), `rpi_dhcp_pool_free{pool="`+pool+`"}`); v != 0 {
		t.Fatalf("pool free %v after the flood of spoofed boards, want 0 (the test needs a full pool)", v)
	}
	newcomer := piboard.NewBoard(piboard.Pi4, 91, 3)
	start := time.Now()
	rs := s.boot(t, piboard.Options{RetryInterval: time.Second, Discovers: 40}, []piboard.Board{newcomer})
	close(stop)
	wg.Wait()
	took := time.Since(start)
	if !rs[0].OK() {
		t.Errorf("a new Pi 4 on a pool filled by a rogue did not boot within %s: %s", took, rs[0].Error)
	}
	t.Logf("pool exhaustion: 38 spoofed boards filled the pool; a new Pi 4 booted after %s (reclaim-after %s)", took.Round(100*time.Millisecond), snReclaimAfter)
	if took > snReclaimAfter+10*time.Second {
		t.Errorf("the new board waited %s, more than reclaim-after (%s) and a few retries", took, snReclaimAfter)
	}
	for _, n := range storedPins(t, s.cfg.StorePath) {
		if want, ok := pinOf[n.MAC.String()]; ok && n.IP.String() != want {
			t.Errorf("genuine board %s moved from %s to %s during the exhaustion", n.MAC, want, n.IP)
		}
	}
	s.bootGenuine(t, "after the pool exhaustion", genuine, dns, diface)

	// 4. The hostile host name: not stored, not in a hook's environment,
	// not in a served script, not raw on the terminal.
	var rogueIP string
	for _, n := range storedPins(t, s.cfg.StorePath) {
		if n.MAC.String() == piMAC(2).String() {
			rogueIP = n.IP.String()
			if n.Hostname != "" {
				t.Errorf("hostile host name stored: %q", n.Hostname)
			}
		}
	}
	hookEnv, _ := os.ReadFile(s.hookOut)
	for _, frag := range []string{"saveenv", "setenv", "\x1b"} {
		if strings.Contains(string(hookEnv), frag) {
			t.Errorf("hook environment carries %q:\n%s", frag, hookEnv)
		}
	}
	if !strings.Contains(string(hookEnv), "RPINETBOOT_EVENT=reclaimed") {
		t.Errorf("no reclaimed event reached the hook:\n%s", tail(string(hookEnv), 20))
	}
	out, err := s.net.Run(t, s.net.NS, harness.Build(t).Ctl, "-c", s.cfg.Path, "nodes", "list")
	if err != nil || strings.Contains(out, "saveenv") || strings.Contains(out, "\x1b") {
		t.Errorf("rpinetctl nodes list: %v\n%q", err, out)
	}
	if rogueIP != "" {
		ip := netip.MustParseAddr(rogueIP)
		if out, err := s.net.Run(t, s.rogueNS, "ip", "addr", "add", rogueIP+"/24", "dev", s.rogueIf); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		c := piboard.NewTFTPClient(s.rogueNS, ip)
		for _, f := range []string{"whoami.txt", "boot.scr"} {
			got, err := c.Get(context.Background(), netip.MustParseAddr(s.net.ServerIP), piboard.Fetch{Name: f, Timeout: time.Second, Retries: 3}, true)
			if err != nil {
				t.Errorf("rogue fetch %s: %v", f, err)
				continue
			}
			if strings.Contains(string(got.Data), "saveenv") || strings.Contains(string(got.Data), "\x1b") {
				t.Errorf("%s served to the rogue carries its host name raw:\n%q", f, got.Data)
			}
		}
	}

	// 5. TFTP: four netascii RRQs for a 60 MB file, slot hogging with tiny
	// blocks, and RRQs the "client" never acknowledges (a forged source).
	ns, ip := s.rogueNS, s.net.Prefix+"120"
	if out, err := s.net.Run(t, ns, "ip", "addr", "add", ip+"/24", "dev", s.rogueIf); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	srv := &net.UDPAddr{IP: net.ParseIP(s.net.ServerIP), Port: 69}
	var socks []*net.UDPConn
	sent := 0
	send := func(req []byte) *net.UDPConn {
		c, err := harness.ListenUDP(ns, &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		socks = append(socks, c)
		c.WriteToUDP(req, srv)
		sent += len(req)
		return c
	}
	rrq := func(file, mode string, opts ...string) []byte {
		b := append(append([]byte{0, 1}, file...), 0)
		b = append(append(b, mode...), 0)
		for _, o := range opts {
			b = append(append(b, o...), 0)
		}
		return b
	}
	for i := 0; i < 4; i++ {
		send(rrq("big.txt", "netascii"))
	}
	for i := 0; i < 20; i++ {
		send(rrq("big.txt", "octet", "blksize", "8"))
	}
	for i := 0; i < 40; i++ {
		send(rrq("big.txt", "octet", "blksize", "1468", "windowsize", "64"))
	}
	var got int64
	var mu sync.Mutex
	var rwg sync.WaitGroup
	for _, c := range socks {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			buf := make([]byte, 70000)
			c.SetReadDeadline(time.Now().Add(4 * time.Second))
			for {
				n, _, err := c.ReadFromUDP(buf)
				if err != nil {
					return
				}
				mu.Lock()
				got += int64(n)
				mu.Unlock()
			}
		}()
	}
	s.bootGenuine(t, "during the TFTP attacks", genuine, dns, diface)
	rwg.Wait()
	t.Logf("TFTP: 64 RRQs never acknowledged (%d bytes) drew %d bytes: %.1fx", sent, got, float64(got)/float64(sent))
	if got > int64(10*sent) {
		t.Errorf("unacknowledged RRQs drew %d bytes for %d sent (%.1fx), want at most 10x", got, sent, float64(got)/float64(sent))
	}
	tb := s.metrics(t, 9469)
	if v := metricValue(tb, `rpi_tftpd_requests_total{kind="client_limit"}`); v < 64-8-1 {
		t.Errorf("client_limit refusals %v: one address held more than max_per_client transfers", v)
	}
	hwm := vmHWM(t, s.srv.TFTP.Pid())
	t.Logf("rpi-tftpd peak RSS %d MB", hwm>>20)
	if hwm > 100<<20 {
		t.Errorf("rpi-tftpd peak RSS %d MB under the netascii attack, want < 100 MB", hwm>>20)
	}
	s.bootGenuine(t, "after everything", genuine, dns, diface)
}

// vmHWM is a process's peak resident set in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
