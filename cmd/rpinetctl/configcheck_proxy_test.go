package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A proxyDHCP configuration needs no macpin store, and proxydhcp must be
// the last plugin (later plugins would add to or answer what it silenced).
func TestConfigCheckProxyMode(t *testing.T) {
	dir := t.TempDir()
	write := func(plugins string) string {
		p := filepath.Join(dir, "config.yml")
		text := "server4:\n  listen: [\"%eth0\", \"%eth0:4011\"]\n  plugins:\n" + plugins +
			"rpi-tftpd:\n  listen: 192.168.50.1:69\n  root: " + dir + "\n"
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	probs, _ := checkConfig(write("    - server_id: 192.168.50.1\n    - rpipxe:\n    - proxydhcp:\n"))
	if len(probs) != 0 {
		t.Errorf("valid proxy config: %v", probs)
	}
	probs, _ = checkConfig(write("    - server_id: 192.168.50.1\n    - proxydhcp:\n    - rpipxe:\n"))
	if len(probs) != 1 || !strings.Contains(probs[0], "proxydhcp: must be the last plugin") {
		t.Errorf("proxydhcp before rpipxe: %v, want one problem saying it must be last", probs)
	}
	probs, _ = checkConfig(write("    - server_id: 192.168.50.1\n    - rpipxe:\n"))
	if !strings.Contains(strings.Join(probs, "\n"), "rpi-tftpd.store: missing") {
		t.Errorf("full-server config without store: %v, want the store still required", probs)
	}
}
