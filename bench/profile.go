package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// profileHook is added to package main of coredhcp and rpi-tftpd, for the
// profiling build only, through `go build -overlay`: the daemons' sources
// stay untouched. With RNBT_CPUPROFILE set the daemon writes a CPU profile
// there until SIGUSR2.
const profileHook = `package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("RNBT_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	go func() { <-c; pprof.StopCPUProfile(); f.Close() }()
}
`

// profBins are coredhcp and rpi-tftpd built with profileHook.
type profBins struct{ Coredhcp, TFTPD string }

// buildProfiled builds the profiling variants into dir.
func buildProfiled(dir string) (profBins, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return profBins{}, err
	}
	hook := filepath.Join(dir, "benchpprof.go")
	if err := os.WriteFile(hook, []byte(profileHook), 0o644); err != nil {
		return profBins{}, fmt.Errorf("profile hook: %w", err)
	}
	overlay := map[string]map[string]string{"Replace": {
		filepath.Join(root, "cmd", "coredhcp", "zz_benchpprof.go"):  hook,
		filepath.Join(root, "cmd", "rpi-tftpd", "zz_benchpprof.go"): hook,
	}}
	b, _ := json.Marshal(overlay)
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, b, 0o644); err != nil {
		return profBins{}, fmt.Errorf("overlay: %w", err)
	}
	cmd := exec.Command(goTool(), "build", "-overlay", ov, "-o", dir+"/", "./cmd/coredhcp", "./cmd/rpi-tftpd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return profBins{}, fmt.Errorf("profiling build: %w\n%s", err, out)
	}
	return profBins{Coredhcp: filepath.Join(dir, "coredhcp"), TFTPD: filepath.Join(dir, "rpi-tftpd")}, nil
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// stopProfiles asks each profiled daemon to finish its profile and waits
// until the files stop growing (at most 3 s).
func stopProfiles(pids []int, files []string) {
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGUSR2)
	}
	last := int64(-1)
	for i := 0; i < 30; i++ {
		time.Sleep(100 * time.Millisecond)
		var total int64
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				total += st.Size()
			}
		}
		if total == last && total > 0 {
			return
		}
		last = total
	}
}

// topText is `go tool pprof -top` of a profile, for docs/benchmarks.md.
func topText(profile string) string {
	out, err := exec.Command(goTool(), "tool", "pprof", "-top", "-nodecount=30", profile).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(pprof -top %s: %v)\n%s", profile, err, out)
	}
	return string(out)
}

// profRun makes a step start ours from the profiling build, each daemon
// writing its CPU profile into dir.
type profRun struct {
	bins  profBins
	dir   string
	pids  []int
	files []string
}

// start starts one profiled daemon in tb's server namespace.
func (pr *profRun) start(s *scope, tb *testbed, name, bin, cfg string, port int) *harness.Proc {
	file := filepath.Join(pr.dir, name+".pprof")
	p := tb.net.Start(s, tb.net.NS, name, "env", "RNBT_CPUPROFILE="+file, bin, "-c", cfg)
	waitUDP(s, tb.net.NS, port, p)
	pr.pids = append(pr.pids, p.Pid())
	pr.files = append(pr.files, file)
	return p
}

// finish ends the profiles and copies them to out as NAME-tag.pprof with
// a NAME-tag.txt `pprof -top` next to each.
// The step must have stopped them (stopProfiles) while the daemons ran.
func (pr *profRun) finish(out, tag string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	for _, f := range pr.files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("profile %s: empty or missing (%v)", f, err)
		}
		base := filepath.Join(out, fmt.Sprintf("%s-%s", trimExt(filepath.Base(f)), tag))
		if err := os.WriteFile(base+".pprof", b, 0o644); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		if err := os.WriteFile(base+".txt", []byte(topText(base+".pprof")), 0o644); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	return nil
}

func trimExt(s string) string { return s[:len(s)-len(filepath.Ext(s))] }

// profileOurs reruns two steps with ours built for profiling and saves the
// profiles in out: the storm of n boards, and perfdhcp at rate (where a
// target is at stake: the first rate ours could not sustain).
func profileOurs(p plan, ours server, fw firmware, n, rate int) error {
	dir, err := os.MkdirTemp("", "rnbt-bench-prof-")
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	runDir(dir)
	defer os.RemoveAll(dir)
	bins, err := buildProfiled(dir)
	if err != nil {
		return err
	}
	if n > 0 {
		pr := &profRun{bins: bins, dir: filepath.Join(dir, "storm")}
		if err := os.MkdirAll(pr.dir, 0o755); err != nil {
			return fmt.Errorf("profiles: %w", err)
		}
		if r := runStorm(ours, n, fw, p.Spread, p.Deadline, &p.Keep, pr); r.Err != "" {
			return fmt.Errorf("profiled storm: %s", r.Err)
		}
		if err := pr.finish(p.Out, fmt.Sprintf("storm%d", n)); err != nil {
			return err
		}
	}
	if rate > 0 {
		pr := &profRun{bins: bins, dir: filepath.Join(dir, "perfdhcp")}
		if err := os.MkdirAll(pr.dir, 0o755); err != nil {
			return fmt.Errorf("profiles: %w", err)
		}
		if r := runRate(ours, rate, p.Period, &p.Keep, pr); r.Err != "" {
			return fmt.Errorf("profiled perfdhcp: %s", r.Err)
		}
		// Only coredhcp works under perfdhcp.
		pr.files = pr.files[:1]
		if err := pr.finish(p.Out, fmt.Sprintf("perfdhcp%d", rate)); err != nil {
			return err
		}
	}
	return nil
}
