package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a process started in a namespace by Net.Start.
type Proc struct {
	Name    string // the name given to Start
	LogPath string // stdout and stderr
	Argv    []string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, valid once done is closed
}

// Start starts argv inside namespace ns (through `ip netns exec`, which execs
// without forking, so the Proc's pid is the program's). Its stdout and stderr
// go to Dir/name.log (name-2.log, … for a name used again). It is stopped at
// cleanup: SIGTERM to its process group, SIGKILL after 3 s.
func (n *Net) Start(t testing.TB, ns, name string, argv ...string) *Proc {
	t.Helper()
	n.mu.Lock()
	n.logSeq[name]++
	logName := name
	if k := n.logSeq[name]; k > 1 {
		logName = fmt.Sprintf("%s-%d", name, k)
	}
	n.mu.Unlock()
	path := filepath.Join(n.Dir, logName+".log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("harness: start %s: %v", name, err)
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("harness: start %s (%s): %v", name, strings.Join(argv, " "), err)
	}
	p := &Proc{Name: name, LogPath: path, Argv: argv, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	return p
}

// Pid is the process id of the program.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill9 kills the process group with SIGKILL (a crash, not a shutdown) and
// waits for the process to be reaped.
func (p *Proc) Kill9() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Signal sends sig to the process (not its group).
func (p *Proc) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// ErrWaitTimeout is returned by Wait when the process is still running.
var ErrWaitTimeout = errors.New("process still running")

// Wait waits up to timeout for the process to end and returns its exit
// status (nil for exit code 0), or an error wrapping ErrWaitTimeout.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s: %w", p.Name, p.err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s after %v: %w", p.Name, timeout, ErrWaitTimeout)
	}
}

// Log returns what the process has written so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", p.LogPath, err)
	}
	return string(b)
}

// stop ends the process politely, then by force.
func (p *Proc) stop() {
	if p.Exited() {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}
