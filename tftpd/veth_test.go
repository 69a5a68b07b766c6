package tftpd

import (
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenIn opens a UDP socket inside network namespace ns; the socket stays
// there whatever thread later uses it.
func listenIn(t *testing.T, ns string, laddr *net.UDPAddr) *net.UDPConn {
	t.Helper()
	type result struct {
		conn *net.UDPConn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: a thread left in another namespace dies with the goroutine
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		c, err := net.ListenUDP("udp4", laddr)
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.conn
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestVethMTUClamp runs the daemon in one namespace and a client in another,
// joined by a veth pair with the Ethernet MTU: a blksize beyond the link
// (U-Boot may ask for more than 1468) is clamped to 1468 so no block
// fragments, the EEPROM's 1024 is kept, and files arrive intact.
func TestVethMTUClamp(t *testing.T) {
	bin, err := buildDaemon()
	if err != nil {
		t.Fatal(err)
	}
	srvNS, cliNS := newNetns(t), newNetns(t)
	run(t, "ip", "-n", srvNS, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", cliNS)
	run(t, "ip", "-n", srvNS, "addr", "add", "10.77.0.1/24", "dev", "v0")
	run(t, "ip", "-n", srvNS, "link", "set", "v0", "mtu", "1500", "up")
	run(t, "ip", "-n", cliNS, "addr", "add", "10.77.0.2/24", "dev", "v1")
	run(t, "ip", "-n", cliNS, "link", "set", "v1", "mtu", "1500", "up")

	dir := t.TempDir()
	want := randomFile(t, filepath.Join(dir, "tftp", "default", "kernel8.img"), 1<<20+3)
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("rpi-tftpd:\n  listen: 10.77.0.1:69\n  root: %s\n", filepath.Join(dir, "tftp"))), 0o644)
	var logs syncBuffer
	cmd := exec.Command("ip", "netns", "exec", srvNS, bin, "-c", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("rpi-tftpd log:\n%s", logs.String())
		}
	})
	if !waitFor(10*time.Second, func() bool { return strings.Contains(logs.String(), "serving TFTP") }) {
		t.Fatalf("rpi-tftpd did not start:\n%s", logs.String())
	}

	for _, tc := range []struct{ ask, want string }{{"8192", "1468"}, {"1468", "1468"}, {"1024", "1024"}} {
		c := &testClient{
			conn:    listenIn(t, cliNS, &net.UDPAddr{IP: net.IPv4(10, 77, 0, 2)}),
			server:  &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 69},
			timeout: 2 * time.Second, tids: map[int]bool{},
		}
		got, oack, err := c.get("kernel8.img", 0, "tsize", "0", "blksize", tc.ask)
		c.close()
		if err != nil {
			t.Fatalf("blksize %s over veth: %v", tc.ask, err)
		}
		if oack["blksize"] != tc.want {
			t.Errorf("asked blksize %s on a 1500-byte link: OACK %s, want %s", tc.ask, oack["blksize"], tc.want)
		}
		if sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("blksize %s: content differs", tc.ask)
		}
	}
}
