//go:build integration

package dhcpserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// rig is a server namespace (bridge br0 holding ServerIP/24) running this
// test binary as a DHCP server on a given config, and a client namespace
// joined to the bridge with a wire on its eth0. harness removes both
// namespaces and the server process at cleanup, also when the test fails,
// and removes leftovers of killed runs.
type rig struct {
	net      *harness.Net
	server   *harness.Proc
	clientNS string
	iface    string
	wire     *wire
}

// newRig starts a server whose config is rendered from tmpl: %[1]s is the
// server address, %[2]s the server's state directory, %[3]s the first three
// octets of the server's /24 with a trailing dot. wrap, if given, is a
// command line the server is started through (e.g. setpriv).
func newRig(t *testing.T, tmpl string, wrap ...string) *rig {
	t.Helper()
	r := &rig{net: harness.NewNet(t)}
	path := filepath.Join(r.net.Dir, "config.yml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(tmpl, r.net.ServerIP, r.net.Dir, r.net.Prefix)), 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(childEnv, path)
	// deps: setpriv
	r.server = r.net.Start(t, r.net.NS, "server", append(wrap, exe)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tail(r.server.Log(), 60))
		}
	})
	r.waitLine(t, "READY", 10*time.Second)
	r.clientNS, r.iface = r.net.AddClient(t, "cl")
	w, err := openWire(r.clientNS, r.iface)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	r.wire = w
	r.warmUp(t)
	return r
}

// warmUp retries a DISCOVER until it is answered, as a client would: a
// veth port just added to the bridge may lose the first frames.
func (r *rig) warmUp(t *testing.T) {
	t.Helper()
	mac := testMAC(0xff, 0xff)
	d := message(t, dhcpv4.MessageTypeDiscover, mac)
	for try := 0; ; try++ {
		if err := r.wire.send(d); err != nil {
			t.Fatal(err)
		}
		select {
		case f := <-r.wire.frames:
			if f.msg.ClientHWAddr.String() == mac.String() {
				// Let stragglers of the earlier tries arrive and drop them.
				time.Sleep(100 * time.Millisecond)
				for len(r.wire.frames) > 0 {
					<-r.wire.frames
				}
				return
			}
		case <-time.After(200 * time.Millisecond):
			if try == 25 {
				t.Fatal("no reply to a DISCOVER within 5 s of start")
			}
		}
	}
}

// lines returns the server's output lines that start with prefix.
func (r *rig) lines(prefix string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(r.server.Log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return out
}

func (r *rig) waitLine(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if l := r.lines(prefix); len(l) > 0 {
			return l[len(l)-1]
		}
		if r.server.Exited() || time.Now().After(deadline) {
			t.Fatalf("server printed no %q line (exited: %v)", prefix, r.server.Exited())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stats asks the server for its counters.
func (r *rig) stats(t *testing.T) Stats {
	t.Helper()
	before := len(r.lines("STATS "))
	if err := r.server.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if l := r.lines("STATS "); len(l) > before {
			var s Stats
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l[len(l)-1], "STATS ")), &s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not print its counters")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rcvbufErrors is UdpRcvbufErrors of the server's namespace: datagrams the
// kernel dropped because a UDP socket's buffer was full.
func (r *rig) rcvbufErrors(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", r.server.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	t.Fatal("no Udp RcvbufErrors in /proc/net/snmp")
	return 0
}

// expect waits for a reply to chaddr mac with xid, failing after d.
func (r *rig) expect(t *testing.T, mac net.HardwareAddr, xid dhcpv4.TransactionID, d time.Duration) frame {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f := <-r.wire.frames:
			if f.msg.ClientHWAddr.String() == mac.String() && f.msg.TransactionID == xid {
				return f
			}
		case <-timeout:
			t.Fatalf("no reply to %s (xid %s) within %v", mac, xid, d)
		}
	}
}

// quiet fails if any reply to chaddr mac shows up within d.
func (r *rig) quiet(t *testing.T, mac net.HardwareAddr, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f := <-r.wire.frames:
			if f.msg.ClientHWAddr.String() == mac.String() {
				t.Errorf("server sent %s to %s at %s; it must not answer", f.msg.MessageType(), mac, f.dstIP)
			}
		case <-timeout:
			return
		}
	}
}

func testMAC(a, b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0x42, 0, 0, a, b} }

