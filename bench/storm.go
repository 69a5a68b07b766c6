package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"os"
	"path"
	"sort"
	"time"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
)

// stormResult is one boot storm of one server.
type stormResult struct {
	Server      string    `json:"server"`
	Boards      int       `json:"boards"`
	Booted      int       `json:"booted"`
	SuccessPct  float64   `json:"success_pct"`
	Duplicates  int       `json:"duplicate_address_boards"`
	NoAddress   int       `json:"no_address_boards"`
	AddrP50MS   float64   `json:"address_p50_ms"`
	AddrP99MS   float64   `json:"address_p99_ms"`
	BootP50MS   millis    `json:"boot_p50_ms"` // +Inf (JSON null) when more boards failed than the percentile allows
	BootP95MS   millis    `json:"boot_p95_ms"`
	BootP99MS   millis    `json:"boot_p99_ms"`
	BootMaxMS   millis    `json:"boot_max_ms"`
	CPUSeconds  float64   `json:"server_cpu_s"`
	PeakRSSMiB  float64   `json:"server_peak_rss_mib"`
	WallSeconds float64   `json:"wall_s"`
	MBps        float64   `json:"goodput_mb_s"`
	Errors      []string  `json:"error_samples,omitempty"`
	BootTimesMS []float64 `json:"-"` // every board, +Inf for a failed one (for the CDF)
	Err         string    `json:"error,omitempty"`
}

// stormFleet is n boards powering on together: Pi 3B+ ROMs and Pi 4
// EEPROMs in turn.
func stormFleet(n int) []piboard.Board {
	bs := make([]piboard.Board, n)
	for i := range bs {
		m := piboard.Pi3
		if i%2 == 1 {
			m = piboard.Pi4
		}
		bs[i] = piboard.NewBoard(m, 9, i)
	}
	return bs
}

// runStorm boots n boards against srv in a fresh testbed. The boards keep
// the ROM's patience (5 DISCOVERs 5 s apart, 1-s TFTP timeout, 5 retries);
// a board not done by deadline counts as not booted.
//
// With prof set, ours runs from the profiling build and its profiles go to
// prof.dir; the numbers of such a run are not reported (profiling costs CPU).
func runStorm(srv server, n int, fw firmware, spread, deadline time.Duration, keep *bool, prof *profRun) stormResult {
	res := stormResult{Server: srv.Name, Boards: n}
	err := runScope(fmt.Sprintf("storm %s n=%d", srv.Name, n), keep, func(s *scope) {
		tb := newTestbed(s)
		tb.prof = prof
		tb.pool = stormPool()
		boards := stormFleet(n)
		dir := s.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			s.Fatalf("%v", err)
		}
		root, err := treeFor(dir, fw.dir, srv.Ours, boards)
		if err != nil {
			s.Fatalf("%v", err)
		}
		procs := srv.start(s, tb, root)
		pids := make([]int, len(procs))
		for i, p := range procs {
			pids[i] = p.Pid()
		}
		u, err := watch(pids)
		if err != nil {
			s.Fatalf("%v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		rs, err := piboard.Run(ctx, piboard.Options{NS: tb.clientNS, Iface: tb.iface, Spread: spread, CRC32C: true}, boards)
		wall := time.Since(start)
		if err != nil {
			s.Fatalf("boards: %v", err)
		}
		checkContent(rs, fw.crc)
		cpu, rss, err := u.done()
		if err != nil {
			s.Fatalf("%v", err)
		}
		if prof != nil {
			stopProfiles(prof.pids, prof.files)
		}
		for _, p := range procs {
			if p.Exited() {
				s.Fatalf("%s died during the storm:\n%s", p.Name, tail(p.Log(), 2000))
			}
		}
		res.CPUSeconds, res.PeakRSSMiB, res.WallSeconds = cpu, rss, wall.Seconds()
		summarizeStorm(&res, rs)
	})
	if err != nil {
		res.Err = err.Error()
		log.Printf("bench: %v", err)
	}
	return res
}

// checkContent fails every board that got a file whose bytes differ from
// the firmware's (want: CRC-32C by file name): a board that booted wrong
// bytes did not boot.
func checkContent(rs []piboard.Result, want map[string]string) {
	for i := range rs {
		r := &rs[i]
		if !r.OK() {
			continue
		}
		for _, f := range r.Files {
			if f.Error == "" && f.CRC32C != want[path.Base(f.Name)] {
				r.Error = fmt.Sprintf("%s: wrong content (crc32c %s, want %s)", f.Name, f.CRC32C, want[path.Base(f.Name)])
				break
			}
		}
	}
}

// summarizeStorm counts booted boards (a board that got an address another
// board also got did not boot: two boards on one IP is a broken rack) and
// computes the percentiles over all boards, failures counted as never done.
func summarizeStorm(res *stormResult, rs []piboard.Result) {
	byIP := map[string]int{}
	for _, r := range rs {
		if r.IP != "" {
			byIP[r.IP]++
		}
	}
	var addr []float64
	var bytes int64
	errs := map[string]bool{}
	for _, r := range rs {
		t := math.Inf(1)
		switch {
		case r.IP == "":
			res.NoAddress++
		case byIP[r.IP] > 1:
			res.Duplicates++
			if len(errs) < 8 {
				errs["duplicate address "+r.IP] = true
			}
		}
		if r.IP != "" {
			addr = append(addr, r.AddressMS)
		}
		if r.OK() && byIP[r.IP] == 1 {
			res.Booted++
			t = r.LastByteMS
			for _, f := range r.Files {
				bytes += f.Bytes
			}
		} else if r.Error != "" && len(errs) < 8 {
			errs[string(r.Model)+": "+r.Error] = true
		}
		res.BootTimesMS = append(res.BootTimesMS, t)
	}
	for e := range errs {
		res.Errors = append(res.Errors, e)
	}
	sort.Strings(res.Errors)
	sort.Float64s(res.BootTimesMS)
	res.SuccessPct = 100 * float64(res.Booted) / float64(max(1, res.Boards))
	res.AddrP50MS, res.AddrP99MS = percentile(addr, 50), percentile(addr, 99)
	res.BootP50MS = millis(percentile(res.BootTimesMS, 50))
	res.BootP95MS = millis(percentile(res.BootTimesMS, 95))
	res.BootP99MS = millis(percentile(res.BootTimesMS, 99))
	res.BootMaxMS = millis(percentile(res.BootTimesMS, 100))
	if res.WallSeconds > 0 {
		res.MBps = float64(bytes) / 1e6 / res.WallSeconds
	}
}

// percentile is the nearest-rank percentile of sorted-or-not v (0 if empty).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
