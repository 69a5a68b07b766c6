// Command bench runs rpinetboot and its peers (isc-dhcpd + tftpd-hpa, Kea,
// dnsmasq) side by side on the same work in the same run, each inside
// network namespaces of its own on this machine, and prints a table with
// ours ÷ best peer ratios: perfdhcp DORA rates and Raspberry Pi boot storms.
//
//	sudo make bench            # full run, < 15 min, results in docs/bench/
//	sudo make bench QUICK=1    # smoke, < 2 min, results in a temp dir
//
// See bench/README.md for what is measured and how.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

func main() { os.Exit(realMain(os.Args[1:])) }

// plan is what one run does.
type plan struct {
	Quick          bool
	Out            string
	Rates          []int
	Period         time.Duration
	Refine         int
	StormN         []int
	ChartN         int
	Deadline       time.Duration
	Spread         time.Duration
	Only           map[string]bool
	NoDHCP, NoBoot bool
	Keep           bool
	Profile        bool
}

func parseFlags(args []string) (plan, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", os.Getenv("QUICK") == "1", "CI smoke: small storms and few rates (also QUICK=1)")
	out := fs.String("out", "", "directory for table.txt, results.json, *.csv, storm-cdf.png (default docs/bench, or a temp dir with -quick)")
	rates := fs.String("rates", "", "perfdhcp offered rates, DORA/s, comma-separated")
	period := fs.Duration("period", 0, "perfdhcp test period per rate")
	refine := fs.Int("refine", -1, "bisection steps for the max sustained rate")
	storm := fs.String("storm", "", "boot storm board counts, comma-separated")
	chartN := fs.Int("chart-n", 0, "board count whose boot-time CDF is drawn (default 300, or the largest)")
	deadline := fs.Duration("deadline", 0, "a storm's boards must have booted by then")
	spread := fs.Duration("spread", time.Second, "power-on spread of a storm (board i of n starts at i×spread/n)")
	only := fs.String("only", "", "comma-separated server names to run (default all)")
	noDHCP := fs.Bool("no-dhcp", false, "skip the perfdhcp runs")
	noBoot := fs.Bool("no-storm", false, "skip the boot storms")
	profile := fs.Bool("profile", os.Getenv("QUICK") != "1", "rerun ours' smallest storm and its first unsustained perfdhcp rate with CPU profiling; save the pprof files (default on, off with -quick)")
	keep := fs.Bool("keep", false, "keep the work directories (configs, server logs) of every step")
	if err := fs.Parse(args); err != nil {
		return plan{}, err
	}
	if *quick && !flagSet(fs, "profile") {
		*profile = false
	}
	p := plan{Quick: *quick, Out: *out, Period: *period, Refine: *refine, ChartN: *chartN, Deadline: *deadline,
		Spread: *spread, NoDHCP: *noDHCP, NoBoot: *noBoot, Keep: *keep, Profile: *profile}
	def := func(s, full, q string) string {
		if s != "" {
			return s
		}
		if p.Quick {
			return q
		}
		return full
	}
	var err error
	if p.Rates, err = ints(def(*rates, "1000,2000,4000,8000,16000,32000", "1000,4000")); err != nil {
		return p, fmt.Errorf("-rates: %w", err)
	}
	if p.StormN, err = ints(def(*storm, "100,300,1000", "40")); err != nil {
		return p, fmt.Errorf("-storm: %w", err)
	}
	if p.Period == 0 {
		p.Period = map[bool]time.Duration{false: 5 * time.Second, true: 2 * time.Second}[p.Quick]
	}
	if p.Refine < 0 {
		p.Refine = map[bool]int{false: 3, true: 0}[p.Quick]
	}
	if p.Deadline == 0 {
		p.Deadline = map[bool]time.Duration{false: 240 * time.Second, true: 60 * time.Second}[p.Quick]
	}
	if p.ChartN == 0 {
		p.ChartN = p.StormN[len(p.StormN)-1]
		for _, n := range p.StormN {
			if n == 300 {
				p.ChartN = 300
			}
		}
	}
	if *only != "" {
		p.Only = map[string]bool{}
		known := map[string]bool{}
		for _, s := range servers() {
			known[s.Name] = true
		}
		for _, n := range strings.Split(*only, ",") {
			if !known[n] {
				return p, fmt.Errorf("-only: unknown server %q (have %s)", n, serverNames())
			}
			p.Only[n] = true
		}
	}
	return p, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func serverNames() string {
	var n []string
	for _, s := range servers() {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	sortInts(out)
	return out, nil
}

func realMain(args []string) int {
	log.SetFlags(log.Ltime)
	p, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if err := preflight(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if p.Out == "" {
		if p.Quick {
			if p.Out, err = os.MkdirTemp("", "rnbt-bench-quick-"); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				return 2
			}
			runDir(p.Out)
		} else {
			p.Out = filepath.Join("docs", "bench")
		}
	}
	interruptCleanup()
	start := time.Now()
	r, err := runPlan(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	var table bytes.Buffer
	report(&table, r)
	fmt.Printf("\n%s", table.Bytes())
	if err := writeFiles(p.Out, r, table.Bytes()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if len(r.Storms) > 0 {
		if err := writeChart(filepath.Join(p.Out, "storm-cdf.png"), r.Storms, p.ChartN); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	fmt.Printf("\nresults in %s (table.txt, results.json, perfdhcp.csv, storm.csv, storm-cdf.png); run took %s\n",
		p.Out, time.Since(start).Round(time.Second))
	return 0
}

// preflight fails early, with the fix, when something the run needs is missing.
func preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, ports 67/69): run sudo make bench")
	}
	for _, b := range []string{"ip", "ss", "perfdhcp", "dnsmasq", "dhcpd", "kea-dhcp4", "in.tftpd"} {
		if _, err := exec.LookPath(b); err != nil { // deps: ip ss perfdhcp dnsmasq dhcpd kea-dhcp4 in.tftpd
			if _, err := os.Stat("/usr/sbin/" + b); err != nil {
				return fmt.Errorf("%s not found: run scripts/deps.sh (make bench does)", b)
			}
		}
	}
	if _, err := harness.RepoRoot(); err != nil {
		return fmt.Errorf("run from the repository (make bench): %w", err)
	}
	return nil
}

// runPlan builds ours once, then runs every workload against every server,
// interleaved per step so slow drift of the machine hits all alike.
func runPlan(p plan) (*results, error) {
	r := &results{Machine: describeMachine(), Quick: p.Quick}
	var order []server
	for _, s := range servers() {
		if p.Only == nil || p.Only[s.Name] {
			order = append(order, s)
			r.Servers = append(r.Servers, serverInfo{s.Name, s.Config})
		}
	}
	if err := runScope("build", nil, func(s *scope) {
		b := harness.Build(s)
		log.Printf("bench: built rpinetboot into %s", filepath.Dir(b.Coredhcp))
	}); err != nil {
		return nil, err
	}
	if !p.NoDHCP {
		var dhcp []server
		for _, s := range order {
			if s.DHCP {
				dhcp = append(dhcp, s)
			}
		}
		r.Rates = rateSweeps(dhcp, p.Rates, p.Period, p.Refine, 65000, &p.Keep)
	}
	fwDir, err := os.MkdirTemp("", "rnbt-bench-fw-")
	if err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	runDir(fwDir)
	defer os.RemoveAll(fwDir)
	fw, err := writeFirmware(fwDir)
	if err != nil {
		return nil, err
	}
	if !p.NoBoot {
		for _, n := range p.StormN {
			for _, s := range order {
				if !s.Storm {
					continue
				}
				log.Printf("bench: storm %s, %d boards", s.Name, n)
				res := runStorm(s, n, fw, p.Spread, p.Deadline, &p.Keep, nil)
				log.Printf("bench: storm %-16s n=%4d: %5.1f%% booted, p99 %s s, cpu %.1fs, %.0f MB/s",
					s.Name, n, res.SuccessPct, res.BootP99MS, res.CPUSeconds, res.MBps)
				r.Storms = append(r.Storms, res)
			}
		}
	}
	r.Verdicts = judge(r.Rates, r.Storms, order)
	if p.Profile && len(order) > 0 && order[0].Ours {
		// The smallest storm: the profile's shape is the same, the time is not.
		n := 0
		if !p.NoBoot {
			n = p.StormN[0]
		}
		rate := 0
		for _, x := range r.Rates {
			if x.Server == order[0].Name && (x.Err != "" || x.DropPct >= sustainedDropPct) && (rate == 0 || x.OfferedPS < rate) {
				rate = x.OfferedPS
			}
		}
		log.Printf("bench: profiling %s (storm of %d boards, perfdhcp at %d/s)", order[0].Name, n, rate)
		if err := profileOurs(p, order[0], fw, n, rate); err != nil {
			log.Printf("bench: profiling: %v", err)
		}
	}
	return r, nil
}

// report prints the machine, the tables and the verdicts, as shown at the
// end of a run and saved in table.txt.
func report(w io.Writer, r *results) {
	m := r.Machine
	fmt.Fprintf(w, "Machine: %s, %d CPUs, kernel %s, %s\n", m.CPU, m.CPUs, m.Kernel, m.Go)
	fmt.Fprintf(w, "Versions: %s\n\n", strings.Join(m.Versions, ", "))
	var order []server
	for _, s := range servers() {
		for _, i := range r.Servers {
			if i.Name == s.Name {
				order = append(order, s)
			}
		}
	}
	if len(r.Rates) > 0 {
		printRates(w, r.Rates, order)
		fmt.Fprintln(w)
	}
	if len(r.Storms) > 0 {
		printStorms(w, r.Storms)
		fmt.Fprintln(w)
	}
	if len(r.Verdicts) > 0 {
		printVerdicts(w, r.Verdicts)
	}
}

// machine records where and with what a run was made.
type machine struct {
	CPU      string   `json:"cpu"`
	CPUs     int      `json:"cpus"`
	Kernel   string   `json:"kernel"`
	Go       string   `json:"go"`
	Commit   string   `json:"commit"`
	Versions []string `json:"versions"`
	Date     string   `json:"date"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	for _, pkg := range []string{"isc-dhcp-server", "kea-dhcp4-server", "kea-admin", "dnsmasq-base", "tftpd-hpa"} {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
		v := strings.TrimSpace(string(out))
		if err != nil || v == "" {
			v = "?"
		}
		m.Versions = append(m.Versions, pkg+" "+v)
	}
	m.Versions = append(m.Versions, "rpinetboot "+m.Commit)
	return m
}
