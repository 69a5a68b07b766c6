// Package packaging holds the systemd units and sysusers.d entry that
// `make install` puts in place; its test verifies them with systemd-analyze.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
		"rpinetboot-dhcp.service": {"CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW", "ProtectSystem=strict", "StateDirectory=rpinetboot", "NoNewPrivileges=yes", "User=rpinetboot", "MemoryMax="},
		"rpi-tftpd.service": {"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "ProtectSystem=strict", "ReadOnlyPaths=/etc/rpinetboot /srv/rpinetboot",
			"NoNewPrivileges=yes", "User=rpi-tftpd\n", "SupplementaryGroups=rpinetboot\n", "ReadOnlyPaths=/var/lib/rpinetboot\n", "MemoryMax="},
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

// rpi-tftpd must not own a state directory: systemd would hand the store's
// directory to its user, which is exactly the write access it must not have.
func TestTFTPDOwnsNoState(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("systemd", "rpi-tftpd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"StateDirectory=", "User=rpinetboot", "ReadWritePaths="} {
		if strings.Contains(string(b), bad) {
			t.Errorf("rpi-tftpd.service has %q", bad)
		}
	}
	s, err := os.ReadFile(filepath.Join("sysusers.d", "rpinetboot.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s), "u rpi-tftpd ") || !strings.Contains(string(s), "m rpi-tftpd rpinetboot") {
		t.Errorf("sysusers.d lacks the rpi-tftpd user in group rpinetboot:\n%s", s)
	}
}

// systemd's own exposure score of each unit stays in its "OK" band.
func TestUnitsSecurityScore(t *testing.T) {
	for _, u := range []string{"rpinetboot-dhcp.service", "rpi-tftpd.service"} {
		// deps: systemd-analyze
		out, err := exec.Command("systemd-analyze", "security", "--offline=true", filepath.Join("systemd", u)).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", u, err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no exposure level in:\n%s", out)
		}
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v > 2.0 {
			t.Errorf("%s exposure %.1f, want at most 2.0:\n%s", u, v, out)
		}
		t.Logf("%s: exposure %s", u, m[1])
	}
}
