package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/pgserver"
)

// server is one contestant: how to start it in a fresh testbed and which
// workloads it takes part in.
type server struct {
	Name   string // row label
	Ours   bool   // rpinetboot (ratios compare ours with the best peer)
	DHCP   bool   // in the perfdhcp rate runs
	Storm  bool   // in the boot storms (serves TFTP too)
	Config string // one line for the report: what was configured
	// start runs the server's processes in tb's server namespace, with
	// tftpRoot (the firmware set, prepared by the caller) when Storm.
	start func(s *scope, tb *testbed, tftpRoot string) []*harness.Proc
}

// servers lists every contestant in report order.
func servers() []server {
	return []server{
		{Name: "rpinetboot", Ours: true, DHCP: true, Storm: true,
			Config: "config.yml.example: rpipxe, modelboot, macpin on SQLite (WAL, fsync) on disk; rpi-tftpd defaults",
			start:  func(s *scope, tb *testbed, root string) []*harness.Proc { return startOurs(s, tb, root, "") }},
		{Name: "rpinetboot-tmpfs", Ours: true, DHCP: true,
			Config: "as rpinetboot, macpin store on tmpfs (/dev/shm): pins not durable across power loss",
			start: func(s *scope, tb *testbed, root string) []*harness.Proc {
				d, err := os.MkdirTemp("/dev/shm", "rnbt-bench-")
				if err != nil {
					s.Fatalf("tmpfs store: %v", err)
				}
				s.Cleanup(func() { os.RemoveAll(d) })
				return startOurs(s, tb, root, filepath.Join(d, "nodes.db"))
			}},
		{Name: "rpinetboot-postgres", Ours: true, DHCP: true,
			Config: "as rpinetboot, macpin store on a local PostgreSQL 15 cluster (unix socket, synchronous_commit on; the active/active backend)",
			start: func(s *scope, tb *testbed, root string) []*harness.Proc {
				pg := pgserver.Start(s)
				return startOurs(s, tb, root, pg.NewDatabase(s)) // NewDatabase returns its DSN
			}},
		{Name: "kea-memfile", DHCP: true,
			Config: "kea-dhcp4, raw socket, memfile lease database persisted to a CSV file",
			start:  startKea},
		{Name: "isc-dhcpd", DHCP: true, Storm: true,
			Config: "dhcpd -4 with the seed's rpi-pxe class, leases file; TFTP: in.tftpd -L -s -u tftp (tftpd-hpa defaults)",
			start:  startISC},
		{Name: "dnsmasq", DHCP: true, Storm: true,
			Config: "Foundation recipe: pxe-service=0,\"Raspberry Pi Boot\", enable-tftp, tftp-root; dhcp-lease-max=65536, no-ping, dhcp-broadcast",
			start:  func(s *scope, tb *testbed, root string) []*harness.Proc { return startDnsmasq(s, tb, root, 0) }},
		{Name: "dnsmasq-tftpmax", Storm: true,
			Config: "as dnsmasq with tftp-max=1000 (default 50)",
			start:  func(s *scope, tb *testbed, root string) []*harness.Proc { return startDnsmasq(s, tb, root, 1000) }},
	}
}

// startOurs renders config.yml.example through the harness (the file users
// copy), widens it to the benchmark's /16 pool, points rpi-tftpd at root
// and, if store is set, moves macpin's store there.
func startOurs(s *scope, tb *testbed, root, store string) []*harness.Proc {
	cfg := tb.net.RenderConfig(s)
	b, err := os.ReadFile(cfg.Path)
	if err != nil {
		s.Fatalf("read rendered config: %v", err)
	}
	text := string(b)
	// The benchmark pins every client (perfdhcp's random MACs too: the
	// figure is durable pins per second), so the example's pin=netboot and
	// its range stanza for other clients go.
	pin := "- macpin: " + cfg.StorePath + " 10.99.0.100 10.99.0.199 1h pin=netboot"
	rng := "- range: " + filepath.Join(cfg.StateDir, "leases.db") + " 10.99.0.200 10.99.0.250 1h\n"
	if !strings.Contains(text, pin) || !strings.Contains(text, rng) {
		s.Fatalf("rendered config lacks %q or %q: config.yml.example changed, update bench/servers.go", pin, rng)
	}
	text = strings.Replace(text, rng, "", 1)
	if store == "" {
		store = cfg.StorePath
	}
	line := fmt.Sprintf("- macpin: %s %s %s %ds", store, tb.pool[0].First, tb.pool[0].Last, leaseSecs)
	for _, r := range tb.pool[1:] {
		line += fmt.Sprintf(" range=%s-%s", r.First, r.Last)
	}
	text = strings.Replace(text, pin, line, 1)
	text = strings.Replace(text, "- netmask: 255.255.255.0", "- netmask: "+netmask, 1)
	if root != "" {
		text = strings.Replace(text, "root: "+cfg.TFTPRoot, "root: "+root, 1)
	}
	text = strings.Replace(text, "store: "+cfg.StorePath, "store: "+store, 1)
	if err := os.WriteFile(cfg.Path, []byte(text), 0o644); err != nil {
		s.Fatalf("write config: %v", err)
	}
	if tb.prof != nil {
		return []*harness.Proc{
			tb.prof.start(s, tb, "coredhcp", tb.prof.bins.Coredhcp, cfg.Path, 67),
			tb.prof.start(s, tb, "rpi-tftpd", tb.prof.bins.TFTPD, cfg.Path, 69),
		}
	}
	srv := tb.net.StartServers(s, cfg)
	return []*harness.Proc{srv.DHCP, srv.TFTP}
}

