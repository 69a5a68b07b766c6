package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// config check validates a PostgreSQL store DSN without connecting: a
// missing password file is reported, an inline password never printed.
func TestConfigCheckPostgresDSN(t *testing.T) {
	dir := t.TempDir()
	good := exampleConfig(t, dir)
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pgpass")
	write(t, pw, "s3cret\n")
	for _, tc := range []struct {
		dsn  string
		code int
		want string
	}{
		{"postgres://dhcp@db.lab/rpinetboot?password_file=" + pw, exitOK, ": OK ("},
		{"postgres://dhcp@db.lab/rpinetboot?password_file=" + filepath.Join(dir, "nope"), exitFail, "read password_file"},
		{"postgres://dhcp:inline@db.lab/rpinetboot?sslmode=bogus", exitFail, "dhcp:xxxxx@db.lab"},
		{"postgres://dhcp@db.lab", exitFail, "names no database"},
	} {
		cfg := filepath.Join(dir, "pg.yml")
		write(t, cfg, strings.Replace(string(orig), "macpin: "+dir+"/nodes.db ", "macpin: "+tc.dsn+" ", 1))
		r := rpc(t, "config", "check", "-c", cfg)
		r.want(t, tc.code, tc.want)
		if strings.Contains(r.stdout+r.stderr, "inline") {
			t.Errorf("config check printed the password:\n%s%s", r.stdout, r.stderr)
		}
	}
}
