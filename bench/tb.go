package main

import (
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// scope is one step of the bench (a storm, a perfdhcp rate): the harness's
// Scope, which lets the bench drive internal/harness, whose functions
// take a testing.TB, outside `go test`. Fatalf ends the step; cleanups
// (processes, namespaces) run when it ends.
type scope = harness.Scope

var (
	activeMu sync.Mutex
	active   *scope   // the step running now, for interrupt
	runDirs  []string // temporary directories of the whole run, for interrupt
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
		log.Printf("bench: %v: cleaning up the running step", sig)
		activeMu.Lock()
		for _, d := range runDirs {
			os.RemoveAll(d)
		}
		if active != nil {
			active.Close()
		}
		os.Exit(130)
	}()
}

// runScope runs fn as the step called name and turns a Fatalf into an
// error; keep leaves the step's temporary directories (configs, logs) in
// place.
func runScope(name string, keep *bool, fn func(s *scope)) error {
	defer func() {
		activeMu.Lock()
		active = nil
		activeMu.Unlock()
	}()
	return harness.RunScope(name, func(s *scope) {
		s.KeepDirs = keep != nil && *keep
		activeMu.Lock()
		active = s
		activeMu.Unlock()
		fn(s)
	})
}
