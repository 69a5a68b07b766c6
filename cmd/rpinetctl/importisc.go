package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/iscimport"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// fallbackDSN names the store in printed stanzas when none is configured yet.
const fallbackDSN = "/var/lib/rpinetboot/nodes.db"

// importISC pins an ISC dhcpd setup's hosts and active leases in one
// all-or-nothing Store.Pin and prints the server4 stanzas. Its stdout is
// YAML (comments and the server4 section) so it can be pasted as it is.
func (c *cli) importISC(name string, args []string) int {
	fs := c.flags(name, name+" dhcpd.conf [dhcpd.leases] [--dry-run]")
	dry := fs.Bool("dry-run", false, "check and print what would be pinned; write nothing")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return c.usagef("%s wants dhcpd.conf and, optionally, dhcpd.leases", name)
	}
	src, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return c.failf("%s: %v", name, err)
	}
	conf, err := iscimport.ParseConf(src, fs.Arg(0))
	if err != nil {
		return c.failf("%s: nothing imported: %v", name, err)
	}
	var leases *iscimport.Leases
	if fs.NArg() == 2 {
		lsrc, err := os.ReadFile(fs.Arg(1))
		if err != nil {
			return c.failf("%s: %v", name, err)
		}
		if leases, err = iscimport.ParseLeases(lsrc, fs.Arg(1)); err != nil {
			return c.failf("%s: nothing imported: %v", name, err)
		}
	}
	plan, err := iscimport.NewPlan(conf, leases, time.Now())
	for _, w := range conf.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	if leases != nil {
		for _, w := range leases.Warnings {
			fmt.Fprintf(c.stderr, "warning: %s\n", w)
		}
	}
	if err != nil {
		return c.failf("%s: refused, %v", name, err)
	}
	// Warnings the plan added beyond the parsers' own.
	for _, w := range plan.Warnings[len(conf.Warnings)+leaseWarnings(leases):] {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}

	ctx := context.Background()
	st, dsn, err := c.open(*dry)
	switch {
	case err != nil && *dry:
		fmt.Fprintf(c.stderr, "warning: pins not checked against the store: %v\n", err)
	case err != nil:
		return c.failf("%s: nothing imported: %v", name, err)
	default:
		defer st.Close()
		if err := plan.CheckStore(ctx, st); err != nil {
			return c.failf("%s: refused, %v", name, err)
		}
	}
	if dsn == "" {
		dsn = fallbackDSN
	}

	if *dry {
		fmt.Fprintf(c.stdout, "# import-isc --dry-run: would pin %d node(s) (%d host(s), %d active lease(s)) in %s:\n",
			len(plan.Pins), plan.Hosts, plan.Leases, store.Redact(dsn))
	} else {
		if err := st.Pin(ctx, plan.Nodes()...); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return c.failf("%s: refused, nothing imported: %v", name, err)
			}
			return c.failf("%s: nothing imported: %v", name, err)
		}
		fmt.Fprintf(c.stdout, "# import-isc: pinned %d node(s) (%d host(s), %d active lease(s)) in %s:\n",
			len(plan.Pins), plan.Hosts, plan.Leases, store.Redact(dsn))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, p := range plan.Pins {
		fmt.Fprintf(tw, "#   %s\t%s\t%s\t%s\n", p.Node.MAC, p.Node.IP, dash(p.Node.Hostname), p.Origin)
	}
	tw.Flush()
	fmt.Fprintf(c.stdout, "# coredhcp stanzas for %s (put them in config.yml):\n", fs.Arg(0))
	fmt.Fprint(c.stdout, conf.Stanzas(dsn))
	return exitOK
}

func leaseWarnings(l *iscimport.Leases) int {
	if l == nil {
		return 0
	}
	return len(l.Warnings)
}
