//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// addressServer starts a stock dnsmasq as the segment's DHCP server, in
// its own namespace at Prefix+"2", handing out .100-.150 with itself as
// router. Replies are broadcast (piboard boards share their interface's
// MAC for ARP; see piboard's README).
func addressServer(t *testing.T, n *harness.Net) (ip string, p *harness.Proc) {
	t.Helper()
	ns, iface := n.AddClient(t, "router")
	ip = n.Prefix + "2"
	if out, err := n.Run(t, ns, "ip", "addr", "add", ip+"/24", "dev", iface); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p = n.Start(t, ns, "dnsmasq", "dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground", "--user=root", "--port=0",
		"--interface="+iface, "--bind-interfaces", "--no-ping", "--dhcp-broadcast", "--log-dhcp", "--log-facility=-",
		"--dhcp-range="+n.Prefix+"100,"+n.Prefix+"150,255.255.255.0,1h", "--dhcp-option=3,"+ip,
		"--dhcp-leasefile="+filepath.Join(n.Dir, "dnsmasq.leases"), "--pid-file="+filepath.Join(n.Dir, "dnsmasq.pid"))
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.Log(), "DHCP, IP range"); time.Sleep(20 * time.Millisecond) {
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("dnsmasq did not start:\n%s", p.Log())
		}
	}
	return ip, p
}

// capture runs tcpdump on iface in ns, writing DHCP traffic to a pcap
// file; stop ends it and returns the file.
func capture(t *testing.T, n *harness.Net, ns, iface string) (stop func() string) {
	t.Helper()
	path := filepath.Join(n.Dir, ns+".pcap")
	p := n.Start(t, ns, "tcpdump", "tcpdump", "-Z", "root", "--immediate-mode", "-i", iface, "-n", "-U", "-w", path, "udp port 67 or udp port 68")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.Log(), "listening on"); time.Sleep(20 * time.Millisecond) {
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start:\n%s", p.Log())
		}
	}
	return func() string {
		time.Sleep(300 * time.Millisecond) // late replies to the client's last packet
		p.Signal(syscall.SIGINT)
		if err := p.Wait(5 * time.Second); err != nil {
			t.Logf("tcpdump: %v\n%s", err, p.Log())
		}
		return path
	}
}

// countPackets counts the packets of pcap that match a tcpdump filter.
func countPackets(t *testing.T, pcap, filter string) (int, string) {
	t.Helper()
	out, err := exec.Command("tcpdump", "-r", pcap, "-n", filter).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s %q: %v", pcap, filter, err)
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return 0, ""
	}
	return strings.Count(s, "\n") + 1, s // one line per packet
}

