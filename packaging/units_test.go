// Package packaging holds the systemd units and sysusers.d entry that
// `make install` puts in place; its test verifies them with systemd-analyze.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitsVerify runs `systemd-analyze verify` on both units, with ExecStart
// pointed at stand-in executables so the check does not need an installed copy.
func TestUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze (package systemd) is required: %v", err)
	}
	dir := t.TempDir()
	stand := filepath.Join(dir, "bin")
	if err := os.Mkdir(stand, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"coredhcp", "rpi-tftpd"} {
		if err := os.WriteFile(filepath.Join(stand, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var units []string
	for _, u := range []string{"rpinetboot-dhcp.service", "rpi-tftpd.service"} {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/", stand+"/")
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	// deps: systemd-analyze
	out, err := exec.Command(sa, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestLeastPrivilege guards the hardening lines a reviewer would look for.
func TestLeastPrivilege(t *testing.T) {
	want := map[string][]string{
		"rpinetboot-dhcp.service": {"CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW", "ProtectSystem=strict", "StateDirectory=rpinetboot", "NoNewPrivileges=yes", "User=rpinetboot"},
		"rpi-tftpd.service":       {"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "ProtectSystem=strict", "ReadOnlyPaths=/etc/rpinetboot /srv/rpinetboot", "NoNewPrivileges=yes", "User=rpinetboot"},
	}
	for u, lines := range want {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if !strings.Contains(string(b), l) {
				t.Errorf("%s lacks %q", u, strings.TrimSpace(l))
			}
		}
	}
}
