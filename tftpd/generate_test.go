package tftpd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// TestBootScrMatchesMkimage renders the shipped stage-2 template for a board
// and checks the result is byte-identical to what Debian's mkimage makes of
// the same text, name and timestamp, and that `mkimage -l` accepts it.
func TestBootScrMatchesMkimage(t *testing.T) {
	mkimage, err := exec.LookPath("mkimage")
	if err != nil {
		t.Fatal("mkimage (Debian u-boot-tools) is needed: apt-get install u-boot-tools")
	}
	tmpl, err := os.ReadFile("../examples/tftp/default/boot.scr.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	table := testModels(t) // the shipped examples/models.yml, with its 32-bit rpi-2-b
	for _, tc := range []struct{ model, arch, boot string }{
		{"rpi-4-b", "arm64", "booti"},
		{"rpi-2-b", "arm", "bootz"},
		{"", "arm64", "booti"}, // unknown board: default entry, name "default"
	} {
		t.Run(tc.model, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"default/boot.scr.tmpl": string(tmpl)})
			mtime := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			if err := os.Chtimes(filepath.Join(dir, "default/boot.scr.tmpl"), mtime, mtime); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			req := "boot.scr"
			if tc.model != "" {
				req = tc.model + "/boot.scr"
			}
			res, err := NewResolver(root, table, "").Resolve(req, Facts{
				IP: "192.168.50.101", MAC: "dc:a6:32:01:02:03", ServerIP: "192.168.50.1",
				Vars: map[string]string{"nfs_server": "192.168.50.1", "nfs_root": "/srv/nfs"},
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := render(res, tmpl)
			if err != nil {
				t.Fatal(err)
			}
			_, data, err := uimage.Decode(got)
			if err != nil {
				t.Fatalf("generated boot.scr does not decode: %v", err)
			}
			text, err := uimage.ScriptText(data)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(text), tc.boot+" ${kernel_addr_r} - ${fdt_addr_r}") {
				t.Errorf("script lacks %s for arch %s:\n%s", tc.boot, tc.arch, text)
			}
			txt := filepath.Join(dir, "stage2.txt")
			ref := filepath.Join(dir, "ref.scr")
			if err := os.WriteFile(txt, text, 0o644); err != nil {
				t.Fatal(err)
			}
			// deps: mkimage
			cmd := exec.Command(mkimage, "-A", tc.arch, "-O", "linux", "-T", "script", "-C", "none",
				"-n", ScriptName(tc.model), "-d", txt, ref)
			cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(mtime.Unix(), 10))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mkimage: %v\n%s", err, out)
			}
			want, err := os.ReadFile(ref)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("generated boot.scr differs from mkimage's (%d vs %d bytes)", len(got), len(want))
			}
			gen := filepath.Join(dir, "gen.scr")
			if err := os.WriteFile(gen, got, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(mkimage, "-l", gen).CombinedOutput() // deps: mkimage
			if err != nil {
				t.Fatalf("mkimage -l rejects the generated script: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "Script") || !strings.Contains(string(out), ScriptName(tc.model)) {
				t.Errorf("mkimage -l output:\n%s", out)
			}
		})
	}
}

func TestRenderFacts(t *testing.T) {
	res := Resolved{
		Path: "default/x.tmpl", Name: "x",
		Facts: Facts{IP: "10.0.0.5", MAC: "b8:27:eb:00:00:01", Serial: "0000beef", Model: "rpi-3-b", Hostname: "n1",
			ServerIP: "10.0.0.1", Vars: map[string]string{"k": "v"}, Entry: models.Entry{Kernel: "k.img", DTB: "d.dtb"}},
	}
	out, err := render(res, []byte("{{.IP}} {{.MAC}} {{.Serial}} {{.Model}} {{.Hostname}} {{.ServerIP}} {{.Vars.k}} {{.Entry.Kernel}} {{.Entry.DTB}}"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "10.0.0.5 b8:27:eb:00:00:01 0000beef rpi-3-b n1 10.0.0.1 v k.img d.dtb"; string(out) != want {
		t.Errorf("render = %q, want %q", out, want)
	}
	if _, err := render(res, []byte(`{{range 10000000}}0123456789{{end}}`)); err == nil {
		t.Error("runaway template rendered without error")
	}
}