// toChaddr is a BPF expression matching BOOTP packets whose chaddr is mac
// (chaddr sits 28 bytes into the BOOTP payload, after the 8-byte UDP header).
func toChaddr(mac net.HardwareAddr) string {
	return fmt.Sprintf("udp[36:4] = 0x%02x%02x%02x%02x and udp[40:2] = 0x%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
}

// Beside a stock dnsmasq that owns the addresses, a simulated
// Pi 4 EEPROM takes its address from dnsmasq and its boot answer (43, 60,
// next-server, file) from our coredhcp in proxy mode, then fetches its
// files from rpi-tftpd (its per-MAC config.txt found through the neighbour
// table); a PXE boot-server REQUEST on port 4011 is answered at the
// client's own port; a plain dhclient on the same segment gets its lease
// from dnsmasq and not one packet from our server.
func TestProxyDHCPBesideDnsmasq(t *testing.T) {
	n := harness.NewNet(t)
	cfg := n.RenderExample(t, "config-proxy.yml.example")
	routerIP, dnsmasq := addressServer(t, n)
	b := piboard.NewBoard(piboard.Pi4, 71, 1)
	macDir := strings.ReplaceAll(b.MAC.String(), ":", "-")
	tr := &tree{t: t, root: cfg.TFTPRoot, sums: map[string]string{}}
	tr.put("default/start4.elf", content("default start4.elf", 40000))
	tr.put("default/config.txt", content("default config.txt", 300))
	tr.put("nodes/"+macDir+"/config.txt", content("per-MAC config.txt", 333))
	if out, err := exec.Command(harness.Build(t).Ctl, "config", "check", "-c", cfg.Path).CombinedOutput(); err != nil {
		t.Fatalf("rpinetctl config check refuses the rendered config-proxy.yml.example: %v\n%s", err, out)
	}
	srv := n.StartServers(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("coredhcp log:\n%s", tail(srv.DHCP.Log(), 40))
			t.Logf("rpi-tftpd log:\n%s", tail(srv.TFTP.Log(), 40))
			t.Logf("dnsmasq log:\n%s", tail(dnsmasq.Log(), 40))
		}
	})

	// The board's interface carries the board's MAC, as on a real Pi, so
	// the server's neighbour table maps its IP to it.
	bns, biface := n.AddClient(t, "pi4")
	if out, err := n.Run(t, bns, "ip", "link", "set", biface, "address", b.MAC.String()); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	link, err := piboard.OpenLink(bns, biface)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	link.ProxyDHCP.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := link.Run(ctx, piboard.Options{NS: bns, Iface: biface, RetryInterval: 2 * time.Second,
		Files: []string{"config.txt", "start4.elf"}}, []piboard.Board{b})[0]
	if !res.OK() {
		t.Fatalf("Pi 4 did not boot: %s", res.Error)
	}
	offer, ack := res.Offer, res.Ack
	if !strings.HasPrefix(res.IP, n.Prefix) || !inRange(res.IP, 100, 150) {
		t.Errorf("board address %s, want one from dnsmasq's %s100-150", res.IP, n.Prefix)
	}
	if got := ack.ServerIdentifier().String(); got != routerIP {
		t.Errorf("ACK from %s, want dnsmasq (%s)", got, routerIP)
	}
	if !offer.YourIPAddr.IsUnspecified() || offer.ServerIdentifier().String() != n.ServerIP {
		t.Errorf("boot answer: yiaddr %s from %s, want 0.0.0.0 from %s", offer.YourIPAddr, offer.ServerIdentifier(), n.ServerIP)
	}
	if offer.ClassIdentifier() != "PXEClient" || !bytes.Equal(offer.GetOneOption(dhcpv4.OptionVendorSpecificInformation), dnsmasqMenu43) {
		t.Errorf("boot answer options 60 %q / 43 % x, want PXEClient and the menu", offer.ClassIdentifier(), offer.GetOneOption(dhcpv4.OptionVendorSpecificInformation))
	}
	if offer.ServerIPAddr.String() != n.ServerIP || bootfile(offer) != "start4.elf" || res.TFTPServer != n.ServerIP {
		t.Errorf("next-server %s, file %q, board used TFTP server %s; want %s, start4.elf, %s",
			offer.ServerIPAddr, bootfile(offer), res.TFTPServer, n.ServerIP, n.ServerIP)
	}
	for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionIPAddressLeaseTime} {
		if offer.Options.Has(o) {
			t.Errorf("proxy OFFER carries %s", o)
		}
	}
	wantFrom := map[string]string{"config.txt": "nodes/" + macDir + "/config.txt", "start4.elf": "default/start4.elf"}
	for _, f := range res.Files {
		name := strings.TrimPrefix(f.Name, b.SerialHex()+"/")
		if f.Error != "" || f.SHA256 != tr.sums[wantFrom[name]] {
			t.Errorf("%s: error %q, sha256 %s; want the copy in %s", f.Name, f.Error, f.SHA256, wantFrom[name])
		}
	}
	t.Logf("Pi 4: address %s from dnsmasq in %.0f ms, %d files from rpi-tftpd by %.0f ms", res.IP, res.AddressMS, len(res.Files), res.LastByteMS)

	// PXE boot-server REQUEST on port 4011, from the board's address.
	conn := udpIn(t, bns, res.IP+":4011")
	req := b.Request(offer)
	req.Options.Del(dhcpv4.OptionServerIdentifier)
	req.Options.Del(dhcpv4.OptionRequestedIPAddress)
	req.ClientIPAddr = net.ParseIP(res.IP).To4()
	req.UpdateOption(dhcpv4.OptClassIdentifier(piboard.PXEVendorClass))
	buf := make([]byte, 1500)
	var nr int
	var from net.Addr
	for try := 1; ; try++ { // a PXE client retransmits, so the test may too
		if _, err := conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.ParseIP(n.ServerIP), Port: 4011}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if nr, from, err = conn.ReadFrom(buf); err == nil {
			if try > 1 {
				t.Logf("port-4011 REQUEST answered on try %d", try)
			}
			break
		}
		if try == 3 {
			t.Fatalf("no answer to 3 port-4011 REQUESTs at %s:4011: %v", res.IP, err)
		}
	}
	bs, err := dhcpv4.FromBytes(buf[:nr])
	if err != nil || bs.MessageType() != dhcpv4.MessageTypeAck || !bs.YourIPAddr.IsUnspecified() || bootfile(bs) != "start4.elf" {
		t.Errorf("port-4011 answer from %s: %v (err %v), want an ACK without address naming start4.elf", from, bs, err)
	}

	// A plain dhclient: a lease from dnsmasq, silence from us.
	dns, diface := n.AddClient(t, "dhclient")
	dmac := net.HardwareAddr{0x52, 0x54, 0x00, 0x71, 0x00, 0x01}
	if out, err := n.Run(t, dns, "ip", "link", "set", diface, "address", dmac.String()); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	stop := capture(t, n, dns, diface)
	env := runDhclient(t, n, dns, diface)
	pcap := stop()
	if env["new_dhcp_server_identifier"] != routerIP || !inRange(env["new_ip_address"], 100, 150) {
		t.Errorf("dhclient: lease %s from %s, want one from dnsmasq %s", env["new_ip_address"], env["new_dhcp_server_identifier"], routerIP)
	}
	fromUs, text := countPackets(t, pcap, "src host "+n.ServerIP+" and "+toChaddr(dmac))
	fromRouter, _ := countPackets(t, pcap, "src host "+routerIP+" and "+toChaddr(dmac))
	if fromUs != 0 {
		t.Errorf("our proxy sent %d packet(s) to the dhclient:\n%s", fromUs, text)
	}
	if fromRouter < 2 {
		_, all := countPackets(t, pcap, "")
		t.Errorf("capture holds %d dnsmasq packets to the dhclient, want OFFER and ACK (is the capture working?):\n%s", fromRouter, all)
	}
	t.Logf("dhclient capture: %d packets from dnsmasq, %d from our proxy", fromRouter, fromUs)

	// The piboard command's -proxy: two more Pi 4s (the same fleet a user
	// would start from a shell) boot the same way; without the flag they
	// refuse both OFFERs (no PXE options in dnsmasq's, no address in ours).
	out, err := n.Run(t, bns, harness.Build(t).Piboard, "-iface", biface, "-proxy", "-model", "pi4", "-n", "2",
		"-mac-seed", "72", "-interval", "2s", "-files", "config.txt,start4.elf", "-json")
	if err != nil {
		t.Fatalf("piboard -proxy: %v\n%s", err, out)
	}
	var cli struct {
		Boards []piboard.Result `json:"boards"`
	}
	if err := json.Unmarshal([]byte(out), &cli); err != nil || len(cli.Boards) != 2 {
		t.Fatalf("piboard -proxy -json: %v, %d boards\n%s", err, len(cli.Boards), out)
	}
	for _, r := range cli.Boards {
		if !r.OK() || !inRange(r.IP, 100, 150) || r.TFTPServer != n.ServerIP || len(r.Files) != 2 {
			t.Errorf("piboard -proxy board %s: error %q, address %s, TFTP from %s, %d files; want dnsmasq's range, %s, 2 files",
				r.MAC, r.Error, r.IP, r.TFTPServer, len(r.Files), n.ServerIP)
		}
	}
}

// inRange reports whether ip's last byte lies in [lo, hi].
func inRange(ip string, lo, hi int) bool {
	a := net.ParseIP(ip).To4()
	return a != nil && int(a[3]) >= lo && int(a[3]) <= hi
}

// udpIn opens a UDP socket bound to laddr inside namespace ns.
func udpIn(t *testing.T, ns, laddr string) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	err := harness.InNS(ns, func() error {
		a, err := net.ResolveUDPAddr("udp4", laddr)
		if err != nil {
			return err
		}
		conn, err = net.ListenUDP("udp4", a)
		return err
	})
	if err != nil {
		t.Fatalf("udp %s in %s: %v", laddr, ns, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
