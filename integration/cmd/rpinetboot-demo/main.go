// Command rpinetboot-demo runs a virtual rack that netboots from rpinetboot
// in one command (`sudo make demo`): our coredhcp and rpi-tftpd serve
// config.yml.example on a private network segment in namespaces, two real
// U-Boot boards under QEMU (arm64 and 32-bit arm) do the two-stage boot,
// and simulated Pi 3B+/Pi 4/Pi 5 boards do native netboot, while a live
// table shows every board's step. The store is kept in -state, so
// `rpinetctl -c STATE/etc/config.yml nodes list` shows the rack afterwards
// and a second run gets the same addresses.
//
//	sudo rpinetboot-demo [-boards 50] [-state ./run/demo] [-plain]
//
// Exit status: 0 every board booted, 1 some did not, 2 setup failed,
// 130 interrupted (Ctrl-C or SIGTERM; the rack is torn down either way).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Exit statuses.
const (
	exitBooted      = 0
	exitFailed      = 1
	exitSetup       = 2
	exitInterrupted = 130
)

// maxBoards keeps the fleet inside config.yml.example's macpin pool
// (.100-.199, 100 addresses) next to the two U-Boot boards.
const maxBoards = 98

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the command's flags.
type options struct {
	boards  int
	state   string
	plain   bool
	spread  time.Duration
	timeout time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("rpinetboot-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.boards, "boards", 50, fmt.Sprintf("simulated Pi 3B+/Pi 4/Pi 5 boards, 0..%d (the 2 U-Boot boards come on top)", maxBoards))
	fs.StringVar(&o.state, "state", "run/demo", "directory for the store, config, firmware tree and logs; kept after the run")
	fs.BoolVar(&o.plain, "plain", false, "plain lines, one per step change, even on a terminal")
	fs.DurationVar(&o.spread, "spread", 2*time.Second, "power-on spread: board i of n powers on at i×spread/n")
	fs.DurationVar(&o.timeout, "timeout", 55*time.Second, "give up on boards still booting after this")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.boards < 0 || o.boards > maxBoards {
		return o, fmt.Errorf("-boards %d: want 0..%d (the example's address pool holds %d boards)", o.boards, maxBoards, maxBoards+2)
	}
	if o.spread < 0 || o.timeout <= 0 {
		return o, fmt.Errorf("-spread %s, -timeout %s: want spread >= 0 and timeout > 0", o.spread, o.timeout)
	}
	abs, err := filepath.Abs(o.state)
	if err != nil {
		return o, fmt.Errorf("-state %s: %w", o.state, err)
	}
	o.state = abs
	return o, nil
}

func run(args []string, stdout *os.File, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitBooted
	}
	if err != nil {
		fmt.Fprintf(stderr, "rpinetboot-demo: %v\n", err)
		return exitSetup
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "rpinetboot-demo: needs root (network namespaces, DHCP and TFTP ports): sudo make demo")
		return exitSetup
	}
	if err := os.MkdirAll(o.state, 0o755); err != nil {
		fmt.Fprintf(stderr, "rpinetboot-demo: state dir: %v\n", err)
		return exitSetup
	}
	log.SetFlags(0)
	log.SetOutput(stderr)
	// The first Ctrl-C stops the boards and tears the rack down; NotifyContext
	// is undone then, so a second one kills the demo at once (the next run
	// removes what that leaves behind).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	defer stop()
	out, err := demo(ctx, o, stdout)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "rpinetboot-demo: interrupted; rack torn down, state kept in", o.state)
		return exitInterrupted
	case err != nil:
		fmt.Fprintf(stderr, "rpinetboot-demo: %v\n", err)
		return exitSetup
	case out.Summary.Booted != out.Summary.Boards:
		return exitFailed
	}
	return exitBooted
}
