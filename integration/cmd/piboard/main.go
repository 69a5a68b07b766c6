// Command piboard boots simulated Raspberry Pi boards (Pi 3B+ ROM, Pi 4 and
// Pi 5 EEPROM) against a DHCP/TFTP server and reports per-board results.
// Run it inside the client namespace:
//
//	ip netns exec CLIENT piboard -iface eth0 -model mix -n 50 -mac-seed 7 -json
//
// It exits 0 when every board booted, 1 when some failed, 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/integration/piboard"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		iface     = flag.String("iface", "eth0", "client interface the boards share")
		ns        = flag.String("netns", "", "named network namespace holding -iface (default: the current one)")
		model     = flag.String("model", "pi4", "pi3, pi4, pi5, or mix")
		n         = flag.Int("n", 1, "number of boards")
		seed      = flag.Int("mac-seed", 0, "0..255; boards of different seeds never share a MAC or serial")
		files     = flag.String("files", "", "comma-separated file list for every board (default: each model's own)")
		discovers = flag.Int("discovers", 5, "DISCOVERs before a board gives up")
		interval  = flag.Duration("interval", 5*time.Second, "time between DISCOVER retries")
		dhcpOnly  = flag.Bool("dhcp-only", false, "stop once each board has an address")
		blksize   = flag.Int("blksize", 1024, "Pi 4/5 TFTP blksize")
		noProbe   = flag.Bool("no-tsize-probe", false, "Pi 4/5: skip the aborted tsize probe before each file")
		dupRRQ    = flag.String("dup-rrq", "", "Pi 4/5: send the RRQ for this file twice")
		tftpTO    = flag.Duration("tftp-timeout", time.Second, "TFTP retransmit timeout")
		conc      = flag.Int("concurrency", 0, "boards booting at once (0 = all)")
		spread    = flag.Duration("spread", 0, "power the boards on evenly over this time (0 = all at once)")
		timeout   = flag.Duration("timeout", 10*time.Minute, "give up on the whole run after this")
		asJSON    = flag.Bool("json", false, "print {summary, boards} as JSON")
		proxy     = flag.Bool("proxy", false, "proxyDHCP segment: take the address from one server's OFFER and the boot answer (yiaddr 0.0.0.0) from another's")
	)
	flag.Parse()
	boards, err := piboard.Fleet(*model, *n, *seed)
	if err != nil {
		fmt.Fprintf(os.Stderr, "piboard: %v\n", err)
		return 2
	}
	o := piboard.Options{
		NS: *ns, Iface: *iface, Discovers: *discovers, RetryInterval: *interval, DHCPOnly: *dhcpOnly,
		Blksize: *blksize, NoTsizeProbe: *noProbe, DuplicateRRQ: *dupRRQ, TFTPTimeout: *tftpTO,
		MaxConcurrency: *conc, Spread: *spread,
	}
	if *files != "" {
		o.Files = strings.Split(*files, ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	link, err := piboard.OpenLink(*ns, *iface)
	if err != nil {
		fmt.Fprintf(os.Stderr, "piboard: %v\n", err)
		return 2
	}
	defer link.Close()
	link.ProxyDHCP.Store(*proxy)
	results := link.Run(ctx, o, boards)
	sum := piboard.Summarize(results, time.Since(start))
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Summary piboard.Summary  `json:"summary"`
			Boards  []piboard.Result `json:"boards"`
		}{sum, results}); err != nil {
			fmt.Fprintf(os.Stderr, "piboard: %v\n", err)
			return 2
		}
	} else {
		for _, r := range results {
			status := "ok"
			if !r.OK() {
				status = "FAIL " + r.Error
			}
			fmt.Printf("%s %s %s ip=%s address=%.1fms last-byte=%.1fms files=%d %s\n",
				r.Model, r.MAC, r.Serial, r.IP, r.AddressMS, r.LastByteMS, len(r.Files), status)
		}
		fmt.Printf("%d/%d ok, address p50 %.1f ms p99 %.1f ms, last byte p50 %.1f ms p99 %.1f ms, %d bytes, %.0f ms\n",
			sum.OK, sum.Boards, sum.Address50, sum.Address99, sum.LastByte50, sum.LastByte99, sum.Bytes, sum.WallMS)
	}
	if sum.Failed > 0 {
		return 1
	}
	return 0
}
