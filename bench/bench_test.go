//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// The tool runs end to end in quick mode against ours and one peer (the
// CI smoke of `make bench`): both take the DHCP and the storm workloads,
// ours boots every board with no duplicate address, and the files a user
// reads (results.json, CSVs, the chart) are written.
func TestQuickBenchOursAndDnsmasq(t *testing.T) {
	out := t.TempDir()
	code := realMain([]string{"-quick", "-only", "rpinetboot,dnsmasq", "-storm", "20", "-rates", "1000",
		"-period", "2s", "-deadline", "40s", "-out", out})
	if code != 0 {
		t.Fatalf("bench exit status %d", code)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Perfdhcp []rateResult `json:"perfdhcp"`
		Storms   []struct {
			Server     string  `json:"server"`
			Boards     int     `json:"boards"`
			Booted     int     `json:"booted"`
			Duplicates int     `json:"duplicate_address_boards"`
			CPU        float64 `json:"server_cpu_s"`
			Err        string  `json:"error"`
		} `json:"storms"`
		Targets []verdict `json:"targets"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	rates := map[string]rateResult{}
	for _, x := range r.Perfdhcp {
		rates[x.Server] = x
	}
	for _, s := range []string{"rpinetboot", "dnsmasq"} {
		x, ok := rates[s]
		if !ok || x.Err != "" || x.Acks == 0 {
			t.Errorf("perfdhcp against %s: %+v, want ACKs", s, x)
		}
	}
	if x := rates["rpinetboot"]; x.DropPct >= sustainedDropPct {
		t.Errorf("rpinetboot dropped %.2f %% at 1,000 DORA/s", x.DropPct)
	}
	seen := map[string]bool{}
	for _, s := range r.Storms {
		seen[s.Server] = true
		if s.Err != "" {
			t.Errorf("storm %s: %s", s.Server, s.Err)
		}
		if s.CPU <= 0 {
			t.Errorf("storm %s: server CPU %.2f s, want it measured", s.Server, s.CPU)
		}
		if s.Server == "rpinetboot" && (s.Booted != s.Boards || s.Duplicates != 0) {
			t.Errorf("rpinetboot booted %d of %d boards, %d on duplicate addresses", s.Booted, s.Boards, s.Duplicates)
		}
	}
	if !seen["rpinetboot"] || !seen["dnsmasq"] {
		t.Errorf("storms ran for %v, want rpinetboot and dnsmasq", seen)
	}
	if len(r.Targets) == 0 {
		t.Errorf("no targets judged")
	}
	for _, f := range []string{"perfdhcp.csv", "storm.csv"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	table, err := os.ReadFile(filepath.Join(out, "table.txt"))
	if err != nil || !bytes.Contains(table, []byte("Target (ours ÷ best peer)")) || !bytes.Contains(table, []byte("Boot storm")) {
		t.Errorf("table.txt (%v) lacks the storm table or the verdicts:\n%s", err, table)
	}
	pf, err := os.Open(filepath.Join(out, "storm-cdf.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatalf("chart: %v", err)
	}
	if b := img.Bounds(); b.Dx() != chartW || b.Dy() != chartH {
		t.Errorf("chart is %v, want %dx%d", b, chartW, chartH)
	}
}

// Bad flags are refused with exit status 2 before anything is set up.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-only", "nginx"}, {"-storm", "0"}, {"-rates", "fast"}} {
		if code := realMain(args); code != 2 {
			t.Errorf("bench %v: exit %d, want 2", args, code)
		}
	}
}
