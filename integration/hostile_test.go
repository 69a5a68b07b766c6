//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

// hostileDHCP returns DHCP payloads a lab network can throw at the server
// beyond the parser-level malformed() set: odd hardware address lengths,
// relays, oversized and overloaded packets, odd MACs, and requests that try
// to take or free another board's address. victim is a pinned address.
func hostileDHCP(victim net.IP, serverIP net.IP) map[string][]byte {
	base := func(i byte, mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		mac := net.HardwareAddr{0x02, 0xee, 0xbb, 0, 0, i}
		d, _ := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt),
			dhcpv4.WithTransactionID(dhcpv4.TransactionID{0xba, 0xd0, 0, i})}, mods...)...)
		d.OpCode = dhcpv4.OpcodeBootRequest
		return d
	}
	raw := func(d *dhcpv4.DHCPv4) []byte { return d.ToBytes() }
	out := map[string][]byte{}
	// Hardware address lengths 0 and 16 (and past chaddr), set in the wire bytes.
	for _, hlen := range []byte{0, 16, 17, 255} {
		b := raw(base(hlen, dhcpv4.MessageTypeDiscover))
		b[2] = hlen
		out[fmt.Sprintf("hlen %d", hlen)] = b
	}
	b := raw(base(1, dhcpv4.MessageTypeDiscover))
	b[1] = 32 // InfiniBand htype with an Ethernet length
	out["htype 32"] = b
	out["giaddr unreachable relay"] = raw(base(2, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.IPv4(10, 255, 255, 1))))
	out["giaddr is the server"] = raw(base(3, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(serverIP)))
	out["hops 255"] = func() []byte { d := base(4, dhcpv4.MessageTypeDiscover); d.HopCount = 255; return raw(d) }()
	big := base(5, dhcpv4.MessageTypeDiscover)
	for c := 224; c < 250; c++ { // 26 x 42 bytes: a 1,400-byte datagram, just under the MTU
		big.Options[uint8(c)] = bytes.Repeat([]byte{byte(c)}, 40)
	}
	out["oversized 1.4 KB"] = raw(big)
	ovl := raw(base(6, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionOptionOverload, []byte{3}))))
	copy(ovl[44:], bytes.Repeat([]byte{97, 200}, 96)) // sname+file claim options running past their fields
	out["option overload garbage"] = ovl
	out["bytes after end"] = append(raw(base(7, dhcpv4.MessageTypeDiscover)), bytes.Repeat([]byte{0xff, 97, 17}, 50)...)
	prl := make([]byte, 255)
	for i := range prl {
		prl[i] = byte(i)
	}
	out["option 55 all 255 codes"] = raw(base(8, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionParameterRequestList, prl))))
	out["option 61 255 bytes"] = raw(base(9, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, bytes.Repeat([]byte{1}, 255)))))
	out["option 12 control bytes"] = raw(base(10, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionHostName, bytes.Repeat([]byte{0x1b, '[', '2', 'J', '\n', 0}, 42)))))
	out["option 60 255 bytes PXE"] = raw(base(11, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:"+strings.Repeat("A", 245)))))
	out["option 60 walt model injection"] = raw(base(12, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("walt.node.../../../etc/passwd"))))
	out["option 43 from a client"] = raw(base(13, dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{9, 200, 0}))))
	out["bootp without option 53"] = func() []byte { d := base(14, dhcpv4.MessageTypeDiscover); delete(d.Options, 53); return raw(d) }()
	out["REQUEST for the victim's address"] = raw(base(15, dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(victim))))
	out["REQUEST ciaddr victim"] = raw(base(16, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(victim)))
	out["DECLINE of the victim's address"] = raw(base(17, dhcpv4.MessageTypeDecline, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(victim))))
	out["RELEASE of the victim's address"] = raw(base(18, dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(victim)))
	out["INFORM"] = raw(base(19, dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(net.IPv4(10, 1, 2, 3))))
	out["message type OFFER from a client"] = raw(base(20, dhcpv4.MessageTypeOffer))
	out["message type ACK from a client"] = raw(base(21, dhcpv4.MessageTypeAck))
	for i, mac := range []net.HardwareAddr{{0, 0, 0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x01, 0, 0x5e, 0, 0, 1}} {
		d := base(byte(22+i), dhcpv4.MessageTypeDiscover)
		d.ClientHWAddr = mac
		out["chaddr "+mac.String()] = raw(d)
	}
	return out
}

