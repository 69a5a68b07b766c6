//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// Every bad stanza of each of our plugins stops coredhcp before it
// serves, with exactly one error line that names the plugin, quotes the
// argument at fault and says what was expected.
func TestBadStanzaGivesOneClearLine(t *testing.T) {
	n := harness.NewNet(t)
	bins := harness.Build(t)
	dir := t.TempDir()
	models := filepath.Join(dir, "models.yml")
	root, _ := harness.RepoRoot()
	if b, err := os.ReadFile(filepath.Join(root, "examples", "models.yml")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(models, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "nodes.db")
	p := n.Prefix
	cases := []struct {
		stanza string
		want   []string // substrings of the one error line, after the plugin name
	}{
		{"rpipxe: form=fancy", []string{"form=fancy", "want one of menu, string, string3"}},
		{"rpipxe: bogus", []string{`"bogus"`, "want key=value"}},
		{"classify: remember=soon", []string{"remember=soon", "not a duration"}},
		{"classify: oui=zz:zz", []string{"oui=zz:zz"}},
		{"rpipxe: oui=b8:27:eb", []string{"oui=b8:27:eb", "classify stanza"}},
		{"rpipxe: menu-file=/nonexistent/menu", []string{"menu-file=/nonexistent/menu"}},
		{"rpipxe: colour=blue", []string{`unknown key "colour"`, "[form=menu|string|string3] [menu-file=/path]"}},
		{"vendoropts:", []string{"no matcher", "give vendor="}},
		{"vendoropts: vendor=PXEClient", []string{"no sub-option", "sub=CODE:TYPE:VALUE"}},
		{"vendoropts: vendor=PXEClient sub=nonsense", []string{"sub=nonsense"}},
		{"vendoropts: vendor=PXEClient sub=6:u8:3 end=maybe", []string{"end=maybe", "want yes or no"}},
		{"vendoropts: shape=round", []string{`unknown key "shape"`, "[vendor=CLASS] [vendor-prefix=PREFIX] [oui=aa:bb:cc]"}},
		{"modelboot:", []string{"models.yml"}},
		{"modelboot: /nonexistent/models.yml", []string{"/nonexistent/models.yml"}},
		{"macpin: " + db, []string{"missing <first-ip>"}},
		{"macpin: " + db + " " + p + "250 " + p + "200 1h", []string{"last-ip", "the last address is below the first"}},
		{"macpin: " + db + " " + p + "100 " + p + "200 forever", []string{`lease-time "forever"`, "not a duration"}},
		{"macpin: " + db + " nothere " + p + "200 1h", []string{`first-ip "nothere"`, "not an IPv4 address"}},
		{"macpin: " + db + " " + p + "100 " + p + "200 1h reserve=dc:a6:32:01:02:03", []string{"reserve=dc:a6:32:01:02:03", "want reserve=MAC=IP"}},
		{"macpin: " + db + " " + p + "100 " + p + "200 1h maxpending=0", []string{"maxpending=0", "outside 1..1048576"}},
		{"macpin: " + db + " " + p + "100 " + p + "200 1h colour=blue", []string{`unknown key "colour"`}},
		{"metrics: 0.0.0.0:9467", []string{`"0.0.0.0:9467"`, "not a loopback address", "allow-remote"}},
		{"metrics: 127.0.0.1", []string{`"127.0.0.1"`, "want host:port"}},
		{"metrics: 127.0.0.1:9467 open", []string{`"open"`, "one of allow-remote"}},
	}
	for i, c := range cases {
		plugin, _, _ := strings.Cut(c.stanza, ":")
		cfg := filepath.Join(dir, fmt.Sprintf("bad%d.yml", i))
		text := fmt.Sprintf("server4:\n  listen:\n    - \"%%%s\"\n  plugins:\n    - server_id: %s\n    - %s\n", n.Bridge, n.ServerIP, c.stanza)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// Bounded: a stanza wrongly accepted would serve until killed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", n.NS, bins.Coredhcp, "-c", cfg).CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut {
			t.Errorf("%s: coredhcp did not refuse it (err %v)", c.stanza, err)
			continue
		}
		var bad []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "level=error") || strings.Contains(l, "level=fatal") || strings.Contains(l, "panic") {
				bad = append(bad, l)
			}
		}
		if len(bad) != 1 {
			t.Errorf("%s: %d error lines, want exactly one:\n%s", c.stanza, len(bad), strings.Join(bad, "\n"))
			continue
		}
		if !strings.Contains(bad[0], `msg="`+plugin+": ") {
			t.Errorf("%s: error line does not start with the plugin name:\n%s", c.stanza, bad[0])
		}
		for _, w := range c.want {
			if !strings.Contains(bad[0], strings.ReplaceAll(w, `"`, `\"`)) && !strings.Contains(bad[0], w) {
				t.Errorf("%s: error line lacks %q:\n%s", c.stanza, w, bad[0])
			}
		}
	}
	t.Logf("%d bad stanzas refused, one line each", len(cases))
}

