package main

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
)

// simSeed is the piboard fleet seed (the fourth MAC byte, 0x50): fixed, so
// every run brings the same MACs and the store's pins are reused.
const simSeed = 0x50

// simBoards is what each simulated model is shown as, and the models.yml
// model the server should classify it as.
var simBoards = map[piboard.Model]struct{ board, model string }{
	piboard.Pi3: {"Pi 3B+ ROM (simulated)", "rpi-3-b-plus"},
	piboard.Pi4: {"Pi 4 EEPROM (simulated)", "rpi-4-b"},
	piboard.Pi5: {"Pi 5 EEPROM (simulated)", "rpi-5-b"},
}

// simFleet is the deterministic fleet of n simulated boards.
func simFleet(n int) ([]piboard.Board, error) {
	boards, err := piboard.Fleet("mix", n, simSeed)
	if err != nil {
		return nil, fmt.Errorf("simulated boards: %w", err)
	}
	return boards, nil
}

// simRows are the simulated boards' rows, before power-on.
func simRows(boards []piboard.Board) []row {
	rows := make([]row, len(boards))
	for i, b := range boards {
		info := simBoards[b.Model]
		rows[i] = row{MAC: b.MAC.String(), Board: info.board, Model: info.model, Step: "off"}
	}
	return rows
}

// runSims boots the simulated boards on link (in namespace ns), reporting into rack rows
// first..first+len(boards)-1. The boards behave as the real bootloaders do
// (ROM retry timing, Pi 4/5 tsize probes, a duplicate RRQ for start4.elf)
// and power on over spread, like a rack whose PSU comes up.
func runSims(ctx context.Context, ns string, link *piboard.Link, boards []piboard.Board, r *rack, first int, spread time.Duration) []piboard.Result {
	index := make(map[string]int, len(boards))
	for i, b := range boards {
		index[b.MAC.String()] = first + i
	}
	o := piboard.Options{
		NS:           ns,
		Iface:        link.Iface(),
		Spread:       spread,
		DuplicateRRQ: "start4.elf",
		OnProgress: func(b piboard.Board, p piboard.Progress) {
			r.update(index[b.MAC.String()], func(x *row) { simStep(x, p) })
		},
	}
	return link.Run(ctx, o, boards)
}

// simStep turns a piboard progress report into the board's row.
func simStep(x *row, p piboard.Progress) {
	if x.Start.IsZero() {
		x.Start = time.Now().Add(-p.Elapsed)
	}
	if p.IP.IsValid() {
		x.IP = p.IP.String()
	}
	switch p.Step {
	case piboard.StepDHCP:
		x.Phase, x.Step = phaseDHCP, "DHCP"
	case piboard.StepTFTP:
		name := path.Base(p.File)
		x.Phase = phaseFiles
		if strings.HasPrefix(name, "kernel") {
			x.Phase = phaseKernel
		}
		x.Step = fmt.Sprintf("files %d/%d %s", p.Done, p.Total, name)
	case piboard.StepBooted:
		x.Phase, x.Step = phaseBooted, fmt.Sprintf("booted, %d files, %.1f MB", p.Total, float64(p.Bytes)/1e6)
	case piboard.StepFailed:
		x.Phase, x.Step, x.Err = phaseFailed, "FAILED: "+p.Err, p.Err
	}
}
