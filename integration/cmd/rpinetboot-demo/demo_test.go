//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// demoBinary builds this command once per test process and returns its
// path and the environment that points it at the harness's binaries.
func demoBinary(t *testing.T) (string, []string) {
	t.Helper()
	bins := harness.Build(t)
	demoOnce.Do(func() {
		// Next to the harness's binaries, so it goes when they go.
		demoPath = filepath.Join(filepath.Dir(bins.Coredhcp), "rpinetboot-demo")
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", demoPath, ".").CombinedOutput()
		if err != nil {
			demoErr = errors.New(string(out))
		}
	})
	if demoErr != nil {
		t.Fatalf("build rpinetboot-demo: %v", demoErr)
	}
	return demoPath, append(os.Environ(), harness.BinDirEnv+"="+filepath.Dir(bins.Coredhcp))
}

var (
	demoOnce sync.Once
	demoPath string
	demoErr  error
)

// demoRun runs the demo to its end and returns its stdout and exit code.
func demoRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	bin, env := demoBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// deps: built
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rpinetboot-demo: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return stdout.String(), code
}

func readOutcome(t *testing.T, state string) outcome {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, resultFile))
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("%s: %v", resultFile, err)
	}
	return o
}

// storePins is what `rpinetctl nodes list --json` shows after a run.
func storePins(t *testing.T, state string) map[string]string {
	t.Helper()
	bins := harness.Build(t)
	out, err := exec.Command(bins.Ctl, "-c", filepath.Join(state, "etc", "config.yml"), "nodes", "list", "--json").Output()
	if err != nil {
		t.Fatalf("rpinetctl nodes list: %v\n%s", err, out)
	}
	var nodes []struct{ MAC, IP string }
	if err := json.Unmarshal(out, &nodes); err != nil {
		t.Fatalf("rpinetctl nodes list --json: %v\n%s", err, out)
	}
	pins := map[string]string{}
	for _, n := range nodes {
		pins[n.MAC] = n.IP
	}
	return pins
}

// The rack boots completely (12 simulated boards of the three
// models and the two QEMU U-Boot boards), the store afterwards holds every
// board at the address it booted with, and a second run gets the very
// same addresses. Nothing is left behind: no namespace, no process, no
// address on this machine's own interfaces.
func TestDemoBootsRackAndReusesPins(t *testing.T) {
	demoBinary(t) // build first, so the run times below are the demo's
	state := t.TempDir()
	var first map[string]string
	for run := 1; run <= 2; run++ {
		start := time.Now()
		out, code := demoRun(t, "-boards", "12", "-plain", "-state", state)
		t.Logf("run %d took %s; tail:\n%s", run, time.Since(start).Round(time.Millisecond), tail(out, 5))
		if code != exitBooted {
			t.Fatalf("run %d: exit %d, want 0\n%s", run, code, out)
		}
		if !strings.Contains(out, "booted 14/14 in ") {
			t.Errorf("run %d: no \"booted 14/14\" summary line:\n%s", run, tail(out, 20))
		}
		o := readOutcome(t, state)
		if o.Summary.Boards != 14 || o.Summary.Booted != 14 || len(o.Boards) != 14 {
			t.Fatalf("run %d: summary %+v with %d boards, want 14 of 14 booted", run, o.Summary, len(o.Boards))
		}
		got := map[string]string{}
		models := map[string]bool{}
		for _, b := range o.Boards {
			if !b.Booted || !strings.HasPrefix(b.IP, examplePrefix) {
				t.Errorf("run %d: %s %s: booted %v at %q (%s)", run, b.Board, b.MAC, b.Booted, b.IP, b.Error)
			}
			got[b.MAC] = b.IP
			models[b.Model] = true
		}
		for _, m := range []string{"rpi-3-b-plus", "rpi-4-b", "rpi-5-b"} {
			if !models[m] {
				t.Errorf("run %d: no %s board in the rack", run, m)
			}
		}
		for _, u := range ubootBoards {
			if got[u.mac] == "" {
				t.Errorf("run %d: U-Boot board %s missing", run, u.mac)
			}
		}
		pins := storePins(t, state)
		for mac, ip := range got {
			if pins[mac] != ip {
				t.Errorf("run %d: %s booted at %s but the store pins %q", run, mac, ip, pins[mac])
			}
		}
		if run == 1 {
			first = got
		} else {
			for mac, ip := range first {
				if got[mac] != ip {
					t.Errorf("second run: %s got %s, first run %s", mac, got[mac], ip)
				}
			}
		}
	}
	noHostAddresses(t)
}

// Ctrl-C in the middle of the boot stops every board, server and QEMU,
// deletes the namespaces and keeps the state directory (the store).
func TestDemoInterruptTearsDown(t *testing.T) {
	bin, env := demoBinary(t)
	state := t.TempDir()
	// deps: built
	cmd := exec.Command(bin, "-boards", "30", "-plain", "-spread", "4s", "-state", state)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	var out bytes.Buffer
	booting := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		once := sync.Once{}
		for {
			n, err := pr.Read(buf)
			out.Write(buf[:n])
			// Mid-boot: a simulated board is fetching files.
			if strings.Contains(out.String(), " files ") {
				once.Do(func() { close(booting) })
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-booting:
	case err := <-exited:
		t.Fatalf("demo ended before the boards booted: %v\n%s\n%s", err, out.String(), stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no board fetching files after 60 s:\n%s", out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("demo still running 20 s after SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Errorf("exit after SIGINT: %v, want status %d\n%s", err, exitInterrupted, stderr.String())
	}
	nsList, _ := exec.Command("ip", "netns", "list").Output()
	prefix := harness.NSPrefix + strconv.Itoa(cmd.Process.Pid) + "-"
	if strings.Contains(string(nsList), prefix) {
		t.Errorf("namespaces %s* left after SIGINT:\n%s", prefix, nsList)
	}
	if procs := processesMentioning(state); len(procs) > 0 {
		t.Errorf("processes left after SIGINT:\n%s", strings.Join(procs, "\n"))
	}
	if _, err := os.Stat(filepath.Join(state, "var", "nodes.db")); err != nil {
		t.Errorf("store not kept: %v", err)
	}
	noHostAddresses(t)
}

// processesMentioning lists running processes whose command line holds s
// (our servers are started with -c STATE/etc/config.yml, QEMU with its
// flash image in STATE).
func processesMentioning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, e.Name()+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return out
}

// noHostAddresses fails if a board's address landed on one of this
// machine's own interfaces instead of inside the rack's namespace.
func noHostAddresses(t *testing.T) {
	t.Helper()
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), " "+examplePrefix) {
		t.Errorf("rack addresses on this machine's interfaces:\n%s", out)
	}
}

// Bad flags get a clear error naming the flag and what is expected.
func TestParseFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-boards", "150"}, {"-boards", "-1"}, {"-timeout", "0s"}, {"extra"},
	} {
		_, err := parseFlags(args, io.Discard)
		if err == nil {
			t.Errorf("%v accepted", args)
			continue
		}
		if args[0] != "extra" && !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: error %q does not name the flag", args, err)
		}
	}
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.boards != 50 || !filepath.IsAbs(o.state) || !strings.HasSuffix(o.state, "run/demo") {
		t.Errorf("defaults = %+v, %v; want 50 boards in an absolute .../run/demo", o, err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