// A store file that is not a healthy database stops coredhcp at
// start with a clear line; the file is left exactly as it was (an operator
// may still recover pins from it) and nothing is reinitialised.
func TestCorruptStoreRefusesToStart(t *testing.T) {
	n := harness.NewNet(t)
	cfg := n.RenderConfig(t)
	bins := harness.Build(t)

	// A real store with pins, cut in half, and a file of garbage.
	out, err := n.Run(t, n.NS, bins.Ctl, "-c", cfg.Path, "nodes", "pin", "dc:a6:32:01:02:03", n.Prefix+"120")
	if err != nil {
		t.Fatalf("rpinetctl nodes pin: %v\n%s", err, out)
	}
	good, err := os.ReadFile(cfg.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("not a database; power cut mid-write\x00\xff", 300))
	header := append([]byte("SQLite format 3\x00"), garbage...)
	for name, content := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"garbage":   garbage,
		"header":    header,
	} {
		t.Run(name, func(t *testing.T) {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(cfg.StorePath + suffix)
			}
			if err := os.WriteFile(cfg.StorePath, content, 0o600); err != nil {
				t.Fatal(err)
			}
			before := sha256.Sum256(content)
			// Both daemons open the store: each must refuse, naming why.
			for _, d := range []struct{ name, bin, names string }{
				{"coredhcp", bins.Coredhcp, "macpin"},
				{"rpi-tftpd", bins.TFTPD, "refusing to start"},
			} {
				// deps: built
				p := n.Start(t, n.NS, d.name+"-"+name, d.bin, "-c", cfg.Path)
				err := p.Wait(10 * time.Second)
				if err == nil {
					t.Fatalf("%s exited 0 on a %s store:\n%s", d.name, name, p.Log())
				}
				if strings.Contains(err.Error(), harness.ErrWaitTimeout.Error()) {
					t.Fatalf("%s kept running on a %s store:\n%s", d.name, name, tail(p.Log(), 20))
				}
				var fatal []string
				for _, l := range strings.Split(p.Log(), "\n") {
					if strings.Contains(l, "level=fatal") || strings.Contains(l, "level=error") {
						fatal = append(fatal, l)
					}
				}
				if len(fatal) != 1 || !strings.Contains(fatal[0], d.names) || !strings.Contains(fatal[0], "corrupt") {
					t.Errorf("%s: want one error line naming %q and the corruption, got:\n%s", d.name, d.names, strings.Join(fatal, "\n"))
				}
				after, err := os.ReadFile(cfg.StorePath)
				if err != nil {
					t.Fatal(err)
				}
				if sha256.Sum256(after) != before {
					t.Errorf("%s changed the %s store file (%d bytes, was %d)", d.name, name, len(after), len(content))
				}
				t.Logf("%s %s: %s", d.name, name, fatal)
			}
		})
	}
}

