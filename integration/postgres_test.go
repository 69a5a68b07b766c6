//go:build integration

package integration

import (
	"context"
	"fmt"
	gonet "net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/pgserver"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// Two coredhcp servers on one segment share a PostgreSQL store
// (active/active). 500 DISCOVER-only Pi 3 boards power on; both servers
// answer every broadcast; one server is SIGKILLed mid-storm. Every board ends
// with exactly one address (every OFFER it ever saw, from either server,
// carries the same one), no address has two MACs, every pin is in
// PostgreSQL, and the survivor, then both again, keep answering the same.
// Then: rpinetctl on the second host lists the pins, rpi-tftpd on the second
// host renders files for boards the first server pinned, and with the
// database down known boards are still answered, new ones refused until it
// returns, then pinned without a restart.
func TestPostgresActiveActiveSurvivesKill9(t *testing.T) {
	const n = 500
	pg := pgserver.Start(t)
	dsn := pg.NewDatabase(t)
	net := harness.NewNet(t)
	cfg := net.RenderConfig(t)
	widePool(t, net, cfg)
	rewriteConfig(t, cfg, "macpin: "+cfg.StorePath+" ", "macpin: "+dsn+" ")
	rewriteConfig(t, cfg, "store: "+cfg.StorePath+" ", "store: "+dsn+" ")
	bins := harness.Build(t)

	// The servers take addresses in the boards' wide subnet, so boards that
	// go on to TFTP (below) can reach whichever server they chose. Server B
	// is a second host on the segment: its own namespace joined to the
	// bridge, its own address and server identifier.
	serverA, serverB := "172.20.31.251", "172.20.31.252"
	if out, err := net.Run(t, net.NS, "ip", "addr", "add", serverA+"/19", "dev", net.Bridge); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	rewriteConfig(t, cfg, "server_id: "+net.ServerIP, "server_id: "+serverA)
	rewriteConfig(t, cfg, "listen: "+net.ServerIP+":69", "listen: "+serverA+":69")
	nsB, ifB := net.AddClient(t, "srvb")
	if out, err := net.Run(t, nsB, "ip", "addr", "add", serverB+"/19", "dev", ifB); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	text, err := os.ReadFile(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	textB := strings.Replace(string(text), "server_id: "+serverA, "server_id: "+serverB, 1)
	textB = strings.Replace(textB, `"%`+net.Bridge+`"`, `"%`+ifB+`"`, 1)
	textB = strings.Replace(textB, "listen: "+serverA+":69", "listen: "+serverB+":69", 1)
	if textB == string(text) {
		t.Fatal("config.yml.example changed: cannot derive server B's config")
	}
	cfgB := strings.TrimSuffix(cfg.Path, ".yml") + "-b.yml"
	if err := os.WriteFile(cfgB, []byte(textB), 0o644); err != nil {
		t.Fatal(err)
	}
	startA := func() *harness.Proc {
		p := net.Start(t, net.NS, "coredhcp-a", bins.Coredhcp, "-c", cfg.Path)
		waitPort67(t, net.NS, p)
		return p
	}
	a := startA()
	b := net.Start(t, nsB, "coredhcp-b", bins.Coredhcp, "-c", cfgB)
	waitPort67(t, nsB, b)
	procs := []*harness.Proc{a, b}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procs {
				t.Logf("%s log (tail):\n%s", p.Name, tail(p.Log(), 30))
			}
		}
	})

	ns, iface := net.AddClient(t, "boards")
	link, err := piboard.OpenLink(ns, iface)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	boards, err := piboard.Fleet("pi3", n, 90)
	if err != nil {
		t.Fatal(err)
	}
	// A second socket on the boards' wire records every OFFER from
	// either server, including those the boards ignore.
	seen := sniffOffers(t, ns, iface, boards)

	o := piboard.Options{NS: ns, Iface: iface, DHCPOnly: true, Discovers: 20, RetryInterval: 500 * time.Millisecond}
	// Power-on spread over 2 s, so most boards start after the kill.
	storm := o
	storm.Spread = 2 * time.Second
	offered := make(chan struct{}, n)
	storm.OnAddress = func(piboard.Board, netip.Addr) { offered <- struct{}{} }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan []piboard.Result)
	go func() { done <- link.Run(ctx, storm, boards) }()
	for i := 0; i < n/4; i++ {
		select {
		case <-offered:
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d OFFERs in 30 s", i)
		}
	}
	a.Kill9()
	killAt := time.Now()
	rs := <-done
	before := 0
	for _, r := range rs {
		if !r.OK() {
			t.Errorf("%s: %s", r.MAC, r.Error)
		}
		if r.OK() && r.OfferAt.Before(killAt) {
			before++
		}
	}
	t.Logf("storm: %d of %d boards got an address, %d before server A was killed (%s)", countOK(rs), n, before, retries(rs))
	if before == 0 || before > n/2 {
		t.Errorf("%d OFFERs before the kill: the kill did not land mid-storm", before)
	}

	// The survivor alone answers every board with the same address.
	again := link.Run(ctx, o, boards)
	for i := range again {
		if again[i].IP != rs[i].IP {
			t.Errorf("%s: %s in the storm, %q from server B alone", rs[i].MAC, rs[i].IP, again[i].IP)
		}
	}

	// Server A comes back (from the shared store, no state of its own)
	// and both answer again.
	a = startA()
	procs = append(procs, a)
	both := link.Run(ctx, o, boards)
	for i := range both {
		if both[i].IP != rs[i].IP {
			t.Errorf("%s: %s in the storm, %q with both servers back", rs[i].MAC, rs[i].IP, both[i].IP)
		}
	}
	time.Sleep(200 * time.Millisecond) // late OFFERs of the last round

	// Every OFFER either server ever sent a board carried one address.
	servers := map[string]bool{}
	for i, bd := range boards {
		addrs := seen.addrs(bd.MAC.String())
		if len(addrs) != 1 || addrs[0] != rs[i].IP {
			t.Errorf("%s was offered %v on the wire, want only %s", bd.MAC, addrs, rs[i].IP)
		}
		for _, s := range seen.servers(bd.MAC.String()) {
			servers[s] = true
		}
	}
	if !servers[serverA] || !servers[serverB] {
		t.Errorf("OFFERs came from %v, want both %s and %s", servers, serverA, serverB)
	}

	// PostgreSQL holds exactly these pins, one owner per address.
	st, err := store.Open(dsn, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nodes, err := st.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byIP, byMAC := map[netip.Addr]string{}, map[string]string{}
	for _, nd := range nodes {
		if prev, dup := byIP[nd.IP]; dup {
			t.Errorf("store: %s pinned to %s and %s", nd.IP, prev, nd.MAC)
		}
		byIP[nd.IP], byMAC[nd.MAC.String()] = nd.MAC.String(), nd.IP.String()
	}
	for _, r := range rs {
		if r.OK() && byMAC[r.MAC] != r.IP {
			t.Errorf("store pins %s to %q, it was offered %s", r.MAC, byMAC[r.MAC], r.IP)
		}
	}
	if len(nodes) != n {
		t.Errorf("store holds %d pins, want %d", len(nodes), n)
	}
	t.Logf("%d pins in PostgreSQL; OFFERs seen from %d servers", len(nodes), len(servers))

	// rpinetctl on host B finds the store in its config and lists them.
	out, err := net.Run(t, nsB, bins.Ctl, "-c", cfgB, "nodes", "list", "--json")
	if err != nil {
		t.Fatalf("rpinetctl nodes list on host B: %v\n%s", err, tail(out, 5))
	}
	if c := strings.Count(out, `"mac"`); c != n {
		t.Errorf("rpinetctl on host B lists %d nodes, want %d", c, n)
	}

	// rpi-tftpd on either host sees nodes whichever server pinned them:
	// Pi 4 boards (DORA, then TFTP from the server they chose) get a
	// cmdline.txt rendered with the model their DISCOVER was pinned with.
	tftpA := net.Start(t, net.NS, "rpi-tftpd-a", bins.TFTPD, "-c", cfg.Path)
	tftpB := net.Start(t, nsB, "rpi-tftpd-b", bins.TFTPD, "-c", cfgB)
	procs = append(procs, tftpA, tftpB)
	waitPort(t, net.NS, 69, tftpA)
	waitPort(t, nsB, 69, tftpB)
	// piboard puts each board address in a /24; the servers sit in the
	// pool's /19, so give the boards' namespace the on-link route.
	if out, err := net.Run(t, ns, "ip", "route", "add", "172.20.0.0/19", "dev", iface); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	pi4s, _ := piboard.Fleet("pi4", 8, 91)
	full := piboard.Options{NS: ns, Iface: iface, Discovers: 10, RetryInterval: 500 * time.Millisecond,
		Files: []string{"cmdline.txt"}, KeepData: true}
	bootPi4s := func(round string) map[string]int {
		from := map[string]int{}
		for _, r := range link.Run(ctx, full, pi4s) {
			if !r.OK() {
				t.Errorf("%s: Pi 4 %s did not fetch cmdline.txt: %s", round, r.MAC, r.Error)
				continue
			}
			from[r.TFTPServer]++
			if got := string(r.Files[0].Data); !strings.Contains(got, "/rpi-4-b,vers=3") {
				t.Errorf("%s: Pi 4 %s got cmdline.txt from %s without its model: %q", round, r.MAC, r.TFTPServer, got)
			}
		}
		t.Logf("%s: Pi 4 boards fetched cmdline.txt from %v", round, from)
		return from
	}
	bootPi4s("both servers up")

	// With server A's coredhcp gone, storm boards that server A pinned
	// boot through host B, whose rpi-tftpd must find A's pins.
	a.Kill9()
	pinnedByA := map[string]bool{}
	for _, m := range regexp.MustCompile(`msg="new pin".* mac="([0-9a-f:]+)"`).FindAllStringSubmatch(procs[0].Log(), -1) {
		pinnedByA[m[1]] = true
	}
	var fromA []piboard.Board
	for _, bd := range boards {
		if pinnedByA[bd.MAC.String()] && len(fromA) < 8 {
			fromA = append(fromA, bd)
		}
	}
	if len(fromA) == 0 {
		t.Fatalf("server A's log shows no new pin of a storm board")
	}
	for _, r := range link.Run(ctx, full, fromA) {
		if !r.OK() || r.TFTPServer != serverB {
			t.Errorf("Pi 3 %s pinned by server A, A down: %s from %q", r.MAC, r.Error, r.TFTPServer)
			continue
		}
		if got := string(r.Files[0].Data); !strings.Contains(got, "/rpi-3-b-plus,vers=3") {
			t.Errorf("Pi 3 %s pinned by server A got cmdline.txt from host B without its model: %q", r.MAC, got)
		}
	}
	t.Logf("%d storm boards pinned by server A fetched cmdline.txt from host B with their model", len(fromA))

	// The database goes down: server B still answers known boards (also
	// those server A pinned) from memory, refuses new ones, and pins them
	// by itself once the database is back.
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	known := link.Run(ctx, o, boards[:50])
	for i, r := range known {
		if r.IP != rs[i].IP {
			t.Errorf("database down: known %s got %q, want %s", r.MAC, r.IP, rs[i].IP)
		}
	}
	newcomers, _ := piboard.Fleet("pi3", 10, 92)
	brief := o
	brief.Discovers = 3
	for _, r := range link.Run(ctx, brief, newcomers) {
		if r.OK() {
			t.Errorf("database down: new board %s was offered %s", r.MAC, r.IP)
		}
	}
	if err := pg.StartAgain(); err != nil {
		t.Fatal(err)
	}
	back := link.Run(ctx, o, newcomers)
	for _, r := range back {
		if !r.OK() {
			t.Errorf("database back: new board %s: %s", r.MAC, r.Error)
		} else if nd, err := st.Node(context.Background(), mustMAC(t, r.MAC)); err != nil || nd.IP.String() != r.IP {
			t.Errorf("database back: %s offered %s, store has %+v (%v)", r.MAC, r.IP, nd, err)
		}
	}
	t.Logf("database outage: %d known boards answered, new boards pinned after recovery (%s)", countOK(known), retries(back))
	if !strings.Contains(b.Log(), "commit of new pins failed") {
		t.Errorf("server B logged no refused pin during the outage")
	}
}