func message(t *testing.T, mt dhcpv4.MessageType, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

const loopConfig = `
server4:
  listen: ["%%br0"]
  plugins:
    - server_id: %[1]s
    - testrecord:
    - testaddr:
server6:
  listen: ["[ff02::1:2%%br0]:547"]
  plugins:
    - testrecord:
`

// TestLoop runs the loop's whole contract in both handler modes: a
// goroutine per request, and inline on the reader.
func TestLoop(t *testing.T) {
	for _, inline := range []bool{false, true} {
		name := "goroutine per request"
		if inline {
			name = "inline"
		}
		t.Run(name, func(t *testing.T) {
			if inline {
				t.Setenv(inlineEnv, "1")
			}
			testLoop(t, inline)
		})
	}
}

func testLoop(t *testing.T, inline bool) {
	r := newRig(t, loopConfig)
	if got := strings.Contains(r.server.Log(), `mode="inline`); got != inline {
		t.Fatalf("inline mode %v, want %v:\n%s", got, inline, tail(r.server.Log(), 2000))
	}

	t.Run("plugins set up once per protocol", func(t *testing.T) {
		if n4, n6 := len(r.lines("SETUP4")), len(r.lines("SETUP6")); n4 != 1 || n6 != 1 {
			t.Errorf("testrecord set up %d times for v4, %d for v6; want once each", n4, n6)
		}
	})

	t.Run("OFFER at layer 2 to a client without an address", func(t *testing.T) {
		mac := testMAC(1, 7)
		d := message(t, dhcpv4.MessageTypeDiscover, mac)
		if err := r.wire.send(d); err != nil {
			t.Fatal(err)
		}
		f := r.expect(t, mac, d.TransactionID, 3*time.Second)
		if f.msg.MessageType() != dhcpv4.MessageTypeOffer || !f.msg.YourIPAddr.Equal(testAddr(mac)) {
			t.Errorf("got %s for %s, want OFFER of %s", f.msg.MessageType(), f.msg.YourIPAddr, testAddr(mac))
		}
		if f.dstMAC.String() != mac.String() || !f.dstIP.Equal(testAddr(mac)) || !f.srcIP.Equal(net.ParseIP(r.net.ServerIP)) ||
			f.sport != 67 || f.dport != 68 {
			t.Errorf("frame to %s %s:%d from %s:%d; want to %s %s:68 from %s:67",
				f.dstMAC, f.dstIP, f.dport, f.srcIP, f.sport, mac, testAddr(mac), r.net.ServerIP)
		}
		if !f.ipOK || !f.udpOK {
			t.Errorf("checksums: IP ok %v, UDP ok %v", f.ipOK, f.udpOK)
		}
	})

	t.Run("broadcast flag gets a broadcast", func(t *testing.T) {
		mac := testMAC(1, 8)
		d := message(t, dhcpv4.MessageTypeDiscover, mac, dhcpv4.WithBroadcast(true))
		if err := r.wire.send(d); err != nil {
			t.Fatal(err)
		}
		f := r.expect(t, mac, d.TransactionID, 3*time.Second)
		if f.dstMAC.String() != "ff:ff:ff:ff:ff:ff" || !f.dstIP.Equal(net.IPv4bcast) {
			t.Errorf("reply to %s %s, want ff:ff:ff:ff:ff:ff 255.255.255.255", f.dstMAC, f.dstIP)
		}
	})

	t.Run("busybox udhcpc gets a lease", func(t *testing.T) {
		// udhcpc reads replies on a raw socket and checks both checksums,
		// like a boot ROM that has no IP stack to do it.
		out, err := r.net.Run(t, r.clientNS, "busybox", "udhcpc", "-f", "-q", "-n", "-i", r.iface, "-t", "3", "-T", "1", "-s", "/bin/true")
		if err != nil {
			t.Fatalf("udhcpc: %v\n%s", err, out)
		}
		ifi := r.clientMAC(t)
		if want := "lease of " + testAddr(ifi).String() + " obtained"; !strings.Contains(out, want) {
			t.Errorf("udhcpc said %q, want %q", out, want)
		}
	})

	t.Run("DECLINE and RELEASE reach the chain and get no reply", func(t *testing.T) {
		before := r.stats(t)
		decl, rel := testMAC(2, 1), testMAC(2, 2)
		sid := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(r.net.ServerIP)))
		if err := r.wire.send(message(t, dhcpv4.MessageTypeDecline, decl, sid,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(testAddr(decl))))); err != nil {
			t.Fatal(err)
		}
		if err := r.wire.send(message(t, dhcpv4.MessageTypeRelease, rel, sid, dhcpv4.WithClientIP(testAddr(rel)))); err != nil {
			t.Fatal(err)
		}
		r.waitLine(t, "EVENT DECLINE "+decl.String(), 3*time.Second)
		r.waitLine(t, "EVENT RELEASE "+rel.String(), 3*time.Second)
		r.quiet(t, decl, 500*time.Millisecond)
		r.quiet(t, rel, 0)
		after := r.stats(t)
		if after.Declines-before.Declines != 1 || after.Releases-before.Releases != 1 || after.Replies != before.Replies {
			t.Errorf("counters moved by %d declines, %d releases, %d replies; want 1, 1, 0",
				after.Declines-before.Declines, after.Releases-before.Releases, after.Replies-before.Replies)
		}
	})

	t.Run("malformed packets are dropped, the server keeps serving", func(t *testing.T) {
		before := r.stats(t)
		good := message(t, dhcpv4.MessageTypeDiscover, testMAC(3, 1)).ToBytes()
		bad := [][]byte{
			{},
			[]byte("not dhcp at all"),
			good[:100],
			append(append([]byte{}, good[:236]...), 0xde, 0xad, 0xbe, 0xef),
			append(append([]byte{}, good[:240]...), 53, 250, 1),
		}
		for _, b := range bad {
			if err := r.wire.sendRaw(testMAC(3, 9), b); err != nil {
				t.Fatal(err)
			}
		}
		mac := testMAC(3, 2)
		d := message(t, dhcpv4.MessageTypeDiscover, mac)
		if err := r.wire.send(d); err != nil {
			t.Fatal(err)
		}
		r.expect(t, mac, d.TransactionID, 3*time.Second)
		after := r.stats(t)
		if got := (after.Malformed + after.UnknownType) - (before.Malformed + before.UnknownType); got != uint64(len(bad)) {
			t.Errorf("%d of %d bad packets counted as dropped", got, len(bad))
		}
		if after.Panics != 0 || r.server.Exited() {
			t.Errorf("server panicked %d times, exited: %v", after.Panics, r.server.Exited())
		}
	})

	t.Run("burst of 2000 DISCOVERs all answered", func(t *testing.T) {
		const n = 2000
		before, errsBefore := r.stats(t), r.rcvbufErrors(t)
		msgs := make([][]byte, n)
		macs := make([]net.HardwareAddr, n)
		for i := range msgs {
			macs[i] = net.HardwareAddr{0x02, 0x43, 0, byte(i >> 16), byte(i >> 8), byte(i)}
			msgs[i] = message(t, dhcpv4.MessageTypeDiscover, macs[i]).ToBytes()
		}
		start := time.Now()
		for i := range msgs {
			if err := r.wire.sendRaw(macs[i], msgs[i]); err != nil {
				t.Fatal(err)
			}
		}
		sent := time.Since(start)
		answered := map[string]bool{}
		timeout := time.After(15 * time.Second)
		for len(answered) < n {
			select {
			case f := <-r.wire.frames:
				if f.msg.MessageType() == dhcpv4.MessageTypeOffer && f.msg.ClientHWAddr[1] == 0x43 {
					answered[f.msg.ClientHWAddr.String()] = true
				}
			case <-timeout:
				t.Fatalf("%d of %d DISCOVERs answered within 15 s", len(answered), n)
			}
		}
		took := time.Since(start)
		after, errsAfter := r.stats(t), r.rcvbufErrors(t)
		t.Logf("%d DISCOVERs sent in %v, all answered in %v; kernel drops (UdpRcvbufErrors) %d, busy drops %d",
			n, sent.Round(time.Millisecond), took.Round(time.Millisecond), errsAfter-errsBefore, after.Busy-before.Busy)
		if errsAfter != errsBefore {
			t.Errorf("UdpRcvbufErrors grew by %d in the server namespace", errsAfter-errsBefore)
		}
		if after.Busy != before.Busy || r.wire.dropped.Load() != 0 {
			t.Errorf("dropped: %d by the server (busy), %d by the test's capture", after.Busy-before.Busy, r.wire.dropped.Load())
		}
	})

	t.Run("DHCPv6 still served by upstream", func(t *testing.T) {
		r.solicit(t)
		r.waitLine(t, "EVENT6 SOLICIT", 5*time.Second)
	})

	t.Run("SIGTERM closes the listeners and Wait returns cleanly", func(t *testing.T) {
		if err := r.server.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := r.server.Wait(5 * time.Second); err != nil {
			t.Errorf("server did not end cleanly: %v", err)
		}
	})
}

