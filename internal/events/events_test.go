package events

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// rig is a notifier whose outcomes and log lines the test can read.
type rig struct {
	n    *Notifier
	logs *test.Hook
	out  chan Outcome
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	r := &rig{n: New(cfg, logrus.NewEntry(logger)), logs: hook, out: make(chan Outcome, 100)}
	r.n.onOutcome = func(o Outcome) { r.out <- o }
	t.Cleanup(r.n.Close)
	return r
}

// next waits for the next attempt's outcome.
func (r *rig) next(t *testing.T, within time.Duration) Outcome {
	t.Helper()
	select {
	case o := <-r.out:
		return o
	case <-time.After(within):
		t.Fatalf("no delivery attempt within %v", within)
		return Outcome{}
	}
}

// quiet fails if another attempt happens within d.
func (r *rig) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case o := <-r.out:
		t.Fatalf("unexpected extra attempt %d for %s (err %v)", o.Attempt, o.Event.MAC, o.Err)
	case <-time.After(d):
	}
}

func (r *rig) hasLog(level logrus.Level, msg string) *logrus.Entry {
	for _, e := range r.logs.AllEntries() {
		if e.Level == level && e.Message == msg {
			return e
		}
	}
	return nil
}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

var pi4 = Event{Source: "macpin", MAC: "dc:a6:32:01:02:03", IP: "192.168.50.100", Model: "rpi-4-b", Serial: "4b010203", Hostname: "node7"}

// The hook gets every fact as an environment variable, and a node seen
// twice (a retransmitted DISCOVER) runs it once.
func TestHookRunsOnceWithEnvironment(t *testing.T) {
	dir := t.TempDir()
	hook := script(t, `env | grep '^RPINETBOOT_' | sort >> '`+dir+`/env'; echo run >> '`+dir+`/runs'`)
	r := newRig(t, Config{Exec: hook})
	if !r.n.Fire(pi4) {
		t.Fatal("first Fire for a MAC was not queued")
	}
	if r.n.Fire(pi4) {
		t.Error("second Fire for the same MAC was queued")
	}
	if o := r.next(t, 5*time.Second); o.Err != nil {
		t.Fatalf("hook failed: %v", o.Err)
	}
	r.quiet(t, 200*time.Millisecond)
	runs, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if got := strings.Count(string(runs), "run"); got != 1 {
		t.Errorf("hook ran %d times, want 1", got)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	for _, want := range []string{"RPINETBOOT_EVENT=new-node", "RPINETBOOT_SOURCE=macpin", "RPINETBOOT_MAC=dc:a6:32:01:02:03",
		"RPINETBOOT_IP=192.168.50.100", "RPINETBOOT_MODEL=rpi-4-b", "RPINETBOOT_SERIAL=4b010203", "RPINETBOOT_HOSTNAME=node7"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("hook environment lacks %s:\n%s", want, env)
		}
	}
	if e := r.hasLog(logrus.InfoLevel, "new-node event delivered"); e == nil || e.Data["mac"] != pi4.MAC || e.Data["target"] != hook {
		t.Errorf("no info line with mac and target for the delivery: %v", r.logs.AllEntries())
	}
}

// A hook that hangs is killed at the timeout (its children too) and the
// failure is logged; Fire itself returns at once.
func TestHungHookIsKilledAndLogged(t *testing.T) {
	dir := t.TempDir()
	hook := script(t, `sleep 30 & echo $! > '`+dir+`/child'; wait`)
	r := newRig(t, Config{Exec: hook, Timeout: 500 * time.Millisecond, Attempts: 1})
	start := time.Now()
	r.n.Fire(pi4)
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Fire took %v; it must only queue", d)
	}
	o := r.next(t, 5*time.Second)
	if o.Err == nil || !strings.Contains(o.Err.Error(), "timeout") {
		t.Fatalf("hung hook: err %v, want a timeout", o.Err)
	}
	if o.Duration > 2*time.Second {
		t.Errorf("hung hook held a worker %v, want about the 500ms timeout", o.Duration)
	}
	if !o.Final {
		t.Error("single attempt not final")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "child"))
	if pid := strings.TrimSpace(string(b)); pid != "" {
		// SIGKILL lands asynchronously: give the child a moment to die
		// (gone, or a zombie awaiting its new parent's wait).
		alive := func() bool {
			st, err := os.ReadFile("/proc/" + pid + "/stat")
			return err == nil && !strings.Contains(string(st), ") Z")
		}
		for deadline := time.Now().Add(2 * time.Second); alive() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if alive() {
			t.Errorf("the hook's child %s still runs 2 s after the timeout", pid)
		}
	} else {
		t.Error("the hook never started its child")
	}
	if r.hasLog(logrus.ErrorLevel, "new-node event delivery failed; giving up") == nil {
		t.Errorf("no error line for the killed hook: %v", r.logs.AllEntries())
	}
}

