package harness

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Config locates the rendered configuration and the state it points to.
type Config struct {
	Path       string // the rendered config.yml, for `-c`
	StateDir   string // what /var/lib/rpinetboot became
	TFTPRoot   string // the rpi-tftpd root (/srv/rpinetboot/tftp)
	ModelsPath string // the models.yml both daemons read
	StorePath  string // the macpin store file (nodes.db)
}

// RenderConfig writes config.yml.example for this network and returns where
// everything went. Only the interface (eth0 -> br0), the 192.168.50. prefix
// and the /etc/rpinetboot, /var/lib/rpinetboot and /srv/rpinetboot paths
// change (under Dir: etc, var, srv), as in scripts/render-config.sh, so the
// example a user copies is what the tests run. examples/models.yml is copied
// to ModelsPath and examples/tftp/ to TFTPRoot.
func (n *Net) RenderConfig(t testing.TB) Config {
	t.Helper()
	return n.RenderExample(t, "config.yml.example")
}

// RenderExample is RenderConfig for another example file of the repository
// (e.g. "config-proxy.yml.example"), with the same substitutions, so every
// shipped example is the configuration some test runs.
func (n *Net) RenderExample(t testing.TB, name string) Config {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	example, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatalf("harness: render config: %v", err)
	}
	etc, state, srv := filepath.Join(n.Dir, "etc"), filepath.Join(n.Dir, "var"), filepath.Join(n.Dir, "srv")
	text := strings.NewReplacer(
		`"%eth0`, `"%`+n.Bridge, // "%eth0" and "%eth0:4011"
		"192.168.50.", n.Prefix,
		"/etc/rpinetboot", etc,
		"/var/lib/rpinetboot", state,
		"/srv/rpinetboot", srv,
	).Replace(string(example))
	cfg := Config{
		Path:       filepath.Join(etc, "config.yml"),
		StateDir:   state,
		TFTPRoot:   filepath.Join(srv, "tftp"),
		ModelsPath: filepath.Join(etc, "models.yml"),
		StorePath:  filepath.Join(state, "nodes.db"),
	}
	for _, d := range []string{etc, state, cfg.TFTPRoot, filepath.Join(srv, "nfs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("harness: render config: %v", err)
		}
	}
	if err := os.WriteFile(cfg.Path, []byte(text), 0o644); err != nil {
		t.Fatalf("harness: render config: %v", err)
	}
	if err := copyFile(filepath.Join(root, "examples", "models.yml"), cfg.ModelsPath); err != nil {
		t.Fatalf("harness: render config: %v", err)
	}
	if err := copyTree(filepath.Join(root, "examples", "tftp"), cfg.TFTPRoot); err != nil {
		t.Fatalf("harness: render config: %v", err)
	}
	return cfg
}

// copyTree copies regular files and directories of src into dst; a missing
// src is not an error (the example tree is optional for DHCP-only tests).
func copyTree(src, dst string) error {
	if _, err := os.Stat(src); os.IsNotExist(err) {
		return nil
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, target)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