// hostileRig is the example configuration with a 40-address pool (so a
// flood exhausts it quickly) and the metrics stanza on the namespace's loopback.
func hostileRig(t *testing.T) *bootRig {
	return newBootRig(t, func(t *testing.T, n *harness.Net, cfg harness.Config) {
		rewriteConfig(t, cfg, n.Prefix+"100 "+n.Prefix+"199 1h pin=netboot", n.Prefix+"100 "+n.Prefix+"139 1h pin=all") // the flood pins too
		rewriteConfig(t, cfg, "    - macpin:", "    - metrics: 127.0.0.1:9467\n    - macpin:")
		rewriteConfig(t, cfg, "# metrics: 127.0.0.1:9469", "metrics: 127.0.0.1:9469")
	})
}

// The DHCP half of the hostile input battery, end to end against
// the running coredhcp: malformed and hostile packets, then a flood of
// DISCOVERs from random MACs that exhausts the pool. Nothing crashes,
// nothing is handed out twice, no hostile request takes or frees a
// board's address, the exhaustion is logged a few times (not per packet)
// and counted, and known boards get their OFFER during and after.
func TestHostileDHCPBattery(t *testing.T) {
	r := hostileRig(t)
	pi4 := piboard.NewBoard(piboard.Pi4, 81, 1)
	pi3 := piboard.NewBoard(piboard.Pi3, 81, 2)
	legit := map[string]string{} // MAC -> pinned IP
	for _, b := range []piboard.Board{pi4, pi3} {
		o := r.exchange(t, b.Discover())
		legit[b.MAC.String()] = o.YourIPAddr.String()
	}
	victim := net.ParseIP(legit[pi4.MAC.String()])
	checkLegit := func(when string) {
		t.Helper()
		for _, b := range []piboard.Board{pi4, pi3} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rep, err := r.link.Exchange(ctx, b.Discover(), 2*time.Second)
			cancel()
			if err != nil {
				t.Errorf("%s: known board %s got no OFFER: %v", when, b.MAC, err)
				continue
			}
			if got := rep.Msg.YourIPAddr.String(); got != legit[b.MAC.String()] {
				t.Errorf("%s: known board %s offered %s, its pin is %s", when, b.MAC, got, legit[b.MAC.String()])
			}
			if err := piboard.CheckPiOffer(b.Model, rep); err != nil {
				t.Errorf("%s: %s: %v", when, b.MAC, err)
			}
		}
	}

	// Phase 1: every malformed and hostile packet, three times. Replies to
	// the hostile MACs are collected: none may ACK the victim's address.
	packets := malformed()
	for k, v := range hostileDHCP(victim, net.ParseIP(r.net.ServerIP)) {
		packets[k] = v
	}
	var replies sync.Map // MAC -> []*dhcpv4.DHCPv4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		mac := net.HardwareAddr{0x02, 0xee, 0xbb, 0, 0, byte(i)}
		sub := r.link.Subscribe(mac)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.link.Unsubscribe(mac)
			for {
				select {
				case rep := <-sub:
					v, _ := replies.LoadOrStore(mac.String(), &[]*dhcpv4.DHCPv4{})
					*v.(*[]*dhcpv4.DHCPv4) = append(*v.(*[]*dhcpv4.DHCPv4), rep.Msg)
				case <-stop:
					return
				}
			}
		}()
	}
	sent := 0
	src := net.HardwareAddr{0x02, 0xee, 0xbb, 0xff, 0, 0}
	for round := 0; round < 3; round++ {
		for name, p := range packets {
			if err := r.link.SendRaw(src, p); err != nil {
				t.Fatalf("send %s: %v", name, err)
			}
			sent++
		}
		checkLegit(fmt.Sprintf("battery round %d", round))
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	replies.Range(func(k, v any) bool {
		for _, m := range *v.(*[]*dhcpv4.DHCPv4) {
			if m.YourIPAddr.Equal(victim) {
				t.Errorf("hostile %s was offered the victim's address %s in a %s", k, victim, m.MessageType())
			}
		}
		return true
	})
	checkLegit("after the battery")

	// Phase 2: 400 new random MACs at 400 DISCOVERs a second into a pool
	// with at most 38 free addresses, known boards asking all along.
	const flood = 400
	rng := rand.New(rand.NewPCG(8, 8))
	offers := make(chan [2]string, flood*4)
	var subs sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	macs := make([]net.HardwareAddr, flood)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x06, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(i >> 8), byte(i)}
		sub := r.link.Subscribe(macs[i])
		subs.Add(1)
		go func(mac net.HardwareAddr) {
			defer subs.Done()
			defer r.link.Unsubscribe(mac)
			for {
				select {
				case rep := <-sub:
					if rep.Msg.MessageType() == dhcpv4.MessageTypeOffer {
						offers <- [2]string{mac.String(), rep.Msg.YourIPAddr.String()}
					}
				case <-ctx.Done():
					return
				}
			}
		}(macs[i])
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / flood)
	for i, mac := range macs {
		<-tick.C
		d, _ := dhcpv4.NewDiscovery(mac)
		if err := r.link.Send(d); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			checkLegit(fmt.Sprintf("flood at %d", i+1))
		}
	}
	tick.Stop()
	t.Logf("flood: %d DISCOVERs from new MACs in %v", flood, time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second)
	cancel()
	subs.Wait()
	close(offers)
	owner := map[string]string{}
	for o := range offers {
		mac, ip := o[0], o[1]
		if prev, ok := owner[ip]; ok && prev != mac {
			t.Errorf("address %s offered to both %s and %s", ip, prev, mac)
		}
		owner[ip] = mac
		if !inPool(r.net, ip) {
			t.Errorf("%s offered %s, outside the pool", mac, ip)
		}
		for lm, lip := range legit {
			if ip == lip {
				t.Errorf("%s offered %s, pinned to %s", mac, ip, lm)
			}
		}
	}
	checkLegit("after the flood")

	if r.srv.DHCP.Exited() {
		t.Fatalf("coredhcp died:\n%s", tail(r.srv.DHCP.Log(), 40))
	}
	log := r.srv.DHCP.Log()
	if strings.Contains(log, "panic") {
		t.Errorf("coredhcp logged a panic:\n%s", tail(log, 40))
	}
	exhaustedLines := strings.Count(log, "pool exhausted")
	if exhaustedLines < 1 || exhaustedLines > 3 {
		t.Errorf("%d 'pool exhausted' log lines for a %d-MAC flood; want a few (rate-limited), not none or one per packet", exhaustedLines, flood)
	}

	// The store: no address twice, nothing outside the pool, the known
	// boards still pinned where they were.
	out, err := r.net.Run(t, r.net.NS, harness.Build(t).Ctl, "-c", r.cfg.Path, "nodes", "list", "--json")
	if err != nil {
		t.Fatalf("rpinetctl nodes list: %v\n%s", err, out)
	}
	var nodes []struct{ MAC, IP string }
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("nodes list --json: %v", err)
	}
	byIP := map[string]string{}
	for _, nd := range nodes {
		if prev, ok := byIP[nd.IP]; ok {
			t.Errorf("store: %s pinned to %s and %s", nd.IP, prev, nd.MAC)
		}
		byIP[nd.IP] = nd.MAC
		if a, err := netip.ParseAddr(nd.IP); err != nil || !inPool(r.net, a.String()) {
			t.Errorf("store: %s pinned to %s outside the pool", nd.MAC, nd.IP)
		}
		// macpin refuses such chaddrs: no single NIC sends them.
		if m, _ := net.ParseMAC(nd.MAC); len(m) == 6 && (m[0]&1 == 1 || bytes.Equal(m, make([]byte, 6))) {
			t.Errorf("store: %s (multicast, broadcast or zero MAC) holds pin %s", nd.MAC, nd.IP)
		}
	}
	for m, ip := range legit {
		if byIP[ip] != m {
			t.Errorf("store: known board %s lost its pin %s (held by %q)", m, ip, byIP[ip])
		}
	}

	// Counted: the metrics plugin on the namespace's loopback.
	code, body := getInNS(t, r.net.NS, "http://127.0.0.1:9467/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	pool := r.net.Prefix + "100-" + r.net.Prefix + "139"
	exhausted := metricValue(body, `rpi_dhcp_macpin_events_total{event="exhausted",pool="`+pool+`"}`)
	received := metricValue(body, `rpi_dhcp_packets_total{result="received"}`)
	malformedN := metricValue(body, `rpi_dhcp_packets_total{result="malformed"}`)
	free := metricValue(body, `rpi_dhcp_pool_free{pool="`+pool+`"}`)
	if exhausted < float64(flood-40) || received < float64(sent+flood) || malformedN < 3 || free != 0 {
		t.Errorf("metrics: exhausted %v (want >= %d), received %v (want >= %d), malformed %v, pool free %v (want 0)",
			exhausted, flood-40, received, sent+flood, malformedN, free)
	}
	// The known Pi 4 asked about ten times (before, during and after the
	// battery and the flood); its class and model are on the counter.
	if v := metricValue(body, `rpi_dhcp_requests_total{class="rpi-pxe",model="rpi-4-b",type="discover"}`); v < 9 {
		t.Errorf("Pi 4 DISCOVERs counted as rpi-pxe/rpi-4-b: %v, want >= 9", v)
	}
	if v := metricValue(body, `rpi_dhcp_replies_total{type="offer"}`); v < 9*2 {
		t.Errorf("OFFERs counted: %v", v)
	}
	if v := metricValue(body, `rpi_dhcp_store_op_duration_seconds_count{op="Pin"}`); v < 1 {
		t.Errorf("store Pin latency not observed: %v", v)
	}
	if code, body := getInNS(t, r.net.NS, "http://127.0.0.1:9467/healthz"); code != 200 {
		t.Errorf("/healthz after the battery: %d %s", code, body)
	}
	t.Logf("battery: %d hostile packets (%d kinds x 3) + %d flood DISCOVERs; %d flood MACs got an address, %.0f refused as exhausted, %d 'pool exhausted' log lines, %.0f malformed counted, %d pins total",
		sent, len(packets), flood, len(owner), exhausted, exhaustedLines, malformedN, len(nodes))
}

