package models

import (
	"path/filepath"
	"runtime"
	"testing"
)

func exampleTable(t *testing.T) *Table {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	tb, err := Load(filepath.Join(filepath.Dir(here), "..", "..", "examples", "models.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestExampleLoads keeps the shipped examples/models.yml valid and meaningful.
func TestExampleLoads(t *testing.T) {
	tb := exampleTable(t)
	e, ok := tb.Lookup("rpi-3-b-plus")
	if !ok || e.Stage2 != "rpi-3-b-plus/boot.scr" || e.Kernel != "kernel8.img" || e.Arch != "arm64" {
		t.Fatalf("rpi-3-b-plus = %+v, %v; want own stage2 and inherited kernel/arch", e, ok)
	}
	if e, ok := tb.Lookup("no-such-board"); ok || e.Stage2 != "boot.scr" {
		t.Fatalf("unknown model = %+v, %v; want default", e, ok)
	}
	if !tb.Has("rpi-5-b") || tb.Has("default") {
		t.Fatal("Has() disagrees with the table")
	}
}

// TestParseRejects: typos and unsafe names fail loudly instead of being ignored.
func TestParseRejects(t *testing.T) {
	for _, doc := range []string{
		"default:\n  bootfle: x\n",
		"models:\n  ../etc:\n    stage2: x\n",
		"models:\n  Rpi:\n    stage2: x\n",
		"models:\n  rpi-4-b:\n    arch: mips\n",
		"default: [",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q) accepted", doc)
		}
	}
}
