package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// target is one place an event goes.
type target interface {
	name() string
	deliver(n *Notifier, ev Event) error
}

// execTarget runs an executable with the event in its environment.
type execTarget string

func (t execTarget) name() string { return string(t) }

// outputTail is how much of a failed hook's output the log line carries.
const outputTail = 512

// Env is the environment a hook gets on top of coredhcp's own: the event's
// facts as RPINETBOOT_* variables (empty when not known). The facts are
// validated where they enter (a host name is RFC 1123, a model a safe
// name); any value holding a byte outside printable ASCII is dropped here
// all the same, so no newline or escape sequence can reach a hook.
func (ev Event) Env() []string {
	return []string{
		"RPINETBOOT_EVENT=" + printable(ev.Kind),
		"RPINETBOOT_SOURCE=" + printable(ev.Source),
		"RPINETBOOT_MAC=" + printable(ev.MAC),
		"RPINETBOOT_IP=" + printable(ev.IP),
		"RPINETBOOT_MODEL=" + printable(ev.Model),
		"RPINETBOOT_SERIAL=" + printable(ev.Serial),
		"RPINETBOOT_HOSTNAME=" + printable(ev.Hostname),
		"RPINETBOOT_TIME=" + ev.Time.UTC().Format(time.RFC3339),
	}
}

// printable returns s if every byte is printable ASCII other than a quote,
// backslash or shell metacharacter, else "".
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || strings.IndexByte("\"'`$;&|<>(){}*?!#~", c) >= 0 {
			return ""
		}
	}
	return s
}

// deliver runs the hook in its own process group, so on timeout the hook
// and anything it started are killed together; exit status 0 is success.
func (t execTarget) deliver(n *Notifier, ev Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	// deps: user
	cmd := exec.CommandContext(ctx, string(t))
	cmd.Env = append(os.Environ(), ev.Env()...)
	cmd.Dir = "/"
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild holding the output pipe must not keep Wait waiting.
	cmd.WaitDelay = time.Second
	err := startWithoutAmbient(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("hook %s killed after %v (timeout): %w", t, n.cfg.Timeout, ctx.Err())
	}
	if err != nil {
		if s := strings.TrimSpace(out.String()); s != "" {
			return fmt.Errorf("hook %s: %w; output: %q", t, err, s)
		}
		return fmt.Errorf("hook %s: %w", t, err)
	}
	return nil
}

// startWithoutAmbient starts cmd from an OS thread whose ambient and
// inheritable capability sets are cleared first, so a hook inherits none of coredhcp's
// (the unit grants CAP_NET_BIND_SERVICE and CAP_NET_RAW as ambient
// capabilities, which a child would otherwise keep). Capabilities are per
// thread: the thread is locked for this and never returned to the
// scheduler, so no other goroutine runs with the cleared set.
func startWithoutAmbient(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
			errc <- fmt.Errorf("hook %s: clear ambient capabilities: %w", cmd.Path, err)
			return
		}
		// The inheritable set too: with it a program carrying inheritable
		// file capabilities would get them back.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err == nil {
			data[0].Inheritable, data[1].Inheritable = 0, 0
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				errc <- fmt.Errorf("hook %s: clear inheritable capabilities: %w", cmd.Path, err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// urlTarget POSTs the event as JSON.
type urlTarget string

func (t urlTarget) name() string { return string(t) }

// deliver POSTs ev; any 2xx status is success.
func (t urlTarget) deliver(n *Notifier, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	req, err := http.NewRequest(http.MethodPost, string(t), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", t, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rpinetboot-events")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", t, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, outputTail))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post %s: status %s: %q", t, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// tailBuffer keeps the last outputTail bytes written to it: a chatty hook
// cannot grow coredhcp's memory, and the end of its output says why it failed.
type tailBuffer struct{ b []byte }

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > outputTail {
		w.b = append(w.b[:0], w.b[len(w.b)-outputTail:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string { return string(w.b) }
