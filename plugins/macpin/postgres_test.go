//go:build integration

package macpin

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/pgserver"
)

// startPG runs a macpin on a PostgreSQL store, as one of several servers.
func startPG(t *testing.T, dsn string) *Macpin {
	t.Helper()
	return startAt(t, dsn, "10.0.0.10", "10.0.3.250")
}

// TestTwoServersShareOnePostgres: two macpins (two coredhcp servers) answer
// the same broadcast DISCOVERs at once. Whichever commits first wins; the
// other offers the winner's address, never another one, and no address goes
// to two MACs. Each learns the other's pins without a restart.
func TestTwoServersShareOnePostgres(t *testing.T) {
	srv := pgserver.Start(t)
	dsn := srv.NewDatabase(t)
	a, b := startPG(t, dsn), startPG(t, dsn)

	const n = 300
	offers := make([][2]netip.Addr, n)
	var wg sync.WaitGroup
	for i := range n {
		for k, m := range []*Macpin{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); offers[i][k] = discover(t, m, hw(i)) }()
		}
	}
	wg.Wait()
	owner := map[netip.Addr]int{}
	for i, o := range offers {
		if !o[0].IsValid() || o[0] != o[1] {
			t.Fatalf("MAC %d: server A offered %v, server B %v; want one address from both", i, o[0], o[1])
		}
		if prev, dup := owner[o[0]]; dup {
			t.Fatalf("%s offered to MACs %d and %d", o[0], prev, i)
		}
		owner[o[0]] = i
	}
	st := openStore(t, dsn, true)
	for i, o := range offers {
		if got := mustNode(t, st, hw(i)); got.IP != o[0] {
			t.Fatalf("MAC %d offered %s, store has %s", i, o[0], got.IP)
		}
	}
	won := [2]uint64{a.Stats().NewPins, b.Stats().NewPins}
	if won[0]+won[1] != n {
		t.Errorf("servers committed %d+%d new pins, want %d in all", won[0], won[1], n)
	}
	t.Logf("server A committed %d pins, server B %d, the rest adopted", won[0], won[1])

	// A pin made by one server reaches the other's memory by itself.
	late := hw(5000)
	ip := discover(t, a, late)
	eventually(t, "server B to learn server A's pin", func() bool { got, ok := b.Lookup(late); return ok && got == ip })
}

// TestPostgresOutage: with the database down, known MACs (including those
// a peer pinned) are answered from memory, new MACs get no OFFER and are
// counted; when the database returns new MACs are pinned again, no restart.
func TestPostgresOutage(t *testing.T) {
	srv := pgserver.Start(t)
	dsn := srv.NewDatabase(t)
	a, b := startPG(t, dsn), startPG(t, dsn)
	known := discover(t, a, hw(1))
	if !known.IsValid() {
		t.Fatal("no OFFER before the outage")
	}
	eventually(t, "server B to learn the pin", func() bool { _, ok := b.Lookup(hw(1)); return ok })

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Macpin{a, b} {
		if got := discover(t, m, hw(1)); got != known {
			t.Errorf("known MAC during the outage: offered %v, want %s from memory", got, known)
		}
	}
	before := a.Stats().CommitErrors
	start := time.Now()
	if got := discover(t, a, hw(2)); got.IsValid() {
		t.Fatalf("new MAC during the outage was offered %s; its pin cannot be durable", got)
	}
	if took := time.Since(start); took > storeTimeout {
		t.Errorf("refusing a new MAC took %v", took)
	}
	if a.Stats().CommitErrors == before {
		t.Error("refused new pin not counted in CommitErrors")
	}
	a.mu.RLock()
	leaked := a.pool.used != len(a.byIP)+len(a.declined)
	a.mu.RUnlock()
	if leaked {
		t.Error("the refused pin's address was not returned to the pool")
	}

	if err := srv.StartAgain(); err != nil {
		t.Fatal(err)
	}
	var fresh netip.Addr
	eventually(t, "a new MAC to be pinned after the database returns", func() bool {
		fresh = discover(t, a, hw(2)) // a board retrying its DISCOVER
		return fresh.IsValid()
	})
	st := openStore(t, dsn, true)
	if got := mustNode(t, st, hw(2)); got.IP != fresh {
		t.Errorf("after recovery MAC 2 offered %s, store has %s", fresh, got.IP)
	}
	if got := discover(t, b, hw(2)); got != fresh {
		t.Errorf("peer offered %v to MAC 2, want %s", got, fresh)
	}
}

// BenchmarkDiscoverNewMACPostgres is BenchmarkDiscoverNewMAC on a PostgreSQL
// store (a local server on a Unix socket, synchronous_commit on, fsync on):
// each OFFER waits for its batch's commit.
func BenchmarkDiscoverNewMACPostgres(b *testing.B) {
	srv := pgserver.Start(b)
	for _, clients := range []int{16, 256} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			quiet(b)
			m := startAt(b, srv.NewDatabase(b), "10.0.0.0", "10.15.255.255")
			benchNewMAC(b, clients, m)
		})
	}
}
