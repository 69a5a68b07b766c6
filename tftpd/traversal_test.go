package tftpd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTraversalBattery sends hostile names to a live server: each must get a
// TFTP ERROR and a log line, and nothing from outside root may come back.
func TestTraversalBattery(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	root := filepath.Join(base, "root")
	const secret = "TOPSECRET-outside-the-tree"
	writeTree(t, outside, map[string]string{"secret.txt": secret})
	writeTree(t, root, map[string]string{
		"default/bootcode.bin":       "ok",
		"default/boot.scr.tmpl":      "echo hi",
		"default/esc-file":           "->../../outside/secret.txt",
		"default/esc-dir":            "->../../outside",
		"default/esc-abs":            "->" + filepath.Join(outside, "secret.txt"),
		"default/loop":               "->loop",
		"nodes/1234abcd/esc-file":    "->../../../outside/secret.txt",
		"nodes/deadbeef":             "->" + outside,
		"models/rpi-4-b/kernel8.img": "->../../../outside/secret.txt",
	})
	ts := startServer(t, root, nil, nil)

	hostile := []string{
		"../outside/secret.txt",
		"../../outside/secret.txt",
		"../../../../../../etc/passwd",
		"/etc/passwd",
		"/default/bootcode.bin",
		filepath.Join(outside, "secret.txt"),
		"..",
		".",
		"./bootcode.bin",
		"overlays/../../outside/secret.txt",
		"default/../../outside/secret.txt",
		"1234abcd/../../outside/secret.txt",
		"rpi-4-b/../../../outside/secret.txt",
		"..\\outside\\secret.txt",
		"\\etc\\passwd",
		"bootcode.bin/..",
		"a//bootcode.bin",
		"bootcode.bin/",
		"esc-file",
		"esc-dir/secret.txt",
		"esc-abs",
		"loop",
		"1234abcd/esc-file",
		"deadbeef/secret.txt",
		"rpi-4-b/kernel8.img",
		"boot.scr.tmpl",
		"bad\x01name",
		"bad\x7fname",
		"\xff\xfe",
		"",
	}
	if len(hostile) < 20 {
		t.Fatalf("battery has %d paths, want at least 20", len(hostile))
	}
	for i, name := range hostile {
		c := ts.client(t)
		data, _, err := c.get(name, 0)
		var te *tftpError
		if !errors.As(err, &te) {
			t.Errorf("%q: want a TFTP error, got data %q err %v", name, data, err)
			continue
		}
		if bytes.Contains(data, []byte(secret)) || strings.Contains(te.msg, secret) {
			t.Errorf("%q: leaked the secret", name)
		}
		// One client's refusals: the first few are logged, each with its
		// file; the rest only counted, so a probing client cannot flood
		// the log (loglimit).
		logged := ts.logged("request refused", name)
		if i < warnBurst && !logged {
			t.Errorf("%q: no 'request refused' log line (error %v)", name, te)
		}
		if i >= warnBurst && name != "" && logged {
			t.Errorf("%q: refusal %d of one client logged, past the limit of %d", name, i+1, warnBurst)
		}
	}
	// A legitimate file still works after the battery.
	data, _, err := ts.client(t).get("bootcode.bin", 0)
	if err != nil || string(data) != "ok" {
		t.Fatalf("bootcode.bin after battery: %q, %v", data, err)
	}
	if got := testutilCounter(t, ts, "rpi_tftpd_transfers_total", "refused"); got != float64(len(hostile)) {
		t.Errorf("refused transfers metric = %v, want %d", got, len(hostile))
	}
	if _, err := os.Stat(filepath.Join(outside, "secret.txt")); err != nil {
		t.Fatal(err)
	}
}
