//go:build integration

package harness

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A Fatalf inside RunScope becomes its error, the cleanups run last-in
// first-out, and the temporary directories are removed.
func TestRunScopeFatalRunsCleanups(t *testing.T) {
	var order []string
	var dir string
	err := RunScope("step one", func(s *Scope) {
		dir = s.TempDir()
		s.Cleanup(func() { order = append(order, "first") })
		s.Cleanup(func() { order = append(order, "second") })
		s.Fatalf("broke at %d", 7)
		order = append(order, "after fatal")
	})
	if err == nil || err.Error() != "step one: broke at 7" {
		t.Fatalf("err = %v, want \"step one: broke at 7\"", err)
	}
	if strings.Join(order, ",") != "second,first" {
		t.Errorf("order = %v, want second,first and nothing after Fatalf", order)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still there: %v", dir, err)
	}
}

// Errorf fails the scope without stopping it; KeepDirs and TempRoot keep
// the directories where the caller wants them.
func TestRunScopeErrorfAndKeepDirs(t *testing.T) {
	root := t.TempDir()
	var dir string
	reached := false
	err := RunScope("keep", func(s *Scope) {
		s.TempRoot, s.KeepDirs = root, true
		dir = s.TempDir()
		s.Errorf("one board failed")
		reached = true
	})
	if err == nil || !reached {
		t.Fatalf("err = %v, reached = %v; want a failure after fn ran to the end", err, reached)
	}
	if !strings.HasPrefix(dir, root+"/") {
		t.Errorf("temp dir %s not under TempRoot %s", dir, root)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("KeepDirs: %v", err)
	}
	if err := RunScope("ok", func(s *Scope) {}); err != nil {
		t.Errorf("empty scope: %v", err)
	}
}

// Close from another goroutine (an interrupt handler) tears the running
// scope down at once; the cleanups do not run again when fn returns.
func TestScopeCloseFromElsewhere(t *testing.T) {
	runs := 0
	var dir string
	closed := make(chan struct{})
	err := RunScope("interrupted", func(s *Scope) {
		dir = s.TempDir()
		s.Cleanup(func() { runs++ })
		go func() { s.Close(); close(closed) }()
		<-closed
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("temp dir %s still there after Close: %v", dir, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 {
		t.Errorf("cleanup ran %d times, want once", runs)
	}
}

// A Net made in a scope is torn down when the scope ends, as at the end of
// a test: its process stopped and its namespaces deleted.
func TestScopeTearsDownNet(t *testing.T) {
	var n *Net
	var p *Proc
	err := RunScope("net", func(s *Scope) {
		n = NewNet(s)
		n.AddClient(s, "a")
		p = n.Start(s, n.NS, "sleeper", "sleep", "600")
		s.Fatalf("stop here")
	})
	if err == nil {
		t.Fatal("want the Fatalf as an error")
	}
	if !p.Exited() {
		t.Errorf("process still running after the scope ended")
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.NS) {
		t.Errorf("namespaces left after the scope ended:\n%s", out)
	}
}
