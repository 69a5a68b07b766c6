package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// NSPrefix starts the name of every namespace the harness creates; the
// creator's pid follows it so leftovers of dead runs can be told apart from
// namespaces of test processes still running in parallel.
const NSPrefix = "rnbt-"

// Net is one isolated test network: a server namespace holding bridge br0
// with ServerIP/24, plus every client namespace joined to it.
type Net struct {
	NS       string // server namespace name, unique, prefix "rnbt-"
	Bridge   string // "br0" inside NS, holds ServerIP/24
	Prefix   string // e.g. "10.77.12." (unique /24 per Net of this process)
	ServerIP string // Prefix+"1"
	Dir      string // t.TempDir() work dir: logs, state, tftp root

	mu      sync.Mutex
	nsList  []string // every namespace of this Net, server first
	procs   []*Proc
	clients int
	logSeq  map[string]int
}

var (
	netSeq       atomic.Int64
	leftoverOnce sync.Once
)

// NewNet creates the server namespace and its bridge. t.Cleanup stops every
// process started through the Net and deletes all its namespaces.
func NewNet(t testing.TB) *Net {
	t.Helper()
	requireRoot(t)
	leftoverOnce.Do(removeLeftovers)
	seq := netSeq.Add(1)
	n := &Net{
		NS:     fmt.Sprintf("%s%d-%d", NSPrefix, os.Getpid(), seq),
		Bridge: "br0",
		Prefix: fmt.Sprintf("10.77.%d.", seq%250+1),
		Dir:    t.TempDir(),
		logSeq: map[string]int{},
	}
	n.ServerIP = n.Prefix + "1"
	t.Cleanup(n.cleanup)
	n.addNS(t, n.NS)
	// The bridge gets a fixed MAC: left unset, Linux gives a bridge the
	// lowest MAC of its ports and changes it when a port with a lower one
	// joins, and a client that had resolved the server's address before
	// then sends to a MAC the server no longer answers to (its frames are
	// dropped as "other host") until its neighbour entry goes stale.
	n.must(t, "ip", "-n", n.NS, "link", "add", n.Bridge, "address", BridgeMAC(seq), "type", "bridge", "forward_delay", "0", "stp_state", "0")
	n.must(t, "ip", "-n", n.NS, "addr", "add", n.ServerIP+"/24", "dev", n.Bridge)
	n.must(t, "ip", "-n", n.NS, "link", "set", n.Bridge, "up")
	return n
}

// BridgeMAC is the fixed MAC of the seq-th Net's bridge (locally
// administered, unique per Net of a process).
func BridgeMAC(seq int64) string {
	return fmt.Sprintf("02:72:6e:62:%02x:%02x", byte(seq>>8), byte(seq))
}

// AddClient creates a client namespace joined to the bridge by a veth pair.
// The client end is called iface ("eth0"), is up and has no address.
func (n *Net) AddClient(t testing.TB, name string) (ns, iface string) {
	t.Helper()
	n.mu.Lock()
	n.clients++
	idx := n.clients
	n.mu.Unlock()
	ns = fmt.Sprintf("%s-c%d-%s", n.NS, idx, name)
	iface = "eth0"
	peer := fmt.Sprintf("vc%d", idx)
	n.addNS(t, ns)
	n.must(t, "ip", "-n", n.NS, "link", "add", peer, "type", "veth", "peer", "name", iface, "netns", ns)
	n.must(t, "ip", "-n", n.NS, "link", "set", peer, "master", n.Bridge, "up")
	n.must(t, "ip", "-n", ns, "link", "set", iface, "up")
	return ns, iface
}

// AddTap creates a tap in the server namespace enslaved to the bridge; QEMU,
// started in n.NS, attaches to it with -netdev tap,ifname=NAME,script=no,downscript=no.
func (n *Net) AddTap(t testing.TB, name string) string {
	t.Helper()
	if len(name) > 15 {
		t.Fatalf("harness: tap name %q longer than 15 bytes", name)
	}
	n.must(t, "ip", "-n", n.NS, "tuntap", "add", "dev", name, "mode", "tap")
	n.must(t, "ip", "-n", n.NS, "link", "set", name, "master", n.Bridge, "up")
	return name
}

// Run runs argv to completion inside ns (bounded to two minutes) and returns
// its combined output.
func (n *Net) Run(t testing.TB, ns string, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("run %s in %s: %w", strings.Join(argv, " "), ns, err)
	}
	return string(out), nil
}

func (n *Net) addNS(t testing.TB, ns string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("harness: ip netns add %s: %v: %s", ns, err, out)
	}
	n.mu.Lock()
	n.nsList = append(n.nsList, ns)
	n.mu.Unlock()
	n.must(t, "ip", "-n", ns, "link", "set", "lo", "up")
}

// must runs a setup command and fails the test with its output on error.
func (n *Net) must(t testing.TB, argv ...string) {
	t.Helper()
	// deps: forwarded
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("harness: %s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

// cleanup stops the processes first so none of them outlives its namespace,
// then kills anything else still inside the namespaces (daemonised clients
// such as dhclient) and deletes them, clients before the server.
func (n *Net) cleanup() {
	n.mu.Lock()
	procs := append([]*Proc(nil), n.procs...)
	nsList := append([]string(nil), n.nsList...)
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	for i := len(nsList) - 1; i >= 0; i-- {
		deleteNS(nsList[i])
	}
}

// deleteNS kills every process in ns and deletes it.
func deleteNS(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

var leftoverName = regexp.MustCompile(`^` + NSPrefix + `(\d+)-`)

// removeLeftovers deletes namespaces created by test processes that died
// before their cleanup ran (a killed `go test`), never those of live ones.
func removeLeftovers() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := leftoverName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if pid, err := strconv.Atoi(m[1]); err == nil && pid != os.Getpid() && !pidAlive(pid) {
			deleteNS(f[0])
		}
	}
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		// `make test` refuses to run without root, so this skip is only
		// ever seen by someone running the integration tier by hand.
		t.Skip("harness: needs root (network namespaces, ports 67/69): sudo make test (as root: make test)")
	}
	for _, b := range []string{"ip", "ss"} {
		if _, err := exec.LookPath(b); err != nil { // deps: ip ss
			t.Fatalf("harness: %s not found: install iproute2", b)
		}
	}
}
