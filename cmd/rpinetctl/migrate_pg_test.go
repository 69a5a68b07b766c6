//go:build integration

package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/pgserver"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// An admin moves a lab from the SQLite file to PostgreSQL: every pin keeps
// its address, source, facts and times, declined addresses stay declined,
// and the other commands work against the new store. A migration that
// contradicts the destination writes nothing.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	srv := pgserver.Start(t)
	pg := srv.NewDatabase(t)
	db := "sqlite:" + tempStore(t)
	ctx := context.Background()

	src, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 1, 2, 3, 4, 5, 6000000, time.UTC)
	var pins []store.Node
	for i := range 50 {
		pins = append(pins, store.Node{
			MAC: net.HardwareAddr{0xdc, 0xa6, 0x32, 0, 0, byte(i)}, IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}),
			FirstSeen: first, LastSeen: first.Add(time.Duration(i) * time.Minute),
			Model: "rpi-4-b", Serial: "0000abcd", Hostname: "pi", Source: store.SourceImport,
		})
	}
	if err := src.Pin(ctx, pins...); err != nil {
		t.Fatal(err)
	}
	if err := src.Decline(ctx, store.Declined{IP: netip.MustParseAddr("10.0.0.200"), MAC: pins[0].MAC, At: first}); err != nil {
		t.Fatal(err)
	}
	src.Close()

	rpc(t, "migrate", db, pg, "--dry-run").want(t, exitOK, "would create", "50 pins and 1 declined")
	if out := rpc(t, "--store", pg, "nodes", "list"); out.code != exitFail {
		t.Fatalf("dry run created the destination:\n%s%s", out.stdout, out.stderr)
	}
	r := rpc(t, "migrate", db, pg)
	r.want(t, exitOK, "copied 50 pins and 1 declined addresses")
	if !strings.Contains(r.stdout, "to postgres://rpinetboot@/") {
		t.Errorf("migrate output does not name the destination:\n%s", r.stdout)
	}

	got := storeNodes(t, pg)
	if len(got) != 50 {
		t.Fatalf("PostgreSQL holds %d pins, want 50", len(got))
	}
	for i, n := range got {
		w := pins[i]
		if n.MAC.String() != w.MAC.String() || n.IP != w.IP || n.Source != w.Source || n.Model != w.Model ||
			n.Serial != w.Serial || n.Hostname != w.Hostname || !n.FirstSeen.Equal(w.FirstSeen) || !n.LastSeen.Equal(w.LastSeen) {
			t.Errorf("pin %d copied as %+v, want %+v", i, n, w)
		}
	}
	dst, err := store.Open(pg, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := dst.DeclinedAddrs(ctx); err != nil || len(d) != 1 || d[0].IP.String() != "10.0.0.200" {
		t.Errorf("declined after migrate: %+v, %v", d, err)
	}
	dst.Close()

	// Running it again changes nothing; the CLI works on PostgreSQL.
	rpc(t, "migrate", db, pg).want(t, exitOK, "copied 50 pins")
	rpc(t, "--store", pg, "nodes", "show", "dc:a6:32:00:00:07").want(t, exitOK, "10.0.0.17")
	rpc(t, "--store", pg, "nodes", "unpin", "dc:a6:32:00:00:07").want(t, exitOK)
	rpc(t, "--store", pg, "nodes", "pin", "dc:a6:32:00:00:99", "10.0.0.17").want(t, exitOK)

	// Now the source contradicts the destination: refused, nothing written.
	before := len(storeNodes(t, pg))
	rpc(t, "migrate", db, pg).want(t, exitFail, "refused, nothing written", "10.0.0.17")
	if after := len(storeNodes(t, pg)); after != before {
		t.Errorf("refused migrate changed the pin count %d→%d", before, after)
	}
	rpc(t, "migrate", db).want(t, exitUsage, "wants SRC-DSN and DST-DSN")
	rpc(t, "migrate", db, db).want(t, exitUsage, "same store")
}
