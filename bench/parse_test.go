package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
)

// A real perfdhcp report (Kea, 2,000/s for 1 s) gives the exchange counts
// and a DORA rate over the offered period, not perfdhcp's own rate, which
// includes the wait for late answers.
func TestParsePerfdhcp(t *testing.T) {
	b, err := os.ReadFile("testdata/perfdhcp-kea.out")
	if err != nil {
		t.Fatal(err)
	}
	r := rateResult{PeriodS: 1}
	if err := parsePerfdhcp(string(b), &r); err != nil {
		t.Fatal(err)
	}
	if r.Discovers != 1999 || r.Offers != 1999 || r.Acks != 1999 || r.DORAPerS != 1999 || r.DropPct != 0 {
		t.Errorf("parsed %+v, want 1999 of each, 1999 DORA/s, no drops", r)
	}
	lossy := strings.Replace(string(b), "received packets: 1999\ndrops: 0\ndrops ratio: 0.000 %", "received packets: 1899\ndrops: 100", 1)
	r = rateResult{PeriodS: 1}
	if err := parsePerfdhcp(lossy, &r); err != nil {
		t.Fatal(err)
	}
	if r.Acks != 1899 || math.Abs(r.DropPct-5.0025) > 0.001 {
		t.Errorf("lost ACKs: acks %d drop %.4f %%, want 1899 and 5.0025 %%", r.Acks, r.DropPct)
	}
}

// Output without a report (perfdhcp failed to start) is an error, not a zero rate.
func TestParsePerfdhcpRejectsNoise(t *testing.T) {
	for _, out := range []string{"", "Error: failed to open socket", "***Statistics for: REQUEST-ACK***\nreceived packets: 5\n"} {
		r := rateResult{PeriodS: 1}
		if err := parsePerfdhcp(out, &r); err == nil {
			t.Errorf("parsePerfdhcp(%q) = nil error, result %+v", out, r)
		}
	}
}

func FuzzParsePerfdhcp(f *testing.F) {
	b, err := os.ReadFile("testdata/perfdhcp-kea.out")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, out string) {
		r := rateResult{PeriodS: 2}
		if err := parsePerfdhcp(out, &r); err != nil {
			return
		}
		if r.DropPct < 0 || math.IsNaN(r.DropPct) || r.DORAPerS < 0 {
			t.Fatalf("nonsense result %+v", r)
		}
	})
}

// Two boards on one address did not boot (the rack is broken), a board
// without an address did not boot, and percentiles count failed boards as
// never done, so a server that boots few boards fast does not look fast.
func TestSummarizeStormCountsDuplicatesAsFailures(t *testing.T) {
	rs := []piboard.Result{
		{IP: "10.99.1.1", LastByteMS: 1000, Files: []piboard.File{{Bytes: 10}}},
		{IP: "10.99.1.2", LastByteMS: 2000},
		{IP: "10.99.1.2", LastByteMS: 3000},
		{Error: "dhcp: no usable answer after 5 DISCOVERs (no reply)"},
	}
	res := stormResult{Boards: len(rs), WallSeconds: 1}
	summarizeStorm(&res, rs)
	if res.Booted != 1 || res.Duplicates != 2 || res.NoAddress != 1 || res.SuccessPct != 25 {
		t.Errorf("booted %d dup %d noaddr %d success %.0f%%, want 1, 2, 1, 25%%", res.Booted, res.Duplicates, res.NoAddress, res.SuccessPct)
	}
	if res.BootP50MS != millis(math.Inf(1)) || res.BootP50MS.String() != "never" {
		t.Errorf("p50 = %v with 1 of 4 booted, want never", res.BootP50MS)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("JSON of a storm with failures: %v", err)
	}
	if !strings.Contains(string(b), `"boot_p99_ms":null`) {
		t.Errorf("JSON %s: want boot_p99_ms null for never", b)
	}
}

// A board that fetched a file whose bytes differ from the firmware's did
// not boot, whatever it says about itself.
func TestCheckContentFailsWrongBytes(t *testing.T) {
	want := map[string]string{"start.elf": "0badc0de", "bootcode.bin": "12345678"}
	rs := []piboard.Result{
		{IP: "10.99.1.1", Files: []piboard.File{{Name: "bootcode.bin", CRC32C: "12345678"}, {Name: "00000001/start.elf", CRC32C: "0badc0de"}}},
		{IP: "10.99.1.2", Files: []piboard.File{{Name: "bootcode.bin", CRC32C: "12345678"}, {Name: "00000002/start.elf", CRC32C: "deadbeef"}}},
		{IP: "10.99.1.3", Files: []piboard.File{{Name: "00000003/start.elf", Error: "tftp error 1: not found"}, {Name: "start.elf", CRC32C: "0badc0de"}}},
	}
	checkContent(rs, want)
	if !rs[0].OK() || rs[1].OK() || !rs[2].OK() {
		t.Fatalf("errors %q, %q, %q: want only the second board failed", rs[0].Error, rs[1].Error, rs[2].Error)
	}
	if !strings.Contains(rs[1].Error, "wrong content") {
		t.Errorf("error %q does not say the content was wrong", rs[1].Error)
	}
}

