//go:build integration

package harness

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A client joined to the bridge reaches the server address, processes are
// killed and namespaces deleted at cleanup.
func TestNetClientReachesServer(t *testing.T) {
	var n *Net
	var p *Proc
	ok := t.Run("net", func(t *testing.T) {
		n = NewNet(t)
		ns, iface := n.AddClient(t, "a")
		if out, err := n.Run(t, ns, "ip", "addr", "add", n.Prefix+"9/24", "dev", iface); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if out, err := n.Run(t, ns, "busybox", "ping", "-c1", "-W2", n.ServerIP); err != nil {
			t.Fatalf("client cannot reach server: %v: %s", err, out)
		}
		n.AddTap(t, "tap0")
		p = n.Start(t, n.NS, "sleeper", "sh", "-c", "echo started; exec sleep 600")
		time.Sleep(100 * time.Millisecond)
		if !strings.Contains(p.Log(), "started") {
			t.Fatalf("log = %q, want the process output", p.Log())
		}
	})
	if !ok {
		return
	}
	if !p.Exited() {
		t.Errorf("process still running after cleanup")
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.NS) {
		t.Errorf("namespaces left after cleanup:\n%s", out)
	}
}

// Proc.Wait reports a timeout for a live process and the exit status after.
func TestProcWait(t *testing.T) {
	n := NewNet(t)
	p := n.Start(t, n.NS, "false", "sh", "-c", "sleep 0.3; exit 3")
	if err := p.Wait(50 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Wait on a running process = %v, want a timeout", err)
	}
	if err := p.Wait(5 * time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
}

// Namespaces of a dead creator are removed, those of a live one are kept.
func TestRemoveLeftovers(t *testing.T) {
	dead := NSPrefix + "999999999-1" // beyond pid_max, so never alive
	if out, err := exec.Command("ip", "netns", "add", dead).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", dead).Run() })
	n := NewNet(t) // keeps its own namespace alive during the sweep
	removeLeftovers()
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), dead) {
		t.Errorf("leftover %s not removed", dead)
	}
	if !strings.Contains(string(out), n.NS) {
		t.Errorf("live namespace %s removed", n.NS)
	}
}

// The server's MAC never changes as clients join: Linux would otherwise give
// the bridge the lowest MAC of its ports, and a client that resolved the
// server before a lower one joined sends into the void until its neighbour
// entry goes stale (that made the proxyDHCP test's second round of boards
// time out now and then).
func TestBridgeMACStaysPut(t *testing.T) {
	n := NewNet(t)
	mac := func() string {
		out, err := n.Run(t, n.NS, "cat", "/sys/class/net/"+n.Bridge+"/address")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	first := mac()
	for i := 0; i < 8; i++ { // random veth MACs: some are lower than any before
		n.AddClient(t, fmt.Sprintf("c%d", i))
		if got := mac(); got != first {
			t.Fatalf("bridge MAC changed from %s to %s when client %d joined", first, got, i)
		}
	}
	if !strings.HasPrefix(first, "02:72:6e:62:") {
		t.Errorf("bridge MAC %s is not the harness's fixed one", first)
	}
}
