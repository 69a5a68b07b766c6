package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// nodes dispatches the `nodes` subcommands.
func (c *cli) nodes(args []string) int {
	if len(args) == 0 {
		return c.usagef("nodes: want list, show, pin, unpin or import-isc (see rpinetctl help)")
	}
	switch args[0] {
	case "list":
		return c.nodesList(args[1:])
	case "show":
		return c.nodesShow(args[1:])
	case "pin":
		return c.nodesPin(args[1:])
	case "unpin":
		return c.nodesUnpin(args[1:])
	case "import-isc":
		return c.importISC("nodes import-isc", args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(c.stdout, usage)
		return exitOK
	default:
		return c.usagef("nodes: unknown subcommand %q: want list, show, pin, unpin or import-isc", args[0])
	}
}

// nodeJSON is the stable JSON shape of a node; scripts depend on these keys.
type nodeJSON struct {
	MAC       string     `json:"mac"`
	IP        string     `json:"ip"`
	Model     string     `json:"model"`
	Serial    string     `json:"serial"`
	Hostname  string     `json:"hostname"`
	Source    string     `json:"source"`
	FirstSeen *time.Time `json:"first_seen"`
	LastSeen  *time.Time `json:"last_seen"`
}

func toJSON(n store.Node) nodeJSON {
	j := nodeJSON{MAC: n.MAC.String(), IP: n.IP.String(), Model: n.Model, Serial: n.Serial,
		Hostname: n.Hostname, Source: string(n.Source)}
	if !n.FirstSeen.IsZero() {
		t := n.FirstSeen.UTC()
		j.FirstSeen = &t
	}
	if !n.LastSeen.IsZero() {
		t := n.LastSeen.UTC()
		j.LastSeen = &t
	}
	return j
}

// stamp prints a time for the table; "-" when unknown.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// dash prints a stored text field for a terminal: "-" when empty, and every
// byte outside printable ASCII (a newline, an escape sequence a client
// smuggled into an older store) shown as \xNN, so the table stays a table
// and nothing in it can drive the terminal.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			fmt.Fprintf(&b, "\\x%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (c *cli) nodesList(args []string) int {
	fs := c.flags("nodes list", "nodes list [--json]")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return c.usagef("nodes list takes no arguments, got %q", fs.Args())
	}
	st, _, err := c.open(true)
	if err != nil {
		return c.failf("nodes list: %v", err)
	}
	defer st.Close()
	ns, err := st.Nodes(context.Background())
	if err != nil {
		return c.failf("nodes list: %v", err)
	}
	if *asJSON {
		out := make([]nodeJSON, 0, len(ns))
		for _, n := range ns {
			out = append(out, toJSON(n))
		}
		return c.writeJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tIP\tMODEL\tSERIAL\tHOSTNAME\tSOURCE\tFIRST SEEN\tLAST SEEN")
	for _, n := range ns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.MAC, n.IP, dash(n.Model), dash(n.Serial),
			dash(n.Hostname), dash(string(n.Source)), stamp(n.FirstSeen), stamp(n.LastSeen))
	}
	if err := tw.Flush(); err != nil {
		return c.failf("nodes list: %v", err)
	}
	return exitOK
}

func (c *cli) writeJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.failf("write JSON: %v", err)
	}
	return exitOK
}

// parseMAC accepts the usual spellings (aa:bb:.., aa-bb-.., single-digit
// groups as dhcpd writes them) and insists on a 6-byte Ethernet address.
func parseMAC(s string) (net.HardwareAddr, error) { return args.MAC(s) }

func (c *cli) nodesShow(args []string) int {
	fs := c.flags("nodes show", "nodes show MAC [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return c.usagef("nodes show wants one MAC")
	}
	mac, err := parseMAC(fs.Arg(0))
	if err != nil {
		return c.usagef("nodes show: %v", err)
	}
	st, _, err := c.open(true)
	if err != nil {
		return c.failf("nodes show: %v", err)
	}
	defer st.Close()
	n, err := st.Node(context.Background(), mac)
	if errors.Is(err, store.ErrNotFound) {
		return c.failf("nodes show: %s is not pinned", mac)
	}
	if err != nil {
		return c.failf("nodes show %s: %v", mac, err)
	}
	if *asJSON {
		return c.writeJSON(toJSON(n))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 1, ' ', 0)
	for _, kv := range [][2]string{
		{"MAC", n.MAC.String()}, {"IP", n.IP.String()}, {"Model", dash(n.Model)}, {"Serial", dash(n.Serial)},
		{"Hostname", dash(n.Hostname)}, {"Source", dash(string(n.Source))},
		{"First seen", stamp(n.FirstSeen)}, {"Last seen", stamp(n.LastSeen)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
	return exitOK
}

func (c *cli) nodesPin(args []string) int {
	fs := c.flags("nodes pin", "nodes pin MAC IP [--model M] [--hostname H]")
	model := fs.String("model", "", "board model, e.g. rpi-4-b")
	hostname := fs.String("hostname", "", "host name of the board")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 2 {
		return c.usagef("nodes pin wants MAC and IP")
	}
	mac, err := parseMAC(fs.Arg(0))
	if err != nil {
		return c.usagef("nodes pin: %v", err)
	}
	ip, err := netip.ParseAddr(fs.Arg(1))
	if err != nil || !ip.Is4() {
		return c.usagef("nodes pin: IP %q: want an IPv4 address", fs.Arg(1))
	}
	st, _, err := c.open(false)
	if err != nil {
		return c.failf("nodes pin: %v", err)
	}
	defer st.Close()
	ctx := context.Background()
	// Check first so the refusal names who holds what; Pin refuses too if
	// a DISCOVER pins either one in between.
	if cur, err := st.Node(ctx, mac); err == nil && cur.IP != ip {
		return c.failf("nodes pin: refused: %s is already pinned to %s (source %s); unpin it first", mac, cur.IP, cur.Source)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return c.failf("nodes pin %s: %v", mac, err)
	}
	if holder, err := st.NodeByIP(ctx, ip); err == nil && holder.MAC.String() != mac.String() {
		return c.failf("nodes pin: refused: %s is already pinned to %s (source %s)", ip, holder.MAC, holder.Source)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return c.failf("nodes pin %s: %v", ip, err)
	}
	n := store.Node{MAC: mac, IP: ip, Model: *model, Hostname: *hostname, Source: store.SourceAdmin}
	if err := st.Pin(ctx, n); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return c.failf("nodes pin: refused: %v", err)
		}
		return c.failf("nodes pin: %v", err)
	}
	fmt.Fprintf(c.stdout, "pinned %s to %s\n", mac, ip)
	return exitOK
}

func (c *cli) nodesUnpin(args []string) int {
	fs := c.flags("nodes unpin", "nodes unpin MAC")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return c.usagef("nodes unpin wants one MAC")
	}
	mac, err := parseMAC(fs.Arg(0))
	if err != nil {
		return c.usagef("nodes unpin: %v", err)
	}
	st, _, err := c.open(false)
	if err != nil {
		return c.failf("nodes unpin: %v", err)
	}
	defer st.Close()
	if err := st.Unpin(context.Background(), mac); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return c.failf("nodes unpin: %s is not pinned", mac)
		}
		return c.failf("nodes unpin: %v", err)
	}
	fmt.Fprintf(c.stdout, "unpinned %s\n", mac)
	return exitOK
}
