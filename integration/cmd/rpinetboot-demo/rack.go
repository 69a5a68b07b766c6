package main

import (
	"sort"
	"sync"
	"time"
)

// phase is how far a board got, coarser than the step text: the view
// prints a plain line when it changes, and the summary counts by it.
type phase int

const (
	phaseOff    phase = iota // not powered on yet
	phaseDHCP                // asking for an address
	phaseFiles               // fetching firmware files (native netboot)
	phaseStage2              // U-Boot fetched and runs the stage-2 script
	phaseKernel              // fetching the kernel (and its DTB)
	phaseBooted              // everything loaded; the kernel would start now
	phaseFailed              // gave up, or the run was interrupted
)

var phaseNames = map[phase]string{
	phaseOff: "off", phaseDHCP: "DHCP", phaseFiles: "firmware", phaseStage2: "stage-2",
	phaseKernel: "kernel", phaseBooted: "booted", phaseFailed: "FAILED",
}

func (p phase) String() string { return phaseNames[p] }

// row is what the view shows of one board.
type row struct {
	MAC    string
	Board  string // what the board is, e.g. "Pi 4 EEPROM", "U-Boot arm64"
	Model  string // the models.yml model it should be served as
	IP     string
	Phase  phase
	Step   string // the current step in words, e.g. "files 3/7 fixup.dat"
	Start  time.Time
	End    time.Time // when it booted or failed
	Err    string
	Cycles int // power cycles the demo gave it (U-Boot boards stuck in DHCP)
}

// elapsed is the board's boot time so far (or in all, once ended).
func (r row) elapsed(now time.Time) time.Duration {
	switch {
	case r.Start.IsZero():
		return 0
	case !r.End.IsZero():
		return r.End.Sub(r.Start)
	}
	return now.Sub(r.Start)
}

// ended reports whether the board booted or failed.
func (r row) ended() bool { return r.Phase == phaseBooted || r.Phase == phaseFailed }

// rack holds every board's row; boards update their own row from their
// own goroutines while the view reads snapshots.
type rack struct {
	mu       sync.Mutex
	rows     []row
	onChange func(before, after row) // called under the lock; must not call back
}

func newRack(rows []row) *rack { return &rack{rows: rows} }

// update changes row i. A board that ended stays ended, so a late report
// (e.g. from a goroutine winding down after Ctrl-C) cannot revive it.
func (r *rack) update(i int, f func(*row)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := r.rows[i]
	if before.ended() {
		return
	}
	f(&r.rows[i])
	after := r.rows[i]
	if after.ended() && after.End.IsZero() {
		r.rows[i].End = time.Now()
		after = r.rows[i]
	}
	if r.onChange != nil && before.Phase != after.Phase {
		r.onChange(before, after)
	}
}

// snapshot copies the rows.
func (r *rack) snapshot() []row {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]row(nil), r.rows...)
}

// interrupt marks every board that has not ended as failed with why.
func (r *rack) interrupt(why string) {
	r.mu.Lock()
	n := len(r.rows)
	r.mu.Unlock()
	for i := 0; i < n; i++ {
		r.update(i, func(x *row) {
			x.Phase, x.Step, x.Err = phaseFailed, "FAILED: "+why, why
			if x.Start.IsZero() {
				x.Start = time.Now()
			}
		})
	}
}

// tally is the end-of-run summary.
type tally struct {
	Boards   int     `json:"boards"`
	Booted   int     `json:"booted"`
	Failed   int     `json:"failed"`
	P50      float64 `json:"boot_seconds_p50"`
	P99      float64 `json:"boot_seconds_p99"`
	Slowest  float64 `json:"boot_seconds_max"`
	WallSecs float64 `json:"wall_seconds"`
}

// count summarises rows; boot times are over the boards that booted.
func count(rows []row, wall time.Duration) tally {
	t := tally{Boards: len(rows), WallSecs: wall.Seconds()}
	var times []float64
	for _, r := range rows {
		switch r.Phase {
		case phaseBooted:
			t.Booted++
			times = append(times, r.elapsed(r.End).Seconds())
		case phaseFailed:
			t.Failed++
		}
	}
	sort.Float64s(times)
	t.P50, t.P99 = percentile(times, 50), percentile(times, 99)
	if len(times) > 0 {
		t.Slowest = times[len(times)-1]
	}
	return t
}

// percentile is the nearest-rank percentile of sorted v.
func percentile(v []float64, p int) float64 {
	if len(v) == 0 {
		return 0
	}
	i := (len(v)*p+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return v[i]
}
