//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/events"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// hookReceiver is an HTTP server on the loopback of the server namespace
// (where coredhcp runs) that records every POST; fail makes it answer 500.
type hookReceiver struct {
	URL  string
	mu   sync.Mutex
	got  []received
	fail bool
}

type received struct {
	at    time.Time
	event events.Event
	raw   string
}

func newHookReceiver(t *testing.T, ns string, fail bool) *hookReceiver {
	t.Helper()
	var ln net.Listener
	if err := harness.InNS(ns, func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	h := &hookReceiver{URL: "http://" + ln.Addr().String() + "/hook", fail: fail}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var ev events.Event
	json.Unmarshal(b, &ev)
	h.mu.Lock()
	h.got = append(h.got, received{at: time.Now(), event: ev, raw: string(b)})
	h.mu.Unlock()
	if h.fail || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "no", http.StatusInternalServerError)
	}
}

func (h *hookReceiver) posts() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

// hookScript writes an executable shell script into dir.
func hookScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// withMacpinOptions appends options to the example's macpin stanza.
func withMacpinOptions(opts ...string) func(*testing.T, *harness.Net, harness.Config) {
	return func(t *testing.T, n *harness.Net, cfg harness.Config) {
		old := fmt.Sprintf("%s.db %s100 %s199 1h", filepath.Join(cfg.StateDir, "nodes"), n.Prefix, n.Prefix)
		rewriteConfig(t, cfg, old, old+" "+strings.Join(opts, " "))
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// A new Pi pinned by macpin runs the on-new hook exactly once,
// with its facts in the environment (the example hook then creates its
// nodes/<mac>/ directory), and POSTs the same facts as JSON to on-new-url;
// its retransmitted DISCOVER, its REQUEST and a later DISCOVER fire nothing.
func TestNewPinRunsHookOnce(t *testing.T) {
	dir := t.TempDir()
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var recv *hookReceiver
	var hook string
	r := newBootRig(t, func(t *testing.T, n *harness.Net, cfg harness.Config) {
		recv = newHookReceiver(t, n.NS, false)
		hook = hookScript(t, dir, "hook.sh", fmt.Sprintf("{ env | grep '^RPINETBOOT_' | sort; echo ---; } >> %s/runs\nRPINETBOOT_TFTP_ROOT=%s exec %s",
			dir, cfg.TFTPRoot, filepath.Join(repo, "examples", "hooks", "new-node.sh")))
		withMacpinOptions("on-new="+hook, "on-new-url="+recv.URL)(t, n, cfg)
	})
	b := piboard.NewBoard(piboard.Pi4, 81, 1)
	offer := r.exchange(t, b.Discover())
	r.exchange(t, b.Discover()) // a retransmit
	if ack := r.exchange(t, b.Request(offer)); ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("REQUEST got %s", ack.MessageType())
	}
	runs := func() string { s, _ := os.ReadFile(filepath.Join(dir, "runs")); return string(s) }
	waitFor(t, 10*time.Second, "the hook and the POST", func() bool { return strings.Contains(runs(), "---") && len(recv.posts()) > 0 })
	r.exchange(t, b.Discover()) // a known MAC, later
	time.Sleep(time.Second)
	if n := strings.Count(runs(), "---"); n != 1 {
		t.Fatalf("hook ran %d times, want exactly 1:\n%s", n, runs())
	}
	env := map[string]string{}
	for _, l := range strings.Split(runs(), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	want := map[string]string{
		"RPINETBOOT_EVENT": "new-node", "RPINETBOOT_SOURCE": "macpin", "RPINETBOOT_MAC": b.MAC.String(),
		"RPINETBOOT_IP": offer.YourIPAddr.String(), "RPINETBOOT_MODEL": "rpi-4-b", "RPINETBOOT_SERIAL": b.SerialHex(),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("hook environment %s=%q, want %q", k, env[k], v)
		}
	}
	posts := recv.posts()
	if len(posts) != 1 {
		t.Fatalf("%d POSTs, want 1", len(posts))
	}
	ev := posts[0].event
	if ev.Kind != "new-node" || ev.MAC != b.MAC.String() || ev.IP != offer.YourIPAddr.String() || ev.Model != "rpi-4-b" || ev.Serial != b.SerialHex() {
		t.Errorf("POSTed %s, want the facts of %s at %s", posts[0].raw, b.MAC, offer.YourIPAddr)
	}
	nodeEnv, err := os.ReadFile(filepath.Join(r.cfg.TFTPRoot, "nodes", strings.ReplaceAll(b.MAC.String(), ":", "-"), "node.env"))
	if err != nil || !strings.Contains(string(nodeEnv), "serial="+b.SerialHex()+"\n") {
		t.Errorf("example hook did not create nodes/<mac>/node.env (%v):\n%s", err, nodeEnv)
	}
	if got := strings.Count(r.srv.DHCP.Log(), "new-node event delivered"); got != 2 {
		t.Errorf("coredhcp logged %d deliveries, want 2 (hook and URL)", got)
	}
}

// offerLatency returns the median time from DISCOVER to OFFER for n new
// Pi 4 boards of seed (indexes 1..n); board 0 goes first, unmeasured, so a
// DISCOVER sent while the fresh bridge port is still coming up cannot
// count. Each board makes a new pin, so n+1 hooks fire.
func offerLatency(t *testing.T, r *bootRig, seed, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for i := range n + 1 {
		b := piboard.NewBoard(piboard.Pi4, seed, i)
		start := time.Now()
		var offer *dhcpv4.DHCPv4
		for try := 1; offer == nil; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rep, err := r.link.Exchange(ctx, b.Discover(), 2*time.Second)
			cancel()
			switch {
			case err == nil:
				offer = rep.Msg
			case try == 3:
				t.Fatalf("board %d: no OFFER to 3 DISCOVERs: %v", i, err)
			}
		}
		if i > 0 {
			ds = append(ds, time.Since(start))
		}
		if offer.YourIPAddr.IsUnspecified() {
			t.Fatalf("board %d: OFFER without address", i)
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// A hook that hangs (killed at on-new-timeout) or fails (retried
// with backoff), and a URL that keeps failing, leave the OFFER as fast as
// without any hook; every failure, retry and give-up is logged, and the
// URL sees exactly the configured attempts with doubling gaps.
func TestHookFailuresDoNotDelayOffer(t *testing.T) {
	const measured = 5
	const boards = measured + 1 // offerLatency's warm-up board fires too
	base := newBootRig(t, nil)
	baseline := offerLatency(t, base, 82, measured)

	dir := t.TempDir()
	hang := hookScript(t, dir, "hang.sh", "sleep 30")
	slow := newBootRig(t, withMacpinOptions("on-new="+hang, "on-new-timeout=1s", "on-new-retries=0"))
	withHang := offerLatency(t, slow, 83, measured)

	var recv *hookReceiver
	fail := hookScript(t, dir, "fail.sh", "echo \"$RPINETBOOT_MAC\" >> "+dir+"/fails\necho 'nfs root missing' >&2\nexit 1")
	failing := newBootRig(t, func(t *testing.T, n *harness.Net, cfg harness.Config) {
		recv = newHookReceiver(t, n.NS, true)
		withMacpinOptions("on-new="+fail, "on-new-url="+recv.URL, "on-new-retries=3", "on-new-backoff=200ms")(t, n, cfg)
	})
	withFail := offerLatency(t, failing, 84, measured)
	t.Logf("median OFFER latency for a new pin: %v without hook, %v with a hanging hook, %v with a failing hook and URL", baseline, withHang, withFail)
	for name, d := range map[string]time.Duration{"hanging hook": withHang, "failing hook": withFail} {
		if d-baseline > 50*time.Millisecond {
			t.Errorf("%s: OFFER latency %v, %v more than without a hook; the hook must not delay the OFFER", name, d, d-baseline)
		}
	}

	// The hung hooks are killed at the timeout and logged.
	waitFor(t, 30*time.Second, "the hung hooks to be killed", func() bool {
		return strings.Count(slow.srv.DHCP.Log(), "killed after 1s (timeout)") == boards
	})
	if n := strings.Count(slow.srv.DHCP.Log(), "new-node event delivery failed; giving up"); n != boards {
		t.Errorf("%d give-up lines for %d hung hooks", n, boards)
	}

	// The failing URL: 4 attempts per board, gaps of about 200, 400, 800 ms.
	waitFor(t, 30*time.Second, "all attempts", func() bool { return len(recv.posts()) == 4*boards })
	time.Sleep(500 * time.Millisecond)
	byMAC := map[string][]time.Time{}
	for _, p := range recv.posts() {
		byMAC[p.event.MAC] = append(byMAC[p.event.MAC], p.at)
	}
	if len(byMAC) != boards {
		t.Errorf("POSTs for %d boards, want %d", len(byMAC), boards)
	}
	for mac, at := range byMAC {
		if len(at) != 4 {
			t.Errorf("%s: %d POST attempts, want 4 (1 + on-new-retries=3)", mac, len(at))
			continue
		}
		for i, want := range []time.Duration{200, 400, 800} {
			gap := at[i+1].Sub(at[i])
			if gap < want*time.Millisecond-20*time.Millisecond || gap > want*time.Millisecond+time.Second {
				t.Errorf("%s: gap before attempt %d = %v, want about %dms", mac, i+2, gap, want)
			}
		}
	}
	fails, _ := os.ReadFile(filepath.Join(dir, "fails"))
	if n := strings.Count(string(fails), "\n"); n != 4*boards {
		t.Errorf("failing hook ran %d times, want %d", n, 4*boards)
	}
	log := failing.srv.DHCP.Log()
	if n := strings.Count(log, "new-node event delivery failed; will retry"); n != 2*3*boards {
		t.Errorf("%d retry lines, want %d (3 per target per board)", n, 2*3*boards)
	}
	if !strings.Contains(log, "nfs root missing") {
		t.Error("the failing hook's output is not in the log")
	}
}
