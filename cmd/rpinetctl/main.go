// Command rpinetctl is the admin CLI of rpinetboot: it lists and pins nodes
// in the store the DHCP and TFTP daemons share, imports an ISC dhcpd setup,
// writes stage-1 U-Boot scripts and checks config.yml.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
)

func main() {
	asStoreOwner = true
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// asStoreOwner lets a root rpinetctl become the store's owner before it
// opens an SQLite store (switchToStoreOwner). Only the real command sets it:
// tests call run in the test process, which must keep its rights.
var asStoreOwner bool

// Exit codes: 0 done, 1 refused or failed, 2 bad usage.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usage is the help text of `rpinetctl help`.
const usage = `rpinetctl: admin CLI of rpinetboot.

Usage:
  rpinetctl [--store DSN | -c CONFIG] COMMAND [ARGS] [FLAGS]

Commands:
  nodes list [--json]                          list pinned nodes
  nodes show MAC [--json]                      show one node
  nodes pin MAC IP [--model M] [--hostname H]  pin MAC to IP (source admin)
  nodes unpin MAC                              remove the pin of MAC
  nodes import-isc dhcpd.conf [dhcpd.leases] [--dry-run]
                                               pin ISC hosts and active leases, print server4 stanzas
  import-isc ...                               same as nodes import-isc
  stage1 --model M [--vci rpi|walt] [--arch arm|arm64] (-o boot.scr | --text)
                                               write the stage-1 U-Boot script for an SD card
  declined list [--json]                       addresses clients DECLINEd (on probation)
  declined clear IP | --all                    give declined addresses back to the pool now
  config check [-c CONFIG]                     validate config.yml
  migrate SRC-DSN DST-DSN [--dry-run]          copy every pin and declined address to another
                                               store (e.g. sqlite:PATH to postgres://...)
  help                                         this text

Global flags (also accepted after the command):
  --store DSN      the node store: a file path, sqlite:PATH or
                   postgres://user@host/db?password_file=FILE
  -c, --config F   config.yml to find the store in (macpin's first argument,
                   else rpi-tftpd.store); default /etc/rpinetboot/config.yml

Run "rpinetctl COMMAND -h" for a command's flags.
`

// run is the whole CLI behind main, so tests drive it without a process.
func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{config: defaultConfig}
	fs := pflag.NewFlagSet("rpinetctl", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SetInterspersed(false)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "rpinetctl: %v (see rpinetctl help)\n", err)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	c := &cli{g: g, stdout: stdout, stderr: stderr, asOwner: asStoreOwner}
	switch rest[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "nodes":
		return c.nodes(rest[1:])
	case "import-isc":
		return c.importISC("import-isc", rest[1:])
	case "stage1":
		return c.stage1(rest[1:])
	case "config":
		return c.config(rest[1:])
	case "migrate":
		return c.migrateCmd(rest[1:])
	case "declined":
		return c.declined(rest[1:])
	default:
		fmt.Fprintf(stderr, "rpinetctl: unknown command %q (see rpinetctl help)\n", rest[0])
		return exitUsage
	}
}

// cli carries what every command needs.
type cli struct {
	g       *globals
	stdout  io.Writer
	stderr  io.Writer
	asOwner bool // see asStoreOwner
}

// failf prints one error line and returns exitFail.
func (c *cli) failf(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "rpinetctl: "+format+"\n", a...)
	return exitFail
}

// usagef prints a usage error and returns exitUsage.
func (c *cli) usagef(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "rpinetctl: "+format+"\n", a...)
	return exitUsage
}

// flags makes a command's flag set with the global flags on it too.
func (c *cli) flags(name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: rpinetctl %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	c.g.register(fs)
	return fs
}

// parse parses a command's flags; ok is false when the command should stop
// with code (0 after -h).
func (c *cli) parse(fs *pflag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, false
		}
		fmt.Fprintf(c.stderr, "rpinetctl %s: %v (see -h)\n", fs.Name(), err)
		return exitUsage, false
	}
	return 0, true
}
