package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
	"github.com/rpinetboot/rpinetboot/internal/harness"
	"github.com/rpinetboot/rpinetboot/internal/models"
)

// examplePrefix is config.yml.example's network. The rack lives in its own
// namespaces, so it can use the example's addresses unchanged: only the
// interface and the paths of the rendered config differ from the example.
const examplePrefix = "192.168.50."

// resultFile, in the state directory, holds the last run's outcome.
const resultFile = "last-run.json"

// outcome is what a run leaves in STATE/last-run.json.
type outcome struct {
	Summary tally         `json:"summary"`
	Boards  []boardResult `json:"boards"`
}

// boardResult is one board's line of last-run.json.
type boardResult struct {
	MAC     string  `json:"mac"`
	Board   string  `json:"board"`
	Model   string  `json:"model"`
	IP      string  `json:"ip,omitempty"`
	Booted  bool    `json:"booted"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
	Cycles  int     `json:"power_cycles,omitempty"`
}

// demo sets the rack up, boots it, shows it and tears it down; only the
// state directory stays. A setup failure is returned as an error.
func demo(ctx context.Context, o options, stdout *os.File) (outcome, error) {
	var out outcome
	err := harness.RunScope("demo", func(s *harness.Scope) {
		out = rackRun(ctx, s, o, stdout)
	})
	return out, err
}

// rackRun does the work inside the harness scope: every namespace and
// process it starts goes away when the scope ends.
func rackRun(ctx context.Context, s *harness.Scope, o options, stdout *os.File) outcome {
	say := func(format string, args ...any) { fmt.Fprintf(stdout, "demo: "+format+"\n", args...) }
	checkpoint := func() {
		if ctx.Err() != nil {
			s.Fatalf("interrupted during setup")
		}
	}
	if dir := os.Getenv(harness.BinDirEnv); dir != "" {
		say("using coredhcp, rpi-tftpd, rpinetctl from %s", dir)
	} else {
		say("building coredhcp, rpi-tftpd, rpinetctl")
	}
	bins := harness.Build(s)
	checkpoint()

	n := harness.NewNet(s)
	readdress(s, n)
	n.Dir = o.state // rendered config, store, firmware tree and logs all stay here
	cfg := n.RenderConfig(s)
	written, total, err := writeFirmware(filepath.Join(cfg.TFTPRoot, "default"))
	if err != nil {
		s.Fatalf("%v", err)
	}
	say("firmware tree %s: %d placeholder files, %.1f MB (%d written now)",
		rel(filepath.Join(cfg.TFTPRoot, "default")), len(firmware), float64(total)/1e6, written)
	table, err := models.Load(cfg.ModelsPath)
	if err != nil {
		s.Fatalf("%v", err)
	}
	preps := make([]ubootPrep, len(ubootBoards))
	for i, u := range ubootBoards {
		if preps[i], err = prepareUBoot(bins.Ctl, o.state, cfg.TFTPRoot, table, u); err != nil {
			s.Fatalf("%v", err)
		}
	}
	fleet, err := simFleet(o.boards)
	if err != nil {
		s.Fatalf("%v", err)
	}
	checkpoint()

	srv := n.StartServers(s, cfg)
	say("coredhcp and rpi-tftpd serving %s0/24 on %s in namespace %s with %s",
		n.Prefix, n.Bridge, n.NS, rel(cfg.Path))
	ns, iface := n.AddClient(s, "boards")
	link, err := piboard.OpenLink(ns, iface)
	if err != nil {
		s.Fatalf("%v", err)
	}
	s.Cleanup(func() { link.Close() })
	for _, u := range ubootBoards {
		n.AddTap(s, u.tap)
	}
	checkpoint()

	rows := make([]row, 0, len(ubootBoards)+len(fleet))
	for _, u := range ubootBoards {
		rows = append(rows, u.row())
	}
	rows = append(rows, simRows(fleet)...)
	r := newRack(rows)
	say("powering on %d boards: %d U-Boot under QEMU, %d simulated Pi 3B+/4/5", len(rows), len(ubootBoards), len(fleet))
	v := newView(stdout, r, o.plain)
	start := time.Now()
	bootCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range preps {
		wg.Add(1)
		go func() { defer wg.Done(); runUBoot(bootCtx, p, n.NS, r, i) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); runSims(bootCtx, ns, link, fleet, r, len(ubootBoards), o.spread) }()
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		r.interrupt("interrupted")
	case bootCtx.Err() != nil:
		r.interrupt(fmt.Sprintf("not booted within -timeout %s", o.timeout))
	}
	v.finish()

	final := r.snapshot()
	out := outcome{Summary: count(final, time.Since(start))}
	for _, x := range final {
		out.Boards = append(out.Boards, boardResult{MAC: x.MAC, Board: x.Board, Model: x.Model, IP: x.IP,
			Booted: x.Phase == phaseBooted, Seconds: x.elapsed(x.End).Seconds(), Error: x.Err, Cycles: x.Cycles})
	}
	t := out.Summary
	fmt.Fprintf(stdout, "\nbooted %d/%d in %.1fs; boot time p50 %.1fs, p99 %.1fs\n", t.Booted, t.Boards, t.WallSecs, t.P50, t.P99)
	if b, err := json.MarshalIndent(out, "", "  "); err == nil {
		if err := os.WriteFile(filepath.Join(o.state, resultFile), append(b, '\n'), 0o644); err != nil {
			s.Logf("%v", err)
		}
	}
	say("pins kept in %s; see them with: bin/rpinetctl -c %s nodes list", rel(cfg.StorePath), rel(cfg.Path))
	say("logs: %s, %s, %s", rel(srv.DHCP.LogPath), rel(srv.TFTP.LogPath), rel(filepath.Join(o.state, "uboot-*", "console.log")))
	return out
}

// readdress moves the harness bridge to the example's own network.
func readdress(s *harness.Scope, n *harness.Net) {
	for _, argv := range [][]string{
		{"ip", "-n", n.NS, "addr", "flush", "dev", n.Bridge},
		{"ip", "-n", n.NS, "addr", "add", examplePrefix + "1/24", "dev", n.Bridge},
	} {
		// deps: ip
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			s.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	n.Prefix, n.ServerIP = examplePrefix, examplePrefix+"1"
}

// rel shortens path to be relative to the working directory when it is below it.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
