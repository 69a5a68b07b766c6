package tftpd

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// hostileTexts are what a client (or a store written before host names were
// checked) might hold: a newline that ends a U-Boot command, a persisted
// environment change, command substitution, a terminal escape, a NUL.
var hostileTexts = []string{
	"pi\nsetenv bootcmd reset; saveenv",
	"pi;saveenv",
	"$(reboot)",
	"pi\x1b]0;owned\x07",
	"pi\x00x",
	"../../etc",
}

// Nothing from the node store reaches a rendered stage-2 script or kernel
// command line unless it passes its check: a hostile host name, model or
// serial renders as empty.
func TestStoreTextNeverReachesTemplates(t *testing.T) {
	tmpl, err := os.ReadFile("../examples/tftp/default/boot.scr.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile("../examples/tftp/default/cmdline.txt.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	probe := "host={{.Hostname}} model={{.Model}} serial={{.Serial}}\n"
	for _, bad := range hostileTexts {
		var f Facts
		f.fromNode(store.Node{MAC: net.HardwareAddr{0xdc, 0xa6, 0x32, 1, 2, 3}, IP: netip.MustParseAddr("192.168.50.101"),
			Hostname: bad, Model: bad, Serial: bad})
		if f.Hostname != "" || f.Model != "" || f.Serial != "" {
			t.Errorf("store text %q accepted as facts %+v", bad, f)
		}
		f.IP, f.ServerIP = "192.168.50.101", "192.168.50.1"
		f.Vars = map[string]string{"nfs_server": "192.168.50.1", "nfs_root": "/srv/nfs"}
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"default/boot.scr.tmpl": string(tmpl), "default/cmdline.txt.tmpl": string(cmdline),
			"default/probe.txt.tmpl": probe})
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"boot.scr", "cmdline.txt", "probe.txt"} {
			res, err := NewResolver(root, testModels(t), "").Resolve(name, f)
			if err != nil {
				t.Fatal(err)
			}
			src, _ := root.ReadFile(res.Path)
			out, err := render(res, src)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if name == "boot.scr" {
				_, data, err := uimage.Decode(out)
				if err != nil {
					t.Fatal(err)
				}
				out, _ = uimage.ScriptText(data)
			}
			for _, frag := range []string{"saveenv", "reboot", "\x1b", "\x00", "../../etc", "owned"} {
				if strings.Contains(string(out), frag) {
					t.Errorf("%s rendered for store text %q contains %q:\n%s", name, bad, frag, out)
				}
			}
		}
		root.Close()
	}
}
