package tftpd

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pack encodes r back into a request packet (the inverse of parseRequest).
func (r *request) pack() []byte {
	b := make([]byte, 2, 64+len(r.file))
	binary.BigEndian.PutUint16(b, r.op)
	b = append(append(b, r.file...), 0)
	b = append(append(b, r.mode...), 0)
	for _, o := range r.opts {
		b = append(append(b, o.name...), 0)
		b = append(append(b, o.value...), 0)
	}
	return b
}

// FuzzParseRequest: any bytes parse or fail cleanly, and a parsed request
// survives a round trip through pack.
func FuzzParseRequest(f *testing.F) {
	f.Add(rrq("start4.elf", "tsize", "0", "blksize", "1024"))
	f.Add(rrq("rpi-4-b/boot.scr", "timeout", "5", "blksize", "1468"))
	f.Add([]byte{0, 2, 'x', 0, 'o', 'c', 't', 'e', 't', 0})
	f.Add([]byte{0, 1, 0, 0})
	f.Add([]byte{0, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		r2, err := parseRequest(r.pack())
		if err != nil {
			t.Fatalf("repacked request does not parse: %v", err)
		}
		if r2.file != r.file || r2.mode != r.mode || len(r2.opts) != len(r.opts) {
			t.Fatalf("round trip changed %+v into %+v", r, r2)
		}
	})
}

// FuzzSplitRequest: an accepted name is relative, has no "."/".." or empty
// component, no backslash or control character, and stays under a base
// directory when joined to it.
func FuzzSplitRequest(f *testing.F) {
	for _, s := range []string{"bootcode.bin", "1234abcd/start4.elf", "../x", "/etc/passwd", "a\\b", "a/./b", "a//b", "overlays/x.dtbo", "x.tmpl", ".hidden", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		parts, err := splitRequest(name)
		if err != nil {
			return
		}
		if strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") {
			t.Fatalf("accepted %q", name)
		}
		for _, p := range parts {
			if p == "" || p == "." || p == ".." {
				t.Fatalf("accepted %q with component %q", name, p)
			}
		}
		j := filepath.Join("/base", name)
		if !strings.HasPrefix(j, "/base/") {
			t.Fatalf("%q escapes the base directory as %q", name, j)
		}
	})
}

// FuzzResolveConfined resolves arbitrary names in a tree with symlinks
// leading out of it: whatever resolves must be inside root and never the
// secret next to it.
func FuzzResolveConfined(f *testing.F) {
	for _, s := range []string{"esc", "esc-dir/secret", "1234abcd/esc", "rpi-4-b/esc-dir/secret", "ok", "../secret", "deadbeef/ok"} {
		f.Add(s)
	}
	base := f.TempDir()
	const secret = "SECRET"
	writeTree(f, base, map[string]string{
		"secret":                  secret,
		"root/default/ok":         "ok",
		"root/default/esc":        "->../../secret",
		"root/default/esc-dir":    "->../..",
		"root/nodes/1234abcd/esc": "->/etc/passwd",
	})
	root, err := os.OpenRoot(filepath.Join(base, "root"))
	if err != nil {
		f.Fatal(err)
	}
	r := NewResolver(root, nil, "")
	f.Fuzz(func(t *testing.T, name string) {
		res, err := r.Resolve(name, Facts{Serial: "1234abcd", Model: "rpi-4-b"})
		if err != nil {
			return
		}
		b, err := root.ReadFile(res.Path)
		if err != nil {
			t.Fatalf("resolved %q to %s, which does not open in root: %v", name, res.Path, err)
		}
		if bytes.Equal(b, []byte(secret)) {
			t.Fatalf("%q reached the secret outside root", name)
		}
	})
}
