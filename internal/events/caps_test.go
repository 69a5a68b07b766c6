//go:build integration

package events

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// capsChild marks the re-executed test binary that plays coredhcp under
// the unit's capabilities.
const capsChild = "RPINETBOOT_EVENTS_CAPS_CHILD"

// A hook starts with no capabilities, although coredhcp runs (as in its
// unit) as an ordinary user with CAP_NET_RAW and CAP_NET_BIND_SERVICE as
// ambient capabilities, which a child would otherwise inherit.
func TestHookInheritsNoCapabilities(t *testing.T) {
	if out := os.Getenv(capsChild); out != "" {
		hookCapsChild(t, out)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the test as another user with ambient capabilities: sudo make test")
	}
	dir, err := os.MkdirTemp("", "rnbt-caps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // the child runs as nobody
		t.Fatal(err)
	}
	out := filepath.Join(dir, "caps")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// deps: setpriv
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=+net_raw,+net_bind_service", "--ambient-caps=+net_raw,+net_bind_service",
		self, "-test.run=^TestHookInheritsNoCapabilities$", "-test.v")
	cmd.Env = append(os.Environ(), capsChild+"="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			caps[k] = strings.TrimSpace(v)
		}
	}
	if caps["parent CapAmb"] == "" || caps["parent CapAmb"] == "0000000000000000" {
		t.Fatalf("the stand-in coredhcp had no ambient capabilities, the test proves nothing:\n%s", b)
	}
	for _, k := range []string{"CapAmb", "CapEff", "CapPrm", "CapInh"} {
		if caps[k] != "0000000000000000" {
			t.Errorf("hook %s = %s, want none:\n%s", k, caps[k], b)
		}
	}
}

// hookCapsChild runs as the stand-in coredhcp: records its own ambient set,
// fires one event and waits for the hook to record the hook's sets.
func hookCapsChild(t *testing.T, out string) {
	self, _ := os.ReadFile("/proc/self/status")
	var amb string
	for _, l := range strings.Split(string(self), "\n") {
		if strings.HasPrefix(l, "CapAmb:") {
			amb = strings.TrimSpace(strings.TrimPrefix(l, "CapAmb:"))
		}
	}
	hook := filepath.Join(filepath.Dir(out), "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n{ echo 'parent CapAmb: "+amb+"'; grep '^Cap' /proc/self/status; } > '"+out+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, Config{Exec: hook})
	r.n.Fire(pi4)
	if o := r.next(t, 5*time.Second); o.Err != nil {
		t.Fatalf("hook failed: %v", o.Err)
	}
}