// The targets compare ours with the best peer: lowest p99, lowest CPU among
// peers that booted every board, highest sustained rate; a miss says so.
func TestJudge(t *testing.T) {
	order := servers()
	ss := []stormResult{
		{Server: "rpinetboot", Boards: 300, Booted: 300, SuccessPct: 100, BootP99MS: 4000, CPUSeconds: 10},
		{Server: "dnsmasq", Boards: 300, Booted: 30, SuccessPct: 10, BootP99MS: millis(math.Inf(1)), CPUSeconds: 2},
		{Server: "dnsmasq-tftpmax", Boards: 300, Booted: 300, SuccessPct: 100, BootP99MS: 10000, CPUSeconds: 20},
		{Server: "rpinetboot", Boards: 100, Booted: 100, SuccessPct: 100, BootP99MS: 1, CPUSeconds: 1},
	}
	rs := []rateResult{
		{Server: "rpinetboot", OfferedPS: 1000, DORAPerS: 1000}, {Server: "rpinetboot", OfferedPS: 4000, DORAPerS: 3000, DropPct: 25},
		{Server: "kea-memfile", OfferedPS: 1000, DORAPerS: 1000}, {Server: "kea-memfile", OfferedPS: 4000, DORAPerS: 4000},
	}
	vs := judge(rs, ss, order)
	got := map[string]verdict{}
	for _, v := range vs {
		got[v.Target] = v
	}
	if v := got["storm N=300 p99 boot time s"]; v.Best != "dnsmasq-tftpmax" || v.Ratio != 0.4 || !v.Met {
		t.Errorf("p99 verdict %+v, want 0.4 of dnsmasq-tftpmax, met", v)
	}
	// dnsmasq spent less CPU, but on 30 boards: CPU is compared with peers that booted all.
	if v := got["storm N=300 server CPU s"]; v.Best != "dnsmasq-tftpmax" || v.Ratio != 0.5 || !v.Met {
		t.Errorf("CPU verdict %+v, want 0.5 of dnsmasq-tftpmax, met", v)
	}
	if v := got["DHCP sustained DORA/s, durable pins vs Kea memfile"]; v.Ours != 1000 || v.Peer != 4000 || v.Met {
		t.Errorf("DHCP verdict %+v, want 1000 vs 4000, missed", v)
	}
	// A peer that never booted 99 % of its boards is "never", which JSON writes as null.
	ss[2].BootP99MS = millis(math.Inf(1))
	b, err := json.Marshal(judge(rs, ss, order))
	if err != nil {
		t.Fatalf("targets JSON: %v", err)
	}
	if !strings.Contains(string(b), `"best_peer":null`) {
		t.Errorf("targets JSON %s: want best_peer null for a peer that never got there", b)
	}
}

// The rate search finds the highest sustained rate of a fast server by
// going up then bisecting, and of a slow one by halving the first rate.
func TestSweepFindsMaxSustained(t *testing.T) {
	for _, tc := range []struct {
		capacity int
		want     int
		steps    []int
	}{
		{3000, 3000, []int{1000, 2000, 4000, 3000, 3500}},
		{300, 250, []int{1000, 500, 250, 375, 312}},
	} {
		w := &sweep{rates: []int{1000, 2000, 4000, 8000}, halvings: 3, refine: 2}
		var steps []int
		var rs []rateResult
		for r := w.next(); r != 0; r = w.next() {
			res := rateResult{OfferedPS: r}
			if r > tc.capacity {
				res.DropPct = 10
			}
			w.record(r, res)
			steps = append(steps, r)
			rs = append(rs, res)
			if len(steps) > 20 {
				t.Fatalf("capacity %d: search does not end: %v", tc.capacity, steps)
			}
		}
		if got, _ := maxSustained(rs); got != tc.want || fmt.Sprint(steps) != fmt.Sprint(tc.steps) {
			t.Errorf("capacity %d: max sustained %d after %v, want %d after %v", tc.capacity, got, steps, tc.want, tc.steps)
		}
	}
}