// tftpRRQ builds a request packet: op, then NUL-terminated fields.
func tftpPacket(op uint16, fields ...string) []byte {
	b := []byte{byte(op >> 8), byte(op)}
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	return b
}

// hostileTFTP returns the TFTP half of the battery by kind: wrq, junk
// (unknown opcodes, short and unterminated packets), path (hostile file
// names and symlinks out of the tree) and option (absurd option values).
func hostileTFTP() map[string][][]byte {
	out := map[string][][]byte{}
	out["wrq"] = [][]byte{
		tftpPacket(2, "default/evil.bin", "octet"),
		tftpPacket(2, "../../../tmp/pwned", "octet", "tsize", "10"),
		tftpPacket(2, "bootcode.bin", "netascii", "blksize", "1024"),
	}
	for _, op := range []uint16{0, 6, 7, 9, 255, 0x0101, 0xffff} {
		out["junk"] = append(out["junk"], tftpPacket(op, "bootcode.bin", "octet"))
	}
	out["junk"] = append(out["junk"],
		[]byte{}, []byte{0}, []byte{0, 1}, []byte{0, 1, 'a'}, // short
		append([]byte{0, 1}, strings.Repeat("x", 600)...), // no NULs at all
		tftpPacket(1, "default/README.md"),                // no mode
		tftpPacket(1, "", "octet"),                        // empty name
		tftpPacket(1, "default/README.md", "mail"),        // RFC 1350's long-dead mode
		tftpPacket(1, "default/README.md", ""),
		[]byte{0, 3, 0, 1, 'x'}, []byte{0, 4, 0, 9}, []byte{0, 5, 0, 1, 'e', 0}, // DATA/ACK/ERROR on port 69
		append(tftpPacket(1, "default/README.md", "octet"), bytes.Repeat([]byte{0}, 1000)...),
	)
	for _, name := range []string{
		"../../../../etc/passwd", "/etc/passwd", "//etc/passwd", "default/../../../etc/passwd",
		"..", ".", "./../etc/passwd", "nodes/../../etc/shadow", "nodes/deadbeef/../../../etc/hostname",
		`..\..\..\etc\passwd`, `default\..\..\..\etc\passwd`, "default/%2e%2e/%2e%2e/etc/passwd",
		"default/..%c0%af..%c0%afetc/passwd", "~root/.ssh/id_rsa", "/proc/self/environ",
		"default/README.md/../../../../etc/passwd", "models/../../../etc/passwd",
		"default/escape-link", "default/escape-dir/passwd", "default/loop-link",
		strings.Repeat("a/", 2000) + "passwd", strings.Repeat("../", 150) + "etc/passwd",
		"default/\x01\x02\x1b[2J", "default/README.md\x00../../etc/passwd",
	} {
		out["path"] = append(out["path"], tftpPacket(1, name, "octet"))
	}
	for _, o := range [][2]string{
		{"blksize", "0"}, {"blksize", "1"}, {"blksize", "7"}, {"blksize", "-5"}, {"blksize", "abc"},
		{"blksize", "99999999999999999999"}, {"blksize", "100000"}, {"blksize", "65465"},
		{"timeout", "0"}, {"timeout", "-1"}, {"timeout", "256"}, {"timeout", "abc"}, {"timeout", "99999999"},
		{"tsize", "-1"}, {"tsize", "abc"}, {"tsize", "99999999999999999999"},
		{"windowsize", "0"}, {"windowsize", "100000"}, {"windowsize", "-3"},
		{strings.Repeat("x", 1000), "1"}, {"", ""},
	} {
		out["option"] = append(out["option"], tftpPacket(1, "default/README.md", "octet", o[0], o[1]))
	}
	many := []string{"default/README.md", "octet"}
	for i := 0; i < 100; i++ {
		many = append(many, "blksize", "1024")
	}
	out["option"] = append(out["option"], tftpPacket(1, many...), tftpPacket(1, "default/README.md", "octet", "blksize"))
	return out
}

