package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

// declined dispatches `declined list|clear`: the addresses clients reported
// in use (DHCPDECLINE), on probation until macpin gives them back.
func (c *cli) declined(args []string) int {
	if len(args) == 0 {
		return c.usagef("declined: want list or clear")
	}
	switch args[0] {
	case "list":
		return c.declinedList(args[1:])
	case "clear":
		return c.declinedClear(args[1:])
	}
	return c.usagef("declined %s: want list or clear", args[0])
}

// declinedJSON is one declined address in `declined list --json`.
type declinedJSON struct {
	IP  string    `json:"ip"`
	MAC string    `json:"mac"`
	At  time.Time `json:"declined_at"`
}

func (c *cli) declinedList(args []string) int {
	fs := c.flags("declined list", "declined list [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	st, _, err := c.open(true)
	if err != nil {
		return c.failf("declined list: %v", err)
	}
	defer st.Close()
	ds, err := st.DeclinedAddrs(context.Background())
	if err != nil {
		return c.failf("declined list: %v", err)
	}
	if *asJSON {
		out := make([]declinedJSON, 0, len(ds))
		for _, d := range ds {
			out = append(out, declinedJSON{d.IP.String(), d.MAC.String(), d.At.UTC()})
		}
		return c.writeJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tDECLINED BY\tAT")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.IP, d.MAC, stamp(d.At))
	}
	tw.Flush()
	return exitOK
}

func (c *cli) declinedClear(args []string) int {
	fs := c.flags("declined clear", "declined clear IP | --all")
	all := fs.Bool("all", false, "clear every declined address")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *all == (fs.NArg() == 1) || fs.NArg() > 1 {
		return c.usagef("declined clear wants one IP or --all")
	}
	st, _, err := c.open(false)
	if err != nil {
		return c.failf("declined clear: %v", err)
	}
	defer st.Close()
	ctx := context.Background()
	var ips []netip.Addr
	if *all {
		ds, err := st.DeclinedAddrs(ctx)
		if err != nil {
			return c.failf("declined clear: %v", err)
		}
		for _, d := range ds {
			ips = append(ips, d.IP)
		}
	} else {
		ip, err := netip.ParseAddr(fs.Arg(0))
		if err != nil || !ip.Is4() {
			return c.usagef("declined clear: %q is not an IPv4 address", fs.Arg(0))
		}
		ips = append(ips, ip)
	}
	for _, ip := range ips {
		if err := st.ClearDeclined(ctx, ip); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return c.failf("declined clear: %s is not declined", ip)
			}
			return c.failf("declined clear: %v", err)
		}
		fmt.Fprintf(c.stdout, "cleared %s\n", ip)
	}
	return exitOK
}
