package harness

import (
	"fmt"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// Servers are the two daemons of one Net, started on a rendered Config.
type Servers struct {
	DHCP, TFTP *Proc
	Cfg        Config

	net  *Net
	bins Bins
}

// StartServers starts coredhcp and rpi-tftpd with -c cfg.Path in n.NS and
// waits until UDP ports 67 and 69 are bound there; otherwise it fails the
// test with both logs.
func (n *Net) StartServers(t testing.TB, cfg Config) *Servers {
	t.Helper()
	bins := Build(t)
	s := &Servers{Cfg: cfg, net: n, bins: bins}
	s.DHCP = n.Start(t, n.NS, "coredhcp", bins.Coredhcp, "-c", cfg.Path)
	s.TFTP = n.Start(t, n.NS, "rpi-tftpd", bins.TFTPD, "-c", cfg.Path)
	s.waitBound(t, 67, s.DHCP)
	s.waitBound(t, 69, s.TFTP)
	return s
}

// RestartDHCP starts coredhcp again (after a test killed it with Kill9, or
// killing it first if it still runs) and waits for port 67.
func (s *Servers) RestartDHCP(t testing.TB) {
	t.Helper()
	if !s.DHCP.Exited() {
		s.DHCP.Kill9()
	}
	s.DHCP = s.net.Start(t, s.net.NS, "coredhcp", s.bins.Coredhcp, "-c", s.Cfg.Path)
	s.waitBound(t, 67, s.DHCP)
}

// waitBound polls `ss -lun` in the server namespace until port is bound.
func (s *Servers) waitBound(t testing.TB, port int, p *Proc) {
	t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`:%d\s`, port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("ip", "netns", "exec", s.net.NS, "ss", "-lunH").CombinedOutput()
		if err != nil {
			t.Fatalf("harness: ss in %s: %v: %s", s.net.NS, err, out)
		}
		if re.Match(out) {
			return
		}
		if p.Exited() || time.Now().After(deadline) {
			why := "exited"
			if !p.Exited() {
				why = "did not bind within 10 s"
			}
			t.Fatalf("harness: %s %s (UDP port %d)\n--- coredhcp log:\n%s\n--- rpi-tftpd log:\n%s",
				p.Name, why, port, s.DHCP.Log(), s.TFTP.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
