//go:build integration

package pgserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A cluster starts as the postgres user, takes connections with the
// password from its file only, survives Stop/StartAgain with its data, and
// is gone (process and directory) after cleanup.
func TestClusterLifecycle(t *testing.T) {
	var s *Server
	t.Run("cluster", func(t *testing.T) {
		s = Start(t)
		ctx := context.Background()
		if err := s.Exec(ctx, "postgres", "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
			t.Fatal(err)
		}
		c, err := s.Connect(ctx, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		var owner string
		c.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'postgres'").Scan(&owner)
		c.Close(ctx)
		if owner != User {
			t.Errorf("database owner %q, want %q", owner, User)
		}
		if st, err := os.Stat(s.DataDir); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("data dir %v, %v: want mode 0700", st.Mode(), err)
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Connect(ctx, "postgres"); err == nil {
			t.Fatal("connected to a stopped cluster")
		}
		if err := s.StartAgain(); err != nil {
			t.Fatal(err)
		}
		c, err = s.Connect(ctx, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		var v int
		c.QueryRow(ctx, "SELECT v FROM kept").Scan(&v)
		c.Close(ctx)
		if v != 42 {
			t.Errorf("after a restart the table holds %d, want 42", v)
		}
	})
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory left after cleanup: %v", err)
	}
	out, _ := exec.Command("pgrep", "-f", s.DataDir).Output()
	if strings.TrimSpace(string(out)) != "" {
		t.Errorf("postmaster still running after cleanup: pids %s", out)
	}
}

// Leftovers of a dead test process are killed and removed; those of this
// (live) process are kept.
func TestRemoveLeftovers(t *testing.T) {
	dead := filepath.Join(os.TempDir(), DirPrefix+"999999999-x") // beyond pid_max: never alive
	live := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-x", DirPrefix, os.Getpid()))
	for _, d := range []string{dead, live} {
		os.MkdirAll(filepath.Join(d, "data"), 0o755)
		t.Cleanup(func() { os.RemoveAll(d) })
	}
	stray := exec.Command("sleep", "60") // stands in for an orphaned postmaster
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { stray.Wait(); close(exited) }()
	t.Cleanup(func() { stray.Process.Kill() })
	os.WriteFile(filepath.Join(dead, "data", "postmaster.pid"), []byte(fmt.Sprintf("%d\n/x\n", stray.Process.Pid)), 0o600)

	removeLeftovers()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Error("the dead run's postmaster was not killed")
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("leftover %s not removed: %v", dead, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live run's %s removed: %v", live, err)
	}
}