// iscConf is dhcpd.conf for the /16 with the seed's (WalT's) rpi-pxe class,
// widened from the Pi 3 OUI to any PXEClient so Pi 4 boards match too.
const iscConf = `# rpinetboot bench: isc-dhcpd
authoritative;
ddns-update-style none;
ping-check false;
default-lease-time %[1]d;
max-lease-time %[1]d;
class "rpi-pxe" {
  match if substring(option vendor-class-identifier, 0, 9) = "PXEClient";
  option vendor-class-identifier "PXEClient";
  option vendor-encapsulated-options "Raspberry Pi Boot";
}
subnet 10.99.0.0 netmask %[2]s {
%[3]s  option routers %[4]s;
  option subnet-mask %[2]s;
  next-server %[4]s;
}
`

func startISC(s *scope, tb *testbed, root string) []*harness.Proc {
	dir := s.TempDir()
	conf := filepath.Join(dir, "dhcpd.conf")
	leases := filepath.Join(dir, "dhcpd.leases")
	var ranges string
	for _, r := range tb.pool {
		ranges += fmt.Sprintf("  range %s %s;\n", r.First, r.Last)
	}
	write(s, conf, fmt.Sprintf(iscConf, leaseSecs, netmask, ranges, serverIP))
	write(s, leases, "")
	n := tb.net
	d := n.Start(s, n.NS, "dhcpd", "/usr/sbin/dhcpd", "-4", "-f", "-d", "-cf", conf, "-lf", leases,
		"-pf", filepath.Join(dir, "dhcpd.pid"), n.Bridge)
	waitUDP(s, n.NS, 67, d)
	procs := []*harness.Proc{d}
	if root != "" {
		t := n.Start(s, n.NS, "in.tftpd", "/usr/sbin/in.tftpd", "-L", "-s", "-u", "tftp",
			"-a", serverIP+":69", root)
		waitUDP(s, n.NS, 69, t)
		procs = append(procs, t)
	}
	return procs
}

// startDnsmasq runs the Foundation's dnsmasq recipe for Pi netboot. The
// pool is widened to the /16 (dhcp-lease-max defaults to 1,000 leases);
// --no-ping spares every new client the 3-s ICMP probe (the faster choice
// for dnsmasq); --dhcp-broadcast because a unicast reply makes dnsmasq pin
// the board's MAC in its ARP cache, and the simulated boards share their
// interface's MAC for IP (see integration/piboard/README.md).
func startDnsmasq(s *scope, tb *testbed, root string, tftpMax int) []*harness.Proc {
	dir := s.TempDir()
	n := tb.net
	argv := []string{"dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground", "--user=root", "--port=0",
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"),
		"--interface=" + n.Bridge, "--bind-interfaces", "--no-ping", "--dhcp-broadcast", "--log-facility=-",
		"--dhcp-lease-max=65536"}
	for _, r := range tb.pool {
		argv = append(argv, fmt.Sprintf("--dhcp-range=%s,%s,%s,%ds", r.First, r.Last, netmask, leaseSecs))
	}
	argv = append(argv,
		"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"),
		"--pxe-service=0,Raspberry Pi Boot")
	if root != "" {
		argv = append(argv, "--enable-tftp", "--tftp-root="+root)
		if tftpMax > 0 {
			argv = append(argv, fmt.Sprintf("--tftp-max=%d", tftpMax))
		}
	}
	// deps: dnsmasq
	p := n.Start(s, n.NS, "dnsmasq", argv...)
	waitUDP(s, n.NS, 67, p)
	if root != "" {
		waitUDP(s, n.NS, 69, p)
	}
	return []*harness.Proc{p}
}

// keaConf is kea-dhcp4's configuration: the same /16 pool and lease time,
// memfile leases persisted to a CSV file (Kea's default backend).
const keaConf = `{"Dhcp4": {
  "interfaces-config": {"interfaces": ["%[1]s"], "dhcp-socket-type": "raw"},
  "lease-database": {"type": "memfile", "persist": true, "name": "%[2]s", "lfc-interval": 3600},
  "valid-lifetime": %[3]d,
  "subnet4": [{"id": 1, "subnet": "%[4]s",
    "pools": [%[5]s],
    "option-data": [{"name": "routers", "data": "%[6]s"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}]
}}
`

func startKea(s *scope, tb *testbed, _ string) []*harness.Proc {
	dir := s.TempDir()
	conf := filepath.Join(dir, "kea-dhcp4.conf")
	var pools []string
	for _, r := range tb.pool {
		pools = append(pools, fmt.Sprintf(`{"pool": "%s - %s"}`, r.First, r.Last))
	}
	write(s, conf, fmt.Sprintf(keaConf, tb.net.Bridge, filepath.Join(dir, "leases4.csv"), leaseSecs,
		subnetCIDR, strings.Join(pools, ", "), serverIP))
	n := tb.net
	// Kea's pid and lock files go where these say, not under /run.
	p := n.Start(s, n.NS, "kea-dhcp4", "env", "KEA_PIDFILE_DIR="+dir, "KEA_LOCKFILE_DIR="+dir,
		"/usr/sbin/kea-dhcp4", "-c", conf)
	waitUDP(s, n.NS, 67, p)
	return []*harness.Proc{p}
}

func write(s *scope, path, text string) {
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		s.Fatalf("write %s: %v", path, err)
	}
}
