package macpin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// on-new runs once per new pin, with the pinned address, and never for a
// known MAC, a retransmit, or a REQUEST of the pinned address; a hook that
// hangs does not slow the OFFER.
func TestOnNewHookOncePerNewPin(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$RPINETBOOT_MAC $RPINETBOOT_IP $RPINETBOOT_HOSTNAME\" >> "+dir+"/runs\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, _ := start(t, "10.0.0.10", "10.0.0.20", "on-new="+hook, "on-new-timeout=200ms", "on-new-retries=0")
	mac := hw(1)
	start := time.Now()
	ip := discover(t, m, mac, dhcpv4.WithOption(dhcpv4.OptHostName("node1")))
	if d := time.Since(start); d > time.Second {
		t.Errorf("first OFFER took %v with a hanging hook", d)
	}
	if again := discover(t, m, mac); again != ip {
		t.Fatalf("second DISCOVER got %s, first %s", again, ip)
	}
	req, resp := packet(t, mac, dhcpv4.MessageTypeRequest, withRequested(ip))
	if out, _ := m.Handler4(req, resp); out == nil || out.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatal("REQUEST of the pinned address not ACKed")
	}
	var runs []byte
	eventually(t, "the hook to run", func() bool {
		runs, _ = os.ReadFile(filepath.Join(dir, "runs"))
		return len(runs) > 0
	})
	time.Sleep(400 * time.Millisecond) // past the timeout: no retry configured
	runs, _ = os.ReadFile(filepath.Join(dir, "runs"))
	if got, want := string(runs), mac.String()+" "+ip.String()+" node1\n"; got != want {
		t.Errorf("hook runs %q, want exactly %q", got, want)
	}
	if n := m.cfg.OnNew.Attempts(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if _, err := ParseArgs("/x", "10.0.0.1", "10.0.0.2", "1h", "bogus=1"); err == nil || !strings.Contains(err.Error(), "on-new=") {
		t.Errorf("usage in %v does not mention on-new=", err)
	}
}