// A failing hook is retried with a doubling backoff, each failure logged,
// and given up after the configured attempts.
func TestFailingHookRetriedWithBackoff(t *testing.T) {
	hook := script(t, `echo "no NFS root for $RPINETBOOT_MAC" >&2; exit 1`)
	r := newRig(t, Config{Exec: hook, Attempts: 4, Backoff: 50 * time.Millisecond})
	r.n.Fire(pi4)
	var at []time.Time
	for i := 1; i <= 4; i++ {
		o := r.next(t, 5*time.Second)
		at = append(at, time.Now())
		if o.Attempt != i || o.Err == nil || o.Final != (i == 4) {
			t.Fatalf("attempt %d: got attempt %d err %v final %v", i, o.Attempt, o.Err, o.Final)
		}
		if !strings.Contains(o.Err.Error(), "no NFS root for dc:a6:32:01:02:03") {
			t.Errorf("error lacks the hook's output: %v", o.Err)
		}
	}
	r.quiet(t, 600*time.Millisecond)
	// Gaps: 50, 100, 200 ms.
	for i, want := range []time.Duration{50, 100, 200} {
		gap := at[i+1].Sub(at[i])
		if gap < want*time.Millisecond || gap > want*time.Millisecond+time.Second {
			t.Errorf("gap before attempt %d = %v, want about %dms", i+2, gap, want)
		}
	}
	retries := 0
	for _, e := range r.logs.AllEntries() {
		if e.Message == "new-node event delivery failed; will retry" {
			retries++
		}
	}
	if retries != 3 || r.hasLog(logrus.ErrorLevel, "new-node event delivery failed; giving up") == nil {
		t.Errorf("logged %d retries and give-up=%v, want 3 and a give-up line", retries,
			r.hasLog(logrus.ErrorLevel, "new-node event delivery failed; giving up") != nil)
	}
}

// The URL receives the event as JSON; a failing URL is retried until it
// answers 2xx.
func TestPostJSONWithRetries(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if req.Header.Get("Content-Type") != "application/json" || req.Method != http.MethodPost {
			t.Errorf("got %s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
		}
		if n < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	r := newRig(t, Config{URL: srv.URL + "/hook", Attempts: 5, Backoff: 20 * time.Millisecond})
	r.n.Fire(pi4)
	for i := 1; i <= 3; i++ {
		o := r.next(t, 5*time.Second)
		if (o.Err == nil) != (i == 3) {
			t.Fatalf("attempt %d: err %v", i, o.Err)
		}
	}
	r.quiet(t, 300*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 3 {
		t.Fatalf("server saw %d POSTs, want 3 (two 503s, then success)", len(bodies))
	}
	var got Event
	if err := json.Unmarshal([]byte(bodies[2]), &got); err != nil {
		t.Fatalf("body %q: %v", bodies[2], err)
	}
	if got.Kind != "new-node" || got.MAC != pi4.MAC || got.IP != pi4.IP || got.Model != pi4.Model ||
		got.Serial != pi4.Serial || got.Hostname != pi4.Hostname || got.Source != "macpin" || got.Time.IsZero() {
		t.Errorf("posted event %+v, want the facts of %+v", got, pi4)
	}
}

// Stanza options: good ones fill the config, bad ones name the fix.
func TestParseArg(t *testing.T) {
	hook := script(t, "exit 0")
	var c Config
	for _, a := range []string{"on-new=" + hook, "on-new-url=http://127.0.0.1:8080/x", "on-new-timeout=3s", "on-new-retries=2", "on-new-backoff=250ms"} {
		if ok, err := ParseArg(&c, a); !ok || err != nil {
			t.Fatalf("%s: ok=%v err=%v", a, ok, err)
		}
	}
	if c.Exec != hook || c.URL != "http://127.0.0.1:8080/x" || c.Timeout != 3*time.Second || c.Attempts != 3 || c.Backoff != 250*time.Millisecond {
		t.Errorf("parsed %+v", c)
	}
	if ok, err := ParseArg(&c, "form=menu"); ok || err != nil {
		t.Errorf("foreign option: ok=%v err=%v, want not handled", ok, err)
	}
	notExec := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(notExec, []byte("x"), 0o644)
	for arg, want := range map[string]string{
		"on-new=relative/hook":     "absolute path",
		"on-new=/nonexistent/hook": "no such file",
		"on-new=" + notExec:        "not an executable",
		"on-new=":                  "empty value",
		"on-new-url=ftp://x/y":     "http://",
		"on-new-url=http://":       "with a host",
		"on-new-timeout=soon":      "duration",
		"on-new-retries=-1":        "between 0 and 100",
		"on-new-backoff=0s":        "duration",
	} {
		var c Config
		ok, err := ParseArg(&c, arg)
		if !ok || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: ok=%v err=%v, want an error mentioning %q", arg, ok, err, want)
		}
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	c := Config{Backoff: time.Second}.withDefaults()
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 30: maxBackoff} {
		if got := c.backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// A hook's environment never carries a byte a shell or a terminal would act
// on, whatever the event's facts hold.
func TestEnvDropsHostileValues(t *testing.T) {
	ev := Event{Kind: KindNewNode, Source: "macpin", MAC: "dc:a6:32:01:02:03", IP: "10.0.0.5",
		Hostname: "pi\nsetenv bootcmd reset", Model: "$(reboot)", Serial: "`id`"}
	for _, kv := range ev.Env() {
		_, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(v, "\n$`;() \x1b") {
			t.Errorf("hook environment carries %q", kv)
		}
	}
	env := strings.Join(ev.Env(), "\n")
	if !strings.Contains(env, "RPINETBOOT_MAC=dc:a6:32:01:02:03") || !strings.Contains(env, "RPINETBOOT_HOSTNAME=\n") {
		t.Errorf("environment:\n%s", env)
	}
}
