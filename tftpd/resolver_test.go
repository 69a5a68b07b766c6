package tftpd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// resolverTree is a root exercising every level of the chain.
var resolverTree = map[string]string{
	"default/bootcode.bin":                    "default-bootcode",
	"default/start4.elf":                      "default-start4",
	"default/overlays/disable-bt.dtbo":        "default-overlay",
	"default/only-tmpl.txt.tmpl":              "T {{.Model}}",
	"default/tpl.txt":                         "static default",
	"default/config.txt.tmpl":                 "kernel={{.Entry.Kernel}}",
	"models/rpi-4-b/start4.elf":               "model-start4",
	"models/rpi-4-b/kernel8.img":              "model-kernel",
	"models/rpi-4-b/only-tmpl.txt":            "static model",
	"nodes/1234abcd/start4.elf":               "serial-start4",
	"nodes/dc-a6-32-00-00-01/start4.elf":      "mac-start4",
	"nodes/dc-a6-32-00-00-01/config.txt":      "mac static config",
	"nodes/dc-a6-32-00-00-01/config.txt.tmpl": "mac template config",
	"nodes/dc-a6-32-00-00-01/tpl.txt.tmpl":    "MAC {{.MAC}}",
}

func newResolver(t *testing.T, prefix string) *Resolver {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, resolverTree)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return NewResolver(root, testModels(t), prefix)
}

func TestResolveChain(t *testing.T) {
	r := newResolver(t, "pxe")
	mac := "dc:a6:32:00:00:01"
	for _, tc := range []struct {
		name     string
		req      string
		facts    Facts
		path     string
		template bool
	}{
		{"pi3 bootcode at root", "bootcode.bin", Facts{}, "default/bootcode.bin", false},
		{"serial prefix", "1234abcd/start4.elf", Facts{}, "nodes/1234abcd/start4.elf", false},
		{"unknown serial falls to default", "99999999/start4.elf", Facts{}, "default/start4.elf", false},
		{"serial from store", "start4.elf", Facts{Serial: "1234abcd"}, "nodes/1234abcd/start4.elf", false},
		{"MAC from store", "start4.elf", Facts{MAC: mac}, "nodes/dc-a6-32-00-00-01/start4.elf", false},
		{"MAC prefix", "dc-a6-32-00-00-01/start4.elf", Facts{}, "nodes/dc-a6-32-00-00-01/start4.elf", false},
		{"MAC prefix upper case", "DC-A6-32-00-00-01/start4.elf", Facts{}, "nodes/dc-a6-32-00-00-01/start4.elf", false},
		{"model from store", "start4.elf", Facts{Model: "rpi-4-b"}, "models/rpi-4-b/start4.elf", false},
		{"model prefix (U-Boot stage 2 names)", "rpi-4-b/kernel8.img", Facts{}, "models/rpi-4-b/kernel8.img", false},
		{"model prefix falls to default", "rpi-4-b/bootcode.bin", Facts{}, "default/bootcode.bin", false},
		{"fixed TFTP_PREFIX", "pxe/start4.elf", Facts{MAC: mac}, "nodes/dc-a6-32-00-00-01/start4.elf", false},
		{"serial beats MAC beats model", "start4.elf", Facts{Serial: "1234abcd", MAC: mac, Model: "rpi-4-b"}, "nodes/1234abcd/start4.elf", false},
		{"MAC beats model", "start4.elf", Facts{MAC: mac, Model: "rpi-4-b"}, "nodes/dc-a6-32-00-00-01/start4.elf", false},
		{"prefix serial overrides store serial", "1234abcd/start4.elf", Facts{Serial: "00000000"}, "nodes/1234abcd/start4.elf", false},
		{"static at model beats template at default", "only-tmpl.txt", Facts{Model: "rpi-4-b"}, "models/rpi-4-b/only-tmpl.txt", false},
		{"template at default", "only-tmpl.txt", Facts{}, "default/only-tmpl.txt.tmpl", true},
		{"static beats template at one level", "config.txt", Facts{MAC: mac}, "nodes/dc-a6-32-00-00-01/config.txt", false},
		{"template at MAC beats static at default", "tpl.txt", Facts{MAC: mac}, "nodes/dc-a6-32-00-00-01/tpl.txt.tmpl", true},
		{"subdirectory", "overlays/disable-bt.dtbo", Facts{Serial: "1234abcd"}, "default/overlays/disable-bt.dtbo", false},
		{"serial-looking single name is a file name", "start4.elf", Facts{}, "default/start4.elf", false},
		{"bad model from store ignored", "start4.elf", Facts{Model: "../x"}, "default/start4.elf", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Resolve(tc.req, tc.facts)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tc.req, err)
			}
			if res.Path != tc.path || res.Template != tc.template {
				t.Errorf("Resolve(%q) = %s (template %v), want %s (template %v)", tc.req, res.Path, res.Template, tc.path, tc.template)
			}
		})
	}
}

// TestResolveMultiComponentPrefix: TFTP_PREFIX_STR may be a path.
func TestResolveMultiComponentPrefix(t *testing.T) {
	r := newResolver(t, "site/rack1/")
	res, err := r.Resolve("site/rack1/start4.elf", Facts{MAC: "dc:a6:32:00:00:01"})
	if err != nil || res.Path != "nodes/dc-a6-32-00-00-01/start4.elf" {
		t.Fatalf("prefixed request: %s %v", res.Path, err)
	}
	if _, err := r.Resolve("site/start4.elf", Facts{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("partial prefix must not be stripped: %v", err)
	}
}

func TestResolveFactsFromPrefix(t *testing.T) {
	r := newResolver(t, "")
	res, err := r.Resolve("rpi-4-b/kernel8.img", Facts{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Facts.Model != "rpi-4-b" || res.Name != "kernel8.img" || res.Facts.Entry.Kernel != "kernel8.img" {
		t.Errorf("model prefix: facts %+v name %q", res.Facts, res.Name)
	}
	res, err = r.Resolve("dc-a6-32-00-00-01/start4.elf", Facts{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Facts.MAC != "dc:a6:32:00:00:01" {
		t.Errorf("MAC prefix: MAC %q, want dc:a6:32:00:00:01", res.Facts.MAC)
	}
	res, err = r.Resolve("1234abcd/start4.elf", Facts{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Facts.Serial != "1234abcd" {
		t.Errorf("serial prefix: serial %q", res.Facts.Serial)
	}
}

func TestResolveNotFound(t *testing.T) {
	r := newResolver(t, "")
	for _, req := range []string{"missing.bin", "1234abcd", "overlays", "rpi-4-b/nothing"} {
		if _, err := r.Resolve(req, Facts{Serial: "1234abcd"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) error %v, want ErrNotFound", req, err)
		}
	}
}

func TestResolveFollowsSymlinkInsideRoot(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"models/rpi-4-b/start4.elf": "shared",
		"nodes/1234abcd":            "->../models/rpi-4-b",
	})
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	res, err := NewResolver(root, nil, "").Resolve("1234abcd/start4.elf", Facts{})
	if err != nil {
		t.Fatalf("symlinked node directory inside root: %v", err)
	}
	if res.Path != filepath.Join("nodes", "1234abcd", "start4.elf") {
		t.Errorf("path %s", res.Path)
	}
}