// clientMAC is the hardware address of the client namespace's interface.
func (r *rig) clientMAC(t *testing.T) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := harness.InNS(r.clientNS, func() error {
		ifi, err := net.InterfaceByName(r.iface)
		if ifi != nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

var tentative = regexp.MustCompile(`inet6 fe80::\S+ scope link\s*(tentative)?`)

// solicit sends a DHCPv6 SOLICIT from the client's link-local address to
// All_DHCP_Relay_Agents_and_Servers, once DAD has finished with it.
func (r *rig) solicit(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("ip", "-n", r.clientNS, "-6", "addr", "show", "dev", r.iface).CombinedOutput()
		if m := tentative.FindStringSubmatch(string(out)); m != nil && m[1] == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usable link-local address on the client:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// DUID-LL of a made-up MAC; elapsed time option; client id is required.
	sol := []byte{1, 0x12, 0x34, 0x56,
		0, 1, 0, 10, 0, 3, 0, 1, 0x02, 0x42, 0, 0, 6, 6,
		0, 8, 0, 2, 0, 0}
	var conn *net.UDPConn
	if err := harness.InNS(r.clientNS, func() error {
		var err error
		conn, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: 546, Zone: r.iface})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.WriteToUDP(sol, &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: 547, Zone: r.iface}); err != nil {
		t.Fatal(err)
	}
}
