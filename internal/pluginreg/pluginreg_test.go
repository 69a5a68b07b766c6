package pluginreg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredhcp/coredhcp/plugins"
)

// Every plugin appears once, under the name it registers itself with, and
// each of ours has a README and a parser config check can run.
func TestTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range All() {
		if e.Plugin == nil || e.Name() == "" {
			t.Fatalf("entry without a plugin: %+v", e)
		}
		if seen[e.Name()] {
			t.Errorf("plugin %s listed twice", e.Name())
		}
		seen[e.Name()] = true
		if e.Ours {
			if e.Check == nil {
				t.Errorf("%s: no argument parser for config check", e.Name())
			}
			if _, err := os.Stat(filepath.Join("../../plugins", e.Name(), "README.md")); err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		}
		if got, ok := Lookup(e.Name()); !ok || got.Plugin != e.Plugin {
			t.Errorf("Lookup(%s) = %v, %v", e.Name(), got.Name(), ok)
		}
	}
	if len(Names()) != len(All()) {
		t.Errorf("Names has %d entries, the table %d", len(Names()), len(All()))
	}
	nb := NonBlocking()
	for _, blocking := range []string{"range", "sleep"} {
		if nb[blocking] {
			t.Errorf("%s is listed as never blocking", blocking)
		}
	}
	if !nb["macpin"] || !nb["classify"] {
		t.Error("our plugins must run inline")
	}
}

// Upstream's plugin list is complete: an upstream plugin this build lacks
// would make an existing coredhcp configuration fail to load.
func TestEveryUpstreamPluginIsListed(t *testing.T) {
	dir := upstreamPluginsDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]bool{}
	for _, e := range All() {
		if !e.Ours {
			pkgs[pkgOf(e.Plugin)] = true
		}
	}
	checked := 0
	for _, d := range entries {
		if !d.IsDir() || d.Name() == "allocators" || d.Name() == "example" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, d.Name(), "plugin.go")); err != nil {
			continue
		}
		checked++
		if !pkgs[d.Name()] {
			t.Errorf("upstream plugin package %s is not in the table", d.Name())
		}
	}
	if checked < 10 {
		t.Errorf("found only %d upstream plugin packages in %s; the test is not looking at the module", checked, dir)
	}
}

// Register makes every plugin known to CoreDHCP.
func TestRegister(t *testing.T) {
	if err := Register(); err != nil {
		t.Fatal(err)
	}
	for _, n := range Names() {
		if _, ok := plugins.RegisteredPlugins[n]; !ok {
			t.Errorf("%s not registered", n)
		}
	}
}

// upstreamPluginsDir is where the pinned coredhcp module's plugins live.
func upstreamPluginsDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/coredhcp/coredhcp").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/coredhcp/coredhcp: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "plugins")
}

// pkgOf names the upstream package a plugin comes from, by its setup
// function's package path.
func pkgOf(p *plugins.Plugin) string {
	name := strings.ReplaceAll(p.Name, "_", "")
	switch p.Name {
	case "server_id":
		return "serverid"
	case "lease_time":
		return "leasetime"
	}
	return name
}
