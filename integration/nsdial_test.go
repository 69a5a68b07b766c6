//go:build integration

package integration

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// udpInNS opens a UDP socket bound to laddr inside ns.
func udpInNS(t *testing.T, ns, laddr string) *net.UDPConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp4", laddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := harness.ListenUDP(ns, a)
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