// The TFTP half of the battery, end to end against the running
// rpi-tftpd from a client namespace: write requests, junk, hostile paths,
// absurd options and 300 half-open transfers. No file outside the tree is
// ever sent, refusals are answered with ERROR and counted, half-open
// transfers are given up within seconds, and a stock tftp-hpa client is
// served during and after.
func TestHostileTFTPBattery(t *testing.T) {
	r := hostileRig(t)
	secret := "rpinetboot-secret-outside-the-tree"
	outside := filepath.Join(r.net.Dir, "outside")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(outside, 0o755))
	must(os.WriteFile(filepath.Join(outside, "passwd"), []byte(secret), 0o644))
	def := filepath.Join(r.cfg.TFTPRoot, "default")
	must(os.MkdirAll(def, 0o755))
	must(os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(def, "escape-link")))
	must(os.Symlink(outside, filepath.Join(def, "escape-dir")))
	must(os.Symlink("loop-link", filepath.Join(def, "loop-link")))
	want := strings.Repeat("legit tftp content\n", 3000) // 57 KB, many blocks
	must(os.WriteFile(filepath.Join(def, "hello.txt"), []byte(want), 0o644))

	ns, iface := r.net.AddClient(t, "tftp")
	if out, err := r.net.Run(t, ns, "ip", "addr", "add", r.net.Prefix+"20/24", "dev", iface); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	server := &net.UDPAddr{IP: net.ParseIP(r.net.ServerIP), Port: 69}
	legit := func(when string) {
		t.Helper()
		got := filepath.Join(t.TempDir(), "hello.txt")
		out, err := r.net.Run(t, ns, "tftp", "-m", "binary", r.net.ServerIP, "-c", "get", "hello.txt", got)
		b, _ := os.ReadFile(got)
		if err != nil || string(b) != want {
			t.Errorf("%s: tftp-hpa got %d bytes (%v), want %d\n%s", when, len(b), err, len(want), out)
		}
	}
	legit("before")

	// Half-open transfers: 300 RRQs from their own ports of another client,
	// never acknowledged, sockets kept open so the server sees silence, not
	// an ICMP error. That client holds max_per_client (8) slots, no more.
	const halfOpen, perClient = 300, 8
	hns, hiface := r.net.AddClient(t, "halfopen")
	if out, err := r.net.Run(t, hns, "ip", "addr", "add", r.net.Prefix+"22/24", "dev", hiface); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i := 0; i < halfOpen; i++ {
		c := udpInNS(t, hns, r.net.Prefix+"22:0")
		if _, err := c.WriteToUDP(tftpPacket(1, "hello.txt", "octet", "blksize", "1024"), server); err != nil {
			t.Fatal(err)
		}
	}
	legit("with 300 half-open transfers")
	if r.srv.TFTP.Exited() {
		t.Fatalf("rpi-tftpd died under 300 half-open transfers: %v\n%s", r.srv.TFTP.Wait(time.Second), tail(r.srv.TFTP.Log(), 30))
	}

	battery := hostileTFTP()
	sent, refused, silent := 0, 0, 0
	for _, kind := range []string{"wrq", "junk", "path", "option"} {
		for _, p := range battery[kind] {
			sent++
			// A socket per packet: a late answer is never taken for the next one's.
			conn := udpInNS(t, ns, r.net.Prefix+"20:0")
			wait := 2 * time.Second
			if kind == "junk" {
				wait = 300 * time.Millisecond
			}
			if _, err := conn.WriteToUDP(p, server); err != nil {
				t.Fatalf("send %s %q: %v", kind, p, err)
			}
			buf := make([]byte, 70000)
			conn.SetReadDeadline(time.Now().Add(wait))
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				silent++
				if kind == "wrq" || kind == "path" {
					t.Errorf("%s %q: no answer, want an ERROR", kind, p)
				}
				continue
			}
			b := buf[:n]
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s %q: the server sent a file from outside its tree", kind, p)
			}
			switch op := uint16(b[0])<<8 | uint16(b[1]); {
			case op == 5:
				refused++
			case kind == "option" && (op == 6 || op == 3):
				// An absurd option clamped to a sane value is fine; end it.
				if op == 6 {
					checkOACK(t, p, b)
				}
				conn.WriteToUDP(tftpPacket(5, "\x00\x08done"), from)
				refused++ // clamped: not honoured as asked
				conn.Close()
			default:
				t.Errorf("%s %q: answered with opcode %d, want an ERROR", kind, p, op)
			}
		}
		if kind == "path" {
			legit("during the battery")
		}
	}
	t.Logf("tftp battery: %d hostile packets, %d answered with ERROR or a clamped OACK, %d ignored (junk on port 69)", sent, refused, silent)

	// Half-open transfers are abandoned within seconds and the server is idle.
	code, body := 0, ""
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body = getInNS(t, r.net.NS, "http://127.0.0.1:9469/metrics")
		if metricValue(body, "rpi_tftpd_active_transfers") == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if code != 200 || metricValue(body, "rpi_tftpd_active_transfers") != 0 {
		t.Errorf("active transfers %v 30 s after the half-open ones started, want 0", metricValue(body, "rpi_tftpd_active_transfers"))
	}
	legit("after")
	if r.srv.TFTP.Exited() {
		t.Fatalf("rpi-tftpd died:\n%s", tail(r.srv.TFTP.Log(), 40))
	}
	log := r.srv.TFTP.Log()
	if strings.Contains(log, "panic") {
		t.Errorf("rpi-tftpd logged a panic:\n%s", tail(log, 40))
	}
	wrq := metricValue(body, `rpi_tftpd_requests_total{kind="wrq"}`)
	malformedN := metricValue(body, `rpi_tftpd_requests_total{kind="malformed"}`)
	refusedN := metricValue(body, `rpi_tftpd_transfers_total{result="refused"}`)
	timeouts := metricValue(body, `rpi_tftpd_transfers_total{result="timeout"}`)
	capped := metricValue(body, `rpi_tftpd_requests_total{kind="client_limit"}`)
	if wrq != 3 || malformedN < 10 || refusedN < float64(len(battery["path"])) || timeouts < perClient || timeouts > perClient+5 || capped < halfOpen-perClient {
		t.Errorf("metrics: wrq %v (want 3), malformed %v (want >= 10), refused %v (want >= %d), timeout %v (want the %d held), client_limit %v (want >= %d)",
			wrq, malformedN, refusedN, len(battery["path"]), timeouts, perClient, capped, halfOpen-perClient)
	}
	t.Logf("rpi-tftpd counted: wrq %v, malformed %v, refused %v, not_found %v, timeout %v; log: %d lines",
		wrq, malformedN, refusedN, metricValue(body, `rpi_tftpd_transfers_total{result="not_found"}`), timeouts, strings.Count(log, "\n"))
}

// checkOACK fails when an OACK grants an option outside its RFC range.
func checkOACK(t *testing.T, req, oack []byte) {
	t.Helper()
	f := strings.Split(strings.TrimSuffix(string(oack[2:]), "\x00"), "\x00")
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.Atoi(f[i+1])
		bad := err != nil
		switch strings.ToLower(f[i]) {
		case "blksize":
			bad = bad || v < 8 || v > 65464
		case "timeout":
			bad = bad || v < 1 || v > 255
		case "windowsize":
			bad = bad || v < 1 || v > 65535
		}
		if bad {
			t.Errorf("request %q: OACK grants %s=%s", req, f[i], f[i+1])
		}
	}
}
