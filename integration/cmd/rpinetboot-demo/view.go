package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// view draws the rack: on a terminal one line per board, redrawn in place
// a few times a second; otherwise (or with -plain) one line per board and
// step change, then the whole table once at the end.
type view struct {
	out   io.Writer
	tty   bool
	fd    int // the terminal's descriptor, for its height
	rack  *rack
	start time.Time

	mu    sync.Mutex
	drawn int  // lines the last frame left on the screen
	all   bool // draw every row, even if the terminal is too short
	stop  chan struct{}
	done  chan struct{}
}

// refresh is the redraw period of the live view.
const refresh = 150 * time.Millisecond

// isTerminal reports whether f is a terminal (TCGETS works on it).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// newView starts drawing r to f; live only if f is a terminal and plain is false.
func newView(f *os.File, r *rack, plain bool) *view {
	v := &view{out: f, fd: int(f.Fd()), tty: !plain && isTerminal(f), rack: r, start: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	if !v.tty {
		r.onChange = v.plainLine
		close(v.done)
		return v
	}
	fmt.Fprint(v.out, "\x1b[?25l") // hide the cursor while redrawing
	go v.loop()
	return v
}

func (v *view) loop() {
	defer close(v.done)
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		v.frame()
		select {
		case <-t.C:
		case <-v.stop:
			return
		}
	}
}

// finish draws the last frame (live) or the whole table (plain).
func (v *view) finish() {
	if v.tty {
		close(v.stop)
		<-v.done
		v.all = true // the last frame shows every board; it may scroll
		v.frame()
		fmt.Fprint(v.out, "\x1b[?25h")
		return
	}
	fmt.Fprintln(v.out)
	fmt.Fprintln(v.out, header())
	now := time.Now()
	for _, r := range v.rack.snapshot() {
		fmt.Fprintln(v.out, line(r, now))
	}
}

// frame redraws the table over the previous one.
func (v *view) frame() {
	v.mu.Lock()
	defer v.mu.Unlock()
	rows := v.rack.snapshot()
	now := time.Now()
	lines := []string{
		fmt.Sprintf("rpinetboot demo: %d boards, %s", len(rows), progressLine(rows, now.Sub(v.start))),
		header(),
	}
	room, width := len(rows), 0
	if ws, err := unix.IoctlGetWinsize(v.fd, unix.TIOCGWINSZ); err == nil && ws.Row > 0 {
		room = int(ws.Row) - len(lines) - 2 // keep the summary and the cursor line on screen
		width = int(ws.Col) - 1
	}
	shown := rows
	if len(rows) > room && !v.all {
		shown = pickRows(rows, max(room-1, 1))
	}
	for _, r := range shown {
		lines = append(lines, line(r, now))
	}
	if hidden := len(rows) - len(shown); hidden > 0 {
		lines = append(lines, fmt.Sprintf("  … %d more, %s (all in the table at the end)",
			hidden, progressCounts(hiddenRows(rows, shown))))
	}
	if width > 0 {
		// A wrapped line would throw the cursor arithmetic off.
		for i, l := range lines {
			lines[i] = clip(l, width)
		}
	}
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn) // back to the frame's first line
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("\x1b[J") // clear what a longer previous frame left below
	io.WriteString(v.out, b.String())
	v.drawn = len(lines)
}

// pickRows chooses n rows for a terminal too short for all: boards still
// booting and failed ones first (what the eye wants to follow), then the
// booted ones, each in rack order.
func pickRows(rows []row, n int) []row {
	var busy, rest []int
	for i, r := range rows {
		if r.Phase == phaseBooted {
			rest = append(rest, i)
		} else {
			busy = append(busy, i)
		}
	}
	take := append(busy, rest...)
	if len(take) > n {
		take = take[:n]
	}
	keep := make([]bool, len(rows))
	for _, i := range take {
		keep[i] = true
	}
	var out []row
	for i, r := range rows {
		if keep[i] {
			out = append(out, r)
		}
	}
	return out
}

// plainLine prints one board's step change (rack.onChange, under its lock).
func (v *view) plainLine(before, after row) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	fmt.Fprintf(v.out, "%7.2fs  %s\n", now.Sub(v.start).Seconds(), line(after, now))
}

const lineFormat = "%-17s  %-25s  %-14s  %-30s  %6s"

func header() string {
	return fmt.Sprintf(lineFormat, "MAC", "BOARD", "PINNED IP", "STEP", "TIME")
}

// line is one board's row of the table.
func line(r row, now time.Time) string {
	ip := r.IP
	if ip == "" {
		ip = "-"
	}
	el := "-"
	if !r.Start.IsZero() {
		el = fmt.Sprintf("%.1fs", r.elapsed(now).Seconds())
	}
	return fmt.Sprintf(lineFormat, r.MAC, clip(r.Board, 25), ip, clip(r.Step, 30), el)
}

// hiddenRows are the rows of all that are not in shown (a subsequence of all).
func hiddenRows(all, shown []row) []row {
	var out []row
	j := 0
	for _, r := range all {
		if j < len(shown) && shown[j].MAC == r.MAC {
			j++
			continue
		}
		out = append(out, r)
	}
	return out
}

// progressLine counts boards by how far they are, with the time so far.
func progressLine(rows []row, wall time.Duration) string {
	return progressCounts(rows) + fmt.Sprintf(", %.1fs", wall.Seconds())
}

// progressCounts counts boards by how far they are.
func progressCounts(rows []row) string {
	var booted, failed, busy, off int
	for _, r := range rows {
		switch r.Phase {
		case phaseBooted:
			booted++
		case phaseFailed:
			failed++
		case phaseOff:
			off++
		default:
			busy++
		}
	}
	s := fmt.Sprintf("booted %d, booting %d", booted, busy)
	if off > 0 {
		s += fmt.Sprintf(", not powered on yet %d", off)
	}
	if failed > 0 {
		s += fmt.Sprintf(", FAILED %d", failed)
	}
	return s
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