// restartTFTP kills rpi-tftpd with SIGKILL if it still runs, starts it
// again on the same configuration and waits for port 69.
func restartTFTP(t *testing.T, r *bootRig) {
	t.Helper()
	if !r.srv.TFTP.Exited() {
		r.srv.TFTP.Kill9()
	}
	r.srv.TFTP = r.net.Start(t, r.net.NS, "rpi-tftpd", harness.Build(t).TFTPD, "-c", r.cfg.Path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "exec", r.net.NS, "ss", "-lunH").CombinedOutput()
		if strings.Contains(string(out), ":69 ") {
			return
		}
		if r.srv.TFTP.Exited() || time.Now().After(deadline) {
			t.Fatalf("rpi-tftpd did not come back:\n%s", r.srv.TFTP.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A rack of 60 mixed boards boots (DHCP and TFTP) while coredhcp
// and then rpi-tftpd are killed with SIGKILL and restarted. Boards caught
// by a kill retry their boot as real boards do; in the end every board has
// booted with every byte right, each holds the address it was first
// offered (no pin lost), no address has two owners and the store lists
// each board exactly once.
func TestKill9DuringBootStorm(t *testing.T) {
	r := newBootRig(t, nil)
	tr := &tree{t: t, root: r.cfg.TFTPRoot, sums: map[string]string{}}
	for _, m := range []piboard.Model{piboard.Pi3, piboard.Pi4, piboard.Pi5} {
		for _, f := range piboard.DefaultFiles(m) {
			tr.put("default/"+f, content("default/"+f, 1500000)) // big enough that transfers run at each kill
		}
	}
	boards, err := piboard.Fleet("mix", 60, 71)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, len(boards))
	o := piboard.Options{Spread: 3 * time.Second, RetryInterval: time.Second,
		OnAddress: func(piboard.Board, netip.Addr) { got <- struct{}{} }}
	done := make(chan []piboard.Result, 1)
	go func() { done <- r.boot(t, o, boards) }()
	waitFor := func(n int) {
		for i := 0; i < n; i++ {
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				t.Fatalf("only %d boards got an address before the kill", i)
			}
		}
	}
	waitFor(15)
	r.srv.DHCP.Kill9()
	t.Logf("coredhcp killed after 15 boards got an address")
	time.Sleep(300 * time.Millisecond)
	r.srv.RestartDHCP(t)
	waitFor(15)
	restartTFTP(t, r)
	t.Logf("rpi-tftpd killed and restarted after 30 boards got an address")
	first := <-done

	firstIP := map[string]string{}
	var again []piboard.Board
	for i, res := range first {
		if res.IP != "" {
			firstIP[res.MAC] = res.IP
		}
		if !res.OK() {
			again = append(again, boards[i])
		}
	}
	t.Logf("storm with two kills: %d/%d booted at once, %d retry their boot", len(boards)-len(again), len(boards), len(again))
	final := map[string]piboard.Result{}
	for _, res := range first {
		final[res.MAC] = res
	}
	if len(again) > 0 {
		for _, res := range r.boot(t, piboard.Options{RetryInterval: time.Second}, again) {
			final[res.MAC] = res
		}
	}
	owner := map[string]string{}
	for _, b := range boards {
		res := final[b.MAC.String()]
		if !res.OK() {
			t.Errorf("%s %s did not boot on retry: %s", res.Model, res.MAC, res.Error)
			continue
		}
		if ip, ok := firstIP[res.MAC]; ok && ip != res.IP {
			t.Errorf("%s: offered %s before the kills, %s after: pin lost", res.MAC, ip, res.IP)
		}
		if prev, ok := owner[res.IP]; ok {
			t.Errorf("%s held by both %s and %s", res.IP, prev, res.MAC)
		}
		owner[res.IP] = res.MAC
		for _, f := range res.Files {
			base := f.Name[strings.LastIndex(f.Name, "/")+1:]
			if f.Error == "" && f.SHA256 != tr.sums["default/"+base] {
				t.Errorf("%s: %s corrupt (%d bytes)", res.MAC, f.Name, f.Bytes)
			}
		}
	}
	out, err := r.net.Run(t, r.net.NS, harness.Build(t).Ctl, "-c", r.cfg.Path, "nodes", "list", "--json")
	if err != nil {
		t.Fatalf("rpinetctl nodes list: %v\n%s", err, out)
	}
	var nodes []struct{ MAC, IP string }
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	for _, nd := range nodes {
		if _, dup := pinned[nd.MAC]; dup {
			t.Errorf("store lists %s twice", nd.MAC)
		}
		pinned[nd.MAC] = nd.IP
	}
	for _, b := range boards {
		if res := final[b.MAC.String()]; res.OK() && pinned[res.MAC] != res.IP {
			t.Errorf("%s booted with %s, store has %q", res.MAC, res.IP, pinned[res.MAC])
		}
	}
	if len(nodes) != len(boards) {
		t.Errorf("store holds %d pins for %d boards", len(nodes), len(boards))
	}
}

// The disk holding the store fills up. Known boards keep getting
// their OFFER (answered from memory), new boards get no OFFER at all
// (never an address that is not durably pinned), the refusal is logged
// and counted and /healthz says why; once space is back new boards are
// pinned again and /healthz recovers.
func TestDiskFullStore(t *testing.T) {
	r := newBootRig(t, func(t *testing.T, n *harness.Net, cfg harness.Config) {
		// The state directory becomes a tiny tmpfs of its own.
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "rnbt-state", cfg.StateDir).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", cfg.StateDir).Run() })
		rewriteConfig(t, cfg, "    - macpin:", "    - metrics: 127.0.0.1:9467\n    - macpin:")
	})
	known := map[string]string{}
	var knownBoards []piboard.Board
	for i := 0; i < 3; i++ {
		b := piboard.NewBoard(piboard.Pi4, 91, i)
		knownBoards = append(knownBoards, b)
		known[b.MAC.String()] = r.exchange(t, b.Discover()).YourIPAddr.String()
	}
	if code, body := getInNS(t, r.net.NS, "http://127.0.0.1:9467/healthz"); code != 200 {
		t.Fatalf("/healthz before the disk fills: %d %s", code, body)
	}

	// Fill the disk to the last byte.
	filler := filepath.Join(r.cfg.StateDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	offerOrNil := func(b piboard.Board) (string, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		rep, err := r.link.Exchange(ctx, b.Discover(), 2*time.Second)
		if err != nil {
			return "", false
		}
		return rep.Msg.YourIPAddr.String(), true
	}
	for i := 0; i < 5; i++ {
		b := piboard.NewBoard(piboard.Pi3, 92, i)
		if ip, ok := offerOrNil(b); ok {
			t.Errorf("disk full: new board %s was offered %s, an address the store never took", b.MAC, ip)
		}
		for _, kb := range knownBoards {
			if ip, ok := offerOrNil(kb); !ok || ip != known[kb.MAC.String()] {
				t.Errorf("disk full: known board %s got %q (ok %v), want its pin %s", kb.MAC, ip, ok, known[kb.MAC.String()])
			}
		}
	}
	log := r.srv.DHCP.Log()
	if !strings.Contains(log, "commit of new pins failed") || !strings.Contains(log, "full") {
		t.Errorf("coredhcp did not log the refused pins with the cause:\n%s", tail(log, 20))
	}
	code, body := getInNS(t, r.net.NS, "http://127.0.0.1:9467/healthz")
	if code != 503 || !strings.Contains(body, "refuses writes") {
		t.Errorf("/healthz with the disk full: %d %q, want 503 naming the refused writes", code, body)
	}
	t.Logf("disk full /healthz: %d %s", code, strings.TrimSpace(body))
	_, metrics := getInNS(t, r.net.NS, "http://127.0.0.1:9467/metrics")
	pool := r.net.Prefix + "100-" + r.net.Prefix + "199"
	if v := metricValue(metrics, `rpi_dhcp_macpin_events_total{event="commit_error",pool="`+pool+`"}`); v < 5 {
		t.Errorf("commit errors counted: %v, want >= 5", v)
	}
	if v := metricValue(metrics, `rpi_dhcp_store_errors_total{op="Pin"}`); v < 1 {
		t.Errorf("rpi_dhcp_store_errors_total{op=\"Pin\"} = %v, want >= 1", v)
	}

	// Space comes back: new boards are pinned again, health recovers.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	b := piboard.NewBoard(piboard.Pi3, 93, 0)
	ip, ok := offerOrNil(b)
	if !ok {
		t.Fatalf("space back: new board %s got no OFFER\n%s", b.MAC, tail(r.srv.DHCP.Log(), 20))
	}
	for m, kip := range known {
		if ip == kip {
			t.Errorf("space back: %s offered %s, pinned to %s", b.MAC, ip, m)
		}
	}
	if code, body := getInNS(t, r.net.NS, "http://127.0.0.1:9467/healthz"); code != 200 {
		t.Errorf("/healthz once space is back: %d %s", code, body)
	}
}
