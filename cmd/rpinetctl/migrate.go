package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

// migrateCmd copies every pin and declined address from one store to
// another, e.g. from the embedded SQLite file to PostgreSQL when a lab grows
// into an active/active pair. Pins keep their source, times and facts.
func (c *cli) migrateCmd(args []string) int {
	fs := c.flags("migrate", "migrate SRC-DSN DST-DSN [--dry-run]")
	dry := fs.Bool("dry-run", false, "read both stores and report what would be copied, write nothing")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 2 {
		return c.usagef("migrate wants SRC-DSN and DST-DSN, e.g. migrate sqlite:/var/lib/rpinetboot/nodes.db 'postgres://dhcp@db/rpinetboot?password_file=/etc/rpinetboot/pgpass'")
	}
	srcDSN, dstDSN := fs.Arg(0), fs.Arg(1)
	srcName, dstName := store.Redact(srcDSN), store.Redact(dstDSN)
	if srcDSN == dstDSN {
		return c.usagef("migrate: source and destination are the same store %s", srcName)
	}
	ctx := context.Background()
	src, err := store.Open(srcDSN, store.Options{ReadOnly: true})
	if err != nil {
		return c.failf("migrate: source: %v", err)
	}
	defer src.Close()
	nodes, err := src.Nodes(ctx)
	if err != nil {
		return c.failf("migrate: read %s: %v", srcName, err)
	}
	declined, err := src.DeclinedAddrs(ctx)
	if err != nil {
		return c.failf("migrate: read %s: %v", srcName, err)
	}
	// A dry run must not create the destination either.
	if c.asOwner {
		if err := switchToStoreOwner(dstDSN); err != nil {
			return c.failf("migrate: destination: %v", err)
		}
	}
	dst, err := store.Open(dstDSN, store.Options{ReadOnly: *dry})
	if err != nil && *dry {
		fmt.Fprintf(c.stdout, "would create %s and copy %d pins and %d declined addresses from %s (destination not readable yet: %v)\n",
			dstName, len(nodes), len(declined), srcName, err)
		return exitOK
	}
	if err != nil {
		return c.failf("migrate: destination: %v", err)
	}
	defer dst.Close()
	if err := checkMigration(ctx, dst, nodes, declined); err != nil {
		return c.failf("migrate: refused, nothing written: %v", err)
	}
	if *dry {
		fmt.Fprintf(c.stdout, "would copy %d pins and %d declined addresses from %s to %s\n", len(nodes), len(declined), srcName, dstName)
		return exitOK
	}
	// All pins in one transaction: a conflict a running server creates
	// meanwhile leaves the destination as it was.
	if err := dst.Pin(ctx, nodes...); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return c.failf("migrate: refused, nothing written: %v", err)
		}
		return c.failf("migrate: write %s: %v", dstName, err)
	}
	for _, d := range declined {
		if err := dst.Decline(ctx, d); err != nil {
			return c.failf("migrate: %d pins copied, then declined address %s failed: %v", len(nodes), d.IP, err)
		}
	}
	fmt.Fprintf(c.stdout, "copied %d pins and %d declined addresses from %s to %s\n", len(nodes), len(declined), srcName, dstName)
	return exitOK
}

// checkMigration refuses a copy that would contradict the destination: a
// MAC pinned there to another address, an address pinned there to another
// MAC, or a declined address that a destination pin holds. Pins already
// present as they are in the source are fine, so a migration can be re-run.
func checkMigration(ctx context.Context, dst store.Store, nodes []store.Node, declined []store.Declined) error {
	have, err := dst.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("read destination: %w", err)
	}
	byMAC := make(map[string]store.Node, len(have))
	byIP := make(map[string]store.Node, len(have))
	for _, n := range have {
		byMAC[n.MAC.String()], byIP[n.IP.String()] = n, n
	}
	for _, n := range nodes {
		if cur, ok := byMAC[n.MAC.String()]; ok && cur.IP != n.IP {
			return fmt.Errorf("%s is pinned to %s in the source but to %s in the destination", n.MAC, n.IP, cur.IP)
		}
		if cur, ok := byIP[n.IP.String()]; ok && cur.MAC.String() != n.MAC.String() {
			return fmt.Errorf("%s belongs to %s in the source but to %s in the destination", n.IP, n.MAC, cur.MAC)
		}
	}
	for _, d := range declined {
		if cur, ok := byIP[d.IP.String()]; ok {
			return fmt.Errorf("%s is declined in the source but pinned to %s in the destination", d.IP, cur.MAC)
		}
	}
	return nil
}
