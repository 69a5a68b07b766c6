package piboard

import (
	"net/netip"
	"time"
)

// Step names where a board is in its boot, for live progress views.
type Step string

// The steps a board goes through, in order; StepFailed can end any of them.
const (
	StepDHCP   Step = "dhcp"   // sending DISCOVERs, no usable answer yet
	StepTFTP   Step = "tftp"   // has its address, fetching its files
	StepBooted Step = "booted" // every file fetched (with DHCPOnly: has its address)
	StepFailed Step = "failed" // gave up; Progress.Err says why
)

// Progress is one report of one board's boot, given to Options.OnProgress.
type Progress struct {
	Step    Step
	IP      netip.Addr    // the board's address, once it has one
	File    string        // StepTFTP: the file being fetched now, as requested
	Done    int           // files fetched so far
	Total   int           // files the board fetches in all
	Bytes   int64         // bytes fetched so far
	Elapsed time.Duration // since the board's first DISCOVER
	Err     string        // StepFailed: why
}

// progress reports one board's steps to Options.OnProgress, if set.
type progress struct {
	fn    func(Board, Progress)
	b     Board
	start time.Time
	cur   Progress
}

func newProgress(o Options, b Board, start time.Time) *progress {
	return &progress{fn: o.OnProgress, b: b, start: start}
}

// step reports the board at step s; set adjusts the report first.
func (p *progress) step(s Step, set func(*Progress)) {
	if p.fn == nil {
		return
	}
	p.cur.Step = s
	p.cur.File = ""
	if set != nil {
		set(&p.cur)
	}
	p.cur.Elapsed = time.Since(p.start)
	p.fn(p.b, p.cur)
}

// fetching reports that file name (the done-th of the list) is being fetched.
func (p *progress) fetching(name string, done int, bytes int64) {
	p.step(StepTFTP, func(c *Progress) { c.File, c.Done, c.Bytes = name, done, bytes })
}
