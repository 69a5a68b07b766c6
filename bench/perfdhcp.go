package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rateResult is one perfdhcp step: one server, one offered rate.
type rateResult struct {
	Server     string  `json:"server"`
	OfferedPS  int     `json:"offered_per_s"`
	PeriodS    float64 `json:"period_s"`
	Discovers  int     `json:"discovers_sent"`
	Offers     int     `json:"offers_received"`
	Acks       int     `json:"acks_received"`
	DORAPerS   float64 `json:"dora_per_s"`
	DropPct    float64 `json:"drop_pct"` // DORAs started but not completed
	CPUSeconds float64 `json:"server_cpu_s"`
	PeakRSSMiB float64 `json:"server_peak_rss_mib"`
	Err        string  `json:"error,omitempty"`
}

// sustainedDropPct is the drop rate under which a rate counts as sustained.
const sustainedDropPct = 0.1

// runRate starts srv in a fresh testbed (fresh lease store) and offers
// rate DORA exchanges per second from perfdhcp for period, every exchange
// from a new random MAC, replies forced to broadcast (-B) like a client
// without an address.
func runRate(srv server, rate int, period time.Duration, keep *bool, prof *profRun) rateResult {
	res := rateResult{Server: srv.Name, OfferedPS: rate, PeriodS: period.Seconds()}
	err := runScope(fmt.Sprintf("perfdhcp %s rate=%d", srv.Name, rate), keep, func(s *scope) {
		tb := newTestbed(s)
		tb.prof = prof
		run(s, "ip", "-n", tb.clientNS, "addr", "add", clientIP+"/16", "dev", tb.iface)
		procs := srv.start(s, tb, "")
		pids := make([]int, len(procs))
		for i, p := range procs {
			pids[i] = p.Pid()
		}
		u, err := watch(pids)
		if err != nil {
			s.Fatalf("%v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), period+30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", tb.clientNS, "perfdhcp", "-4",
			"-l", tb.iface, "-B", "-r", strconv.Itoa(rate), "-p", fmt.Sprintf("%.0f", period.Seconds()),
			"-R", "16000000", "-W", "2000000")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.CombinedOutput()
		write(s, filepath.Join(s.TempDir(), "perfdhcp.out"), string(out))
		// perfdhcp exits 3 when packets were dropped; that is a result, not a failure.
		if err != nil && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() != 3 {
			s.Fatalf("perfdhcp: %v\n%s", err, tail(string(out), 2000))
		}
		cpu, rss, err := u.done()
		if err != nil {
			s.Fatalf("%v", err)
		}
		if prof != nil {
			stopProfiles(prof.pids, prof.files)
		}
		res.CPUSeconds, res.PeakRSSMiB = cpu, rss
		if err := parsePerfdhcp(string(out), &res); err != nil {
			s.Fatalf("%v\n%s", err, tail(string(out), 2000))
		}
	})
	if err != nil {
		res.Err = err.Error()
		log.Printf("bench: %v", err)
	}
	return res
}

var (
	statsFor = regexp.MustCompile(`\*\*\*Statistics for: ([A-Z]+)-([A-Z]+)\*\*\*`)
	sentRe   = regexp.MustCompile(`(?m)^sent packets: (\d+)`)
	recvRe   = regexp.MustCompile(`(?m)^received packets: (\d+)`)
)

// parsePerfdhcp reads perfdhcp's final report: sent and received packets
// of the DISCOVER-OFFER and REQUEST-ACK exchanges.
func parsePerfdhcp(out string, res *rateResult) error {
	idx := statsFor.FindAllStringSubmatchIndex(out, -1)
	if len(idx) == 0 {
		return fmt.Errorf("perfdhcp output has no statistics")
	}
	for i, m := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		block := out[m[1]:end]
		sent, recv := firstInt(sentRe, block), firstInt(recvRe, block)
		switch out[m[2]:m[3]] {
		case "DISCOVER":
			res.Discovers, res.Offers = sent, recv
		case "REQUEST":
			res.Acks = recv
		}
	}
	if res.Discovers == 0 {
		return fmt.Errorf("perfdhcp sent no DISCOVER")
	}
	res.DORAPerS = float64(res.Acks) / res.PeriodS
	res.DropPct = 100 * float64(res.Discovers-res.Acks) / float64(res.Discovers)
	res.DropPct = math.Max(0, res.DropPct)
	return nil
}