func mustMAC(t *testing.T, s string) gonet.HardwareAddr {
	t.Helper()
	m, err := gonet.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitPort67 waits until p has bound UDP port 67 in ns, failing with its log.
func waitPort67(t *testing.T, ns string, p *harness.Proc) { t.Helper(); waitPort(t, ns, 67, p) }

// waitPort waits until p has bound UDP port in ns, failing with its log.
func waitPort(t *testing.T, ns string, port int, p *harness.Proc) {
	t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`:%d\s`, port))
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if p.Exited() {
			t.Fatalf("%s exited:\n%s", p.Name, p.Log())
		}
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-lunH").Output()
		if re.Match(out) {
			return
		}
	}
	t.Fatalf("%s did not bind port %d in 15 s:\n%s", p.Name, port, p.Log())
}

// offerLog is every OFFER seen on the wire per board MAC.
type offerLog struct {
	mu  sync.Mutex
	ips map[string]map[string]bool // mac -> yiaddr
	sid map[string]map[string]bool // mac -> server identifier
}

func (l *offerLog) addrs(mac string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for a := range l.ips[mac] {
		out = append(out, a)
	}
	return out
}

func (l *offerLog) servers(mac string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for s := range l.sid[mac] {
		out = append(out, s)
	}
	return out
}

// sniffOffers opens its own link on iface and records every OFFER for boards.
func sniffOffers(t *testing.T, ns, iface string, boards []piboard.Board) *offerLog {
	t.Helper()
	l, err := piboard.OpenLink(ns, iface)
	if err != nil {
		t.Fatal(err)
	}
	log := &offerLog{ips: map[string]map[string]bool{}, sid: map[string]map[string]bool{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, b := range boards {
		mac := b.MAC.String()
		log.ips[mac], log.sid[mac] = map[string]bool{}, map[string]bool{}
		ch := l.Subscribe(b.MAC)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case r := <-ch:
					if r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
						continue
					}
					log.mu.Lock()
					log.ips[mac][r.Msg.YourIPAddr.String()] = true
					log.sid[mac][fmt.Sprint(r.Msg.ServerIdentifier())] = true
					log.mu.Unlock()
				case <-stop:
					return
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait(); l.Close() })
	return log
}
