package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inNetNS runs fn on a thread switched into namespace ns, then switches
// the thread back; sockets fn opens stay in ns. Switching back matters: the
// goroutine may run on the main thread, whose namespace is what
// `ip netns pids` reports for the whole test process, and the harness
// kills every process it finds in a namespace it deletes. If the switch
// back fails the thread stays locked and dies with the goroutine.
func inNetNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// udpInNS opens a UDP socket bound to laddr inside ns.
func udpInNS(t *testing.T, ns, laddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := inNetNS(ns, func() error {
		a, err := net.ResolveUDPAddr("udp4", laddr)
		if err != nil {
			return err
		}
		c, err = net.ListenUDP("udp4", a)
		return err
	})
	if err != nil {
		t.Fatalf("udp socket in %s: %v", ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getInNS fetches url with curl inside ns (the daemons' metrics listen on
// the namespace's loopback) and returns the HTTP status and body.
func getInNS(t *testing.T, ns, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "curl", "-sS", "-m", "8", "-w", "\n%{http_code}", url).CombinedOutput()
	if err != nil {
		t.Fatalf("GET %s in %s: %v\n%s", url, ns, err, out)
	}
	last := strings.LastIndexByte(string(out), '\n')
	status, _ := strconv.Atoi(string(out[last+1:]))
	return status, string(out[:last])
}

// metricValue returns the value of the exposition line starting with
// series (name plus labels exactly as printed), or -1 when absent.
func metricValue(body, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}
