package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// scope lets the bench drive integration/harness, whose functions take a
// testing.TB, outside `go test`: Fatalf aborts the current step (recovered
// by runScope) and Cleanup functions run when the step ends. Only the
// methods the harness calls are implemented; the embedded nil TB supplies
// the unexported method that makes the type a testing.TB.
type scope struct {
	testing.TB
	name     string
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
}

// fatal is the panic value of scope.Fatalf.
type fatal struct{ msg string }

// Helper does nothing: there is no test output to attribute lines to.
func (s *scope) Helper() {}

// Name is the step's name.
func (s *scope) Name() string { return s.name }

// Failed is always false: a failure ends the step at once.
func (s *scope) Failed() bool { return false }

// Fatalf ends the step with an error.
func (s *scope) Fatalf(format string, args ...any) { panic(fatal{fmt.Sprintf(format, args...)}) }

// Fatal ends the step with an error.
func (s *scope) Fatal(args ...any) { panic(fatal{fmt.Sprint(args...)}) }

// Errorf ends the step with an error (a benchmark step cannot go on half failed).
func (s *scope) Errorf(format string, args ...any) { panic(fatal{fmt.Sprintf(format, args...)}) }

// Logf logs with the step's name.
func (s *scope) Logf(format string, args ...any) { log.Printf(s.name+": "+format, args...) }

// Cleanup registers f to run when the step ends.
func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

// TempDir makes a directory removed when the step ends (kept with -keep).
func (s *scope) TempDir() string {
	if interrupted.Load() {
		select {} // the interrupt handler is cleaning up and will exit
	}
	d, err := os.MkdirTemp("", "rnbt-bench-")
	if err != nil {
		s.Fatalf("temp dir: %v", err)
	}
	s.mu.Lock()
	s.dirs = append(s.dirs, d)
	s.mu.Unlock()
	return d
}

var (
	activeMu    sync.Mutex
	active      *scope   // the step running now, for interrupt
	runDirs     []string // temporary directories of the whole run, for interrupt
	interrupted atomic.Bool
)

// runDir registers a temporary directory of the whole run (firmware,
// profiles) to remove if the bench is interrupted.
func runDir(d string) string {
	activeMu.Lock()
	runDirs = append(runDirs, d)
	activeMu.Unlock()
	return d
}

// interruptCleanup ends the running step's processes and namespaces when
// the bench is interrupted (Ctrl-C, SIGTERM), then exits.
func interruptCleanup() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		interrupted.Store(true)
		log.Printf("bench: %v: cleaning up the running step", sig)
		activeMu.Lock()
		for _, d := range runDirs {
			os.RemoveAll(d)
		}
		if s := active; s != nil {
			s.mu.Lock()
			cs := append([]func(){}, s.cleanups...)
			s.mu.Unlock()
			for i := len(cs) - 1; i >= 0; i-- {
				cs[i]()
			}
			for _, d := range s.dirs {
				os.RemoveAll(d)
			}
		}
		os.Exit(130)
	}()
}

// runScope runs fn with a fresh scope and turns a Fatalf into an error;
// cleanups run last-in first-out, also after a panic. keep leaves the
// temporary directories (logs) in place for a failed step.
func runScope(name string, keep *bool, fn func(s *scope)) (err error) {
	s := &scope{name: name}
	activeMu.Lock()
	active = s
	activeMu.Unlock()
	defer func() {
		activeMu.Lock()
		active = nil
		defer activeMu.Unlock()
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: %s", name, f.msg)
		}
		for i := len(s.cleanups) - 1; i >= 0; i-- {
			s.cleanups[i]()
		}
		if keep != nil && *keep {
			return
		}
		for _, d := range s.dirs {
			os.RemoveAll(d)
		}
	}()
	fn(s)
	return nil
}
