package harness

import (
	"fmt"
	"log"
	"os"
	"sync"
	"testing"
)

// Scope lets a program (the demo, the benchmarks) drive the harness, whose
// functions take a testing.TB, outside `go test`. Fatalf aborts the scope
// (RunScope recovers it and returns it as an error), Errorf marks it
// failed and goes on, and Cleanup functions run when the scope ends, so a
// Net's namespaces and processes go away exactly as at the end of a test.
//
// Like testing.T's FailNow, Fatalf must be called from the goroutine
// running RunScope's fn. Only the testing.TB methods the harness and
// its callers use are implemented; the embedded nil TB supplies the
// unexported method that makes Scope a testing.TB, and any other method
// panics.
type Scope struct {
	testing.TB

	// TempRoot is where TempDir creates directories; "" means os.TempDir().
	// Set it before the first TempDir call.
	TempRoot string
	// KeepDirs leaves the TempDir directories (logs, rendered configs) in
	// place when the scope ends; fn may set it at any time, e.g. on failure.
	KeepDirs bool
	// Logger receives Logf and Errorf lines; nil means the log package.
	Logger *log.Logger

	name     string
	mu       sync.Mutex
	failed   bool
	cleanups []func()
	dirs     []string
	closed   bool // Close removed (or kept) the directories
}

// scopeFatal is the panic value of Scope.Fatalf, recovered by RunScope.
type scopeFatal struct{ msg string }

// RunScope runs fn with a fresh Scope called name and returns the message
// of a Fatalf (or the Errorf failures) as an error. Cleanups run last-in
// first-out when fn returns, also after a Fatalf or a panic, then the
// TempDir directories are removed unless KeepDirs is set. Other panics
// are passed on after the cleanups.
func RunScope(name string, fn func(s *Scope)) (err error) {
	s := &Scope{name: name}
	defer func() {
		r := recover()
		s.Close()
		if r != nil {
			f, ok := r.(scopeFatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: %s", name, f.msg)
			return
		}
		if s.Failed() {
			err = fmt.Errorf("%s: failed (see the errors logged above)", name)
		}
	}()
	fn(s)
	return nil
}

// Close runs the cleanups registered so far, last-in first-out, then
// removes the TempDir directories unless KeepDirs is set. RunScope calls
// it when fn returns; a program calls it from another goroutine to tear a
// running scope down at once (on Ctrl-C, say) before it exits. Each
// cleanup runs once, whoever calls Close first.
func (s *Scope) Close() {
	s.runCleanups()
	s.mu.Lock()
	dirs := s.dirs
	done := s.closed
	s.closed = true
	s.mu.Unlock()
	if !done && !s.KeepDirs {
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
}

func (s *Scope) runCleanups() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		f() // a cleanup may register more; they run next
	}
}

// Helper does nothing: there is no test output to attribute lines in.
func (s *Scope) Helper() {}

// Name is the name given to RunScope.
func (s *Scope) Name() string { return s.name }

// Failed reports whether Errorf or Fail was called.
func (s *Scope) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Fail marks the scope failed and goes on.
func (s *Scope) Fail() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

// FailNow ends the scope.
func (s *Scope) FailNow() { panic(scopeFatal{"failed"}) }

// Fatalf ends the scope with the message.
func (s *Scope) Fatalf(format string, args ...any) { panic(scopeFatal{fmt.Sprintf(format, args...)}) }

// Fatal ends the scope with the message.
func (s *Scope) Fatal(args ...any) { panic(scopeFatal{fmt.Sprint(args...)}) }

// Errorf logs the message and marks the scope failed.
func (s *Scope) Errorf(format string, args ...any) {
	s.Logf("error: "+format, args...)
	s.Fail()
}

// Error logs the message and marks the scope failed.
func (s *Scope) Error(args ...any) { s.Errorf("%s", fmt.Sprint(args...)) }

// Logf logs the message prefixed with the scope's name.
func (s *Scope) Logf(format string, args ...any) {
	l := s.Logger
	if l == nil {
		l = log.Default()
	}
	l.Printf(s.name+": "+format, args...)
}

// Log logs the message prefixed with the scope's name.
func (s *Scope) Log(args ...any) { s.Logf("%s", fmt.Sprint(args...)) }

// Cleanup registers f to run when the scope ends.
func (s *Scope) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

// TempDir creates a new directory under TempRoot, removed when the scope
// ends unless KeepDirs is set.
func (s *Scope) TempDir() string {
	if s.TempRoot != "" {
		if err := os.MkdirAll(s.TempRoot, 0o755); err != nil {
			s.Fatalf("temp dir: %v", err)
		}
	}
	d, err := os.MkdirTemp(s.TempRoot, "rnbt-"+sanitize(s.name)+"-")
	if err != nil {
		s.Fatalf("temp dir: %v", err)
	}
	s.mu.Lock()
	s.dirs = append(s.dirs, d)
	s.mu.Unlock()
	return d
}

// sanitize keeps a name usable in a file name.
func sanitize(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
