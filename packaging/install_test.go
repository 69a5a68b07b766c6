package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall runs `make install` into a scratch DESTDIR twice: every
// file lands where the units expect it, the units start the binaries under
// PREFIX, and a second install (an upgrade) keeps the admin's config.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is required: %v", err)
	}
	dest := t.TempDir()
	install := func() {
		t.Helper()
		cmd := exec.Command("make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/usr", "BIN="+filepath.Join(t.TempDir(), "bin"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
	}
	install()
	for path, mode := range map[string]os.FileMode{
		"usr/bin/coredhcp":                           0o755,
		"usr/bin/rpi-tftpd":                          0o755,
		"usr/bin/rpinetctl":                          0o755,
		"etc/systemd/system/rpinetboot-dhcp.service": 0o644,
		"etc/systemd/system/rpi-tftpd.service":       0o644,
		"usr/lib/sysusers.d/rpinetboot.conf":         0o644,
		"usr/lib/sysctl.d/50-rpinetboot.conf":        0o644,
		"etc/rpinetboot/config.yml":                  0o644,
		"etc/rpinetboot/models.yml":                  0o644,
	} {
		fi, err := os.Stat(filepath.Join(dest, path))
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "srv/rpinetboot/tftp/default")); err != nil {
		t.Errorf("example TFTP tree not installed: %v", err)
	}
	for _, u := range []string{"rpinetboot-dhcp.service", "rpi-tftpd.service"} {
		b, _ := os.ReadFile(filepath.Join(dest, "etc/systemd/system", u))
		if !strings.Contains(string(b), "ExecStart=/usr/bin/") || strings.Contains(string(b), "/usr/local/bin") {
			t.Errorf("%s does not start the binary under PREFIX=/usr:\n%s", u, b)
		}
	}
	// deps: built
	out, err := exec.Command(filepath.Join(dest, "usr/bin/coredhcp"), "--plugins").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "macpin") || !strings.Contains(string(out), "metrics") {
		t.Errorf("installed coredhcp --plugins: %v\n%s", err, out)
	}

	// An upgrade never overwrites what the admin edited.
	cfg := filepath.Join(dest, "etc/rpinetboot/config.yml")
	if err := os.WriteFile(cfg, []byte("# edited by the admin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	install()
	if b, _ := os.ReadFile(cfg); string(b) != "# edited by the admin\n" {
		t.Errorf("second make install overwrote the admin's config.yml")
	}
}