func firstInt(re *regexp.Regexp, s string) int {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(m[1]))
	return n
}

// sweep is the search for one server's max sustained rate.
type sweep struct {
	srv         server
	rates       []int // fixed rates still to offer
	best, worst int   // highest sustained, lowest not sustained (0: none yet)
	halvings    int   // left for a server that cannot sustain the first rate
	refine      int   // bisection steps left
	done        bool
}

// next is the rate to offer next, or 0 when the search is over: the fixed
// rates upwards until one loses more than 5 % (higher ones will not do
// better); if even the first was not sustained, half of it, up to 3
// times; then `refine` bisections between best and worst.
func (w *sweep) next() int {
	if w.done {
		return 0
	}
	if len(w.rates) > 0 {
		return w.rates[0]
	}
	if w.best == 0 && w.worst > 1 && w.halvings > 0 {
		return w.worst / 2
	}
	if w.best > 0 && w.worst > w.best && w.refine > 0 {
		mid := (w.best + w.worst) / 2
		if mid-w.best >= max(1, w.best/20) {
			return mid
		}
	}
	w.done = true
	return 0
}

// record takes the outcome of offering rate r.
func (w *sweep) record(r int, res rateResult) {
	ok := res.Err == "" && res.DropPct < sustainedDropPct
	fixed := len(w.rates) > 0 && w.rates[0] == r
	switch {
	case fixed:
		w.rates = w.rates[1:]
		if !ok && (res.Err != "" || res.DropPct > 5) {
			w.rates = nil
		}
	case w.best == 0:
		w.halvings--
	default:
		w.refine--
	}
	if ok {
		w.best = max(w.best, r)
	} else if w.worst == 0 || r < w.worst {
		w.worst = r
	}
}

// rateSweeps searches every server's max sustained rate, interleaved: each
// round offers every server still searching its next rate, so a burst of
// load on the machine hits all servers alike rather than one. It returns
// every step.
func rateSweeps(srvs []server, rates []int, period time.Duration, refine int, poolSize int, keep *bool) []rateResult {
	ws := make([]*sweep, len(srvs))
	for i, s := range srvs {
		ws[i] = &sweep{srv: s, rates: append([]int(nil), rates...), halvings: 3, refine: refine}
	}
	var out []rateResult
	for {
		any := false
		for _, w := range ws {
			r := w.next()
			if r == 0 {
				continue
			}
			any = true
			p := period
			// Every exchange pins a new address: stay inside the pool.
			if limit := time.Duration(float64(poolSize)*0.8/float64(r)) * time.Second; p > limit && limit >= time.Second {
				p = limit
			}
			res := runRate(w.srv, r, p, keep, nil)
			log.Printf("bench: perfdhcp %-17s offered %6d/s: %8.0f DORA/s, %6.2f %% dropped, cpu %.2fs",
				w.srv.Name, r, res.DORAPerS, res.DropPct, res.CPUSeconds)
			w.record(r, res)
			out = append(out, res)
		}
		if !any {
			return out
		}
	}
}

// maxSustained is the highest offered rate srv served with < 0.1 % drops,
// and the DORA/s it achieved there.
func maxSustained(rs []rateResult) (offered int, dora float64) {
	for _, r := range rs {
		if r.Err == "" && r.DropPct < sustainedDropPct && r.OfferedPS > offered {
			offered, dora = r.OfferedPS, r.DORAPerS
		}
	}
	return offered, dora
}
