package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/pgserver"
)

// backend opens handles on one fresh store: open(false) a writer (coredhcp,
// rpinetctl), open(true) a reader (rpi-tftpd). Handles close at cleanup.
type backend func(t *testing.T) (open func(readOnly bool) Store)

func sqliteBackend(t *testing.T) func(bool) Store {
	path := filepath.Join(t.TempDir(), "nodes.db")
	return func(ro bool) Store { return openT(t, path, Options{ReadOnly: ro}) }
}

func postgresBackend(srv *pgserver.Server) backend {
	return func(t *testing.T) func(bool) Store {
		dsn := srv.NewDatabase(t)
		return func(ro bool) Store {
			s, err := Open(dsn, Options{ReadOnly: ro})
			if err != nil {
				t.Fatalf("open %s: %v", Redact(dsn), err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
}

// TestConformanceSQLite runs the Store contract against the embedded backend,
// so both backends are held to the same behaviour.
func TestConformanceSQLite(t *testing.T) { conformance(t, sqliteBackend) }

func conformance(t *testing.T, b backend) {
	t.Run("conflicts are all or nothing", func(t *testing.T) { testConflicts(t, b(t)) })
	t.Run("invalid nodes refused", func(t *testing.T) { testInvalid(t, b(t)) })
	t.Run("unpin decline touch", func(t *testing.T) { testUnpinDeclineTouch(t, b(t)) })
	t.Run("data version sees only other writers", func(t *testing.T) { testDataVersion(t, b(t)) })
	t.Run("read-only handle", func(t *testing.T) { testReadOnly(t, b(t)) })
	t.Run("durable across reopen", func(t *testing.T) { testReopen(t, b(t)) })
	t.Run("two writers never share a MAC or an IP", func(t *testing.T) { testTwoWriters(t, b(t)) })
	t.Run("client facts never overwrite an admin's", func(t *testing.T) { testTouchKeepsAdminFacts(t, b(t)) })
}

// testTouchKeepsAdminFacts: a client's host name, model and serial update a
// pool pin, but on a reservation or admin pin they only fill empty fields.
func testTouchKeepsAdminFacts(t *testing.T, open func(bool) Store) {
	ctx := context.Background()
	s := open(false)
	admin, pool, bare := node(1, 1), node(2, 2), node(3, 3)
	admin.Source, admin.Hostname, admin.Model = SourceAdmin, "bmc-1", "rpi-4-b"
	pool.Hostname = "old"
	bare.Source = SourceReservation
	if err := s.Pin(ctx, admin, pool, bare); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := s.Touch(ctx, []Seen{
		{MAC: mac(1), At: at, Hostname: "evil", Model: "rpi-5-b", Serial: "0badc0de"},
		{MAC: mac(2), At: at, Hostname: "new", Model: "rpi-5-b"},
		{MAC: mac(3), At: at, Hostname: "filled"},
	}); err != nil {
		t.Fatal(err)
	}
	got := func(i int) Node {
		n, err := s.Node(ctx, mac(i))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := got(1); n.Hostname != "bmc-1" || n.Model != "rpi-4-b" || n.Serial != "0badc0de" || !n.LastSeen.Equal(at) {
		t.Errorf("admin pin after a client's facts: %+v (host name and model must stay, the empty serial may fill)", n)
	}
	if n := got(2); n.Hostname != "new" || n.Model != "rpi-5-b" {
		t.Errorf("pool pin after a client's facts: %+v", n)
	}
	if n := got(3); n.Hostname != "filled" {
		t.Errorf("reservation with no host name: %+v", n)
	}
}

func testConflicts(t *testing.T, open func(bool) Store) {
	ctx := context.Background()
	s := open(false)
	if err := s.Pin(ctx, node(1, 1)); err != nil {
		t.Fatal(err)
	}
	first, err := s.Node(ctx, mac(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		nodes []Node
	}{
		{"IP held by another MAC", []Node{node(2, 1)}},
		{"MAC pinned to another IP", []Node{node(1, 2)}},
		{"batch with one bad member", []Node{node(3, 3), node(4, 1)}},
		{"two members want one IP", []Node{node(5, 5), node(6, 5)}},
		{"one MAC twice with two IPs", []Node{node(7, 7), node(7, 8)}},
	} {
		if err := s.Pin(ctx, c.nodes...); !errors.Is(err, ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", c.name, err)
		}
	}
	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].IP != ip(1) || nodes[0].MAC.String() != mac(1).String() {
		t.Fatalf("after refused pins the store holds %+v, want only %s→%s", nodes, mac(1), ip(1))
	}
	later := first.FirstSeen.Add(time.Hour)
	re := node(1, 1)
	re.Model, re.Serial, re.LastSeen = "rpi-4-b", "1234abcd", later
	if err := s.Pin(ctx, re); err != nil {
		t.Fatalf("re-pin to own IP: %v", err)
	}
	got, err := s.Node(ctx, mac(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "rpi-4-b" || got.Serial != "1234abcd" || !got.FirstSeen.Equal(first.FirstSeen) || !got.LastSeen.Equal(later) {
		t.Errorf("re-pin stored %+v; want new facts, first_seen %v kept, last_seen %v", got, first.FirstSeen, later)
	}
	if byIP, err := s.NodeByIP(ctx, ip(1)); err != nil || byIP.MAC.String() != mac(1).String() {
		t.Errorf("NodeByIP(%s) = %+v, %v", ip(1), byIP, err)
	}
	if _, err := s.NodeByIP(ctx, ip(99)); !errors.Is(err, ErrNotFound) {
		t.Errorf("NodeByIP of a free IP: %v, want ErrNotFound", err)
	}
	if _, err := s.Node(ctx, mac(99)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Node of an unknown MAC: %v, want ErrNotFound", err)
	}
}

func testInvalid(t *testing.T, open func(bool) Store) {
	s := open(false)
	for _, n := range []Node{
		{IP: ip(1), Source: SourcePool},
		{MAC: mac(1), Source: SourcePool},
		{MAC: mac(1), IP: netip.MustParseAddr("fe80::1"), Source: SourcePool},
		{MAC: mac(1), IP: ip(1)},
	} {
		if err := s.Pin(context.Background(), n); err == nil || errors.Is(err, ErrConflict) {
			t.Errorf("Pin(%+v) = %v, want a validation error", n, err)
		}
	}
	if nodes, _ := s.Nodes(context.Background()); len(nodes) != 0 {
		t.Errorf("invalid pins stored: %+v", nodes)
	}
}

func testUnpinDeclineTouch(t *testing.T, open func(bool) Store) {
	ctx := context.Background()
	s := open(false)
	n := node(1, 1)
	n.Model, n.Hostname = "rpi-3-b", "pi1"
	if err := s.Pin(ctx, n, node(2, 2)); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := s.Touch(ctx, []Seen{{MAC: mac(1), At: at, Serial: "00000001"}, {MAC: mac(77), At: at, Model: "ghost"}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Node(ctx, mac(1))
	if got.Model != "rpi-3-b" || got.Hostname != "pi1" || got.Serial != "00000001" || !got.LastSeen.Equal(at) {
		t.Errorf("after Touch: %+v", got)
	}
	if _, err := s.Node(ctx, mac(77)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Touch created a pin for an unknown MAC: %v", err)
	}
	if err := s.Decline(ctx, Declined{IP: ip(2), MAC: mac(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Node(ctx, mac(2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("declined address still pinned: %v", err)
	}
	if d, err := s.DeclinedAddrs(ctx); err != nil || len(d) != 1 || d[0].IP != ip(2) || d[0].MAC.String() != mac(2).String() {
		t.Errorf("DeclinedAddrs = %+v, %v", d, err)
	}
	if err := s.ClearDeclined(ctx, ip(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearDeclined(ctx, ip(2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("second ClearDeclined: %v, want ErrNotFound", err)
	}
	if err := s.Unpin(ctx, mac(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(ctx, mac(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Unpin: %v, want ErrNotFound", err)
	}
	if err := s.Pin(ctx, node(3, 1)); err != nil {
		t.Errorf("IP of an unpinned MAC is not reusable: %v", err)
	}
}

func testDataVersion(t *testing.T, open func(bool) Store) {
	ctx := context.Background()
	a, b := open(false), open(false)
	ro := open(true)
	v0, err := a.DataVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r0, _ := ro.DataVersion(ctx)
	if err := a.Pin(ctx, node(1, 1)); err != nil {
		t.Fatal(err)
	}
	if v, _ := a.DataVersion(ctx); v != v0 {
		t.Errorf("own write changed the data version %d→%d", v0, v)
	}
	if r, _ := ro.DataVersion(ctx); r == r0 {
		t.Errorf("read-only handle did not notice a write")
	}
	if err := b.Unpin(ctx, mac(1)); err != nil {
		t.Fatal(err)
	}
	v1, _ := a.DataVersion(ctx)
	if v1 == v0 {
		t.Errorf("another handle's unpin left the data version at %d", v1)
	}
	// A refused write is not a change.
	if err := a.Pin(ctx, node(2, 2)); err != nil {
		t.Fatal(err)
	}
	if err := b.Pin(ctx, node(3, 2)); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting pin: %v", err)
	}
	if v, _ := a.DataVersion(ctx); v != v1 {
		t.Errorf("own write plus another's refused write moved the version %d→%d", v1, v)
	}
}

func testReadOnly(t *testing.T, open func(bool) Store) {
	ctx := context.Background()
	w := open(false)
	if err := w.Pin(ctx, node(1, 1)); err != nil {
		t.Fatal(err)
	}
	ro := open(true)
	if n, err := ro.Node(ctx, mac(1)); err != nil || n.IP != ip(1) {
		t.Fatalf("read-only Node = %+v, %v", n, err)
	}
	for name, err := range map[string]error{
		"Pin":     ro.Pin(ctx, node(2, 2)),
		"Unpin":   ro.Unpin(ctx, mac(1)),
		"Decline": ro.Decline(ctx, Declined{IP: ip(1), MAC: mac(1)}),
		"Touch":   ro.Touch(ctx, []Seen{{MAC: mac(1), At: time.Now()}}),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only handle: %v, want ErrReadOnly", name, err)
		}
	}
	if nodes, _ := w.Nodes(ctx); len(nodes) != 1 {
		t.Errorf("read-only handle changed the store: %+v", nodes)
	}
}

func testReopen(t *testing.T, open func(bool) Store) {
	ctx := context.Background()
	s := open(false)
	var batch []Node
	for i := range 100 {
		batch = append(batch, node(i, i))
	}
	if err := s.Pin(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	if err := s.Decline(ctx, Declined{IP: ip(500), MAC: mac(500)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(false)
	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 100 {
		t.Fatalf("after reopen: %d pins, want 100", len(nodes))
	}
	for i, n := range nodes { // ordered by IP
		if n.IP != ip(i) || n.MAC.String() != mac(i).String() || n.Source != SourcePool {
			t.Fatalf("pin %d after reopen = %+v", i, n)
		}
	}
	if d, err := s.DeclinedAddrs(ctx); err != nil || len(d) != 1 || d[0].IP != ip(500) {
		t.Fatalf("declined after reopen = %+v, %v", d, err)
	}
}

// testTwoWriters has two handles (two servers) pin overlapping MACs to
// random addresses of a small space at once, as two DHCP servers answering
// the same broadcasts do: every accepted pin survives, no MAC or IP twice.
func testTwoWriters(t *testing.T, open func(bool) Store) {
	ctx := context.Background()
	handles := []Store{open(false), open(false)}
	const macs, space = 200, 300
	var mu sync.Mutex
	accepted := map[string]netip.Addr{}
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := handles[g%2]
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; i < macs; i += 4 {
				var batch []Node
				for k := i; k < i+4; k++ {
					batch = append(batch, node(k, r.IntN(space)))
				}
				err := s.Pin(ctx, batch...)
				if err != nil && !errors.Is(err, ErrConflict) {
					errc <- err
					return
				}
				if err == nil {
					mu.Lock()
					for _, n := range batch {
						if prev, ok := accepted[n.MAC.String()]; ok && prev != n.IP {
							errc <- fmt.Errorf("%s accepted with %s and %s", n.MAC, prev, n.IP)
						}
						accepted[n.MAC.String()] = n.IP
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	nodes, err := handles[0].Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byIP := map[netip.Addr]string{}
	byMAC := map[string]netip.Addr{}
	for _, n := range nodes {
		if other, dup := byIP[n.IP]; dup {
			t.Errorf("%s pinned to %s and %s", n.IP, other, n.MAC)
		}
		byIP[n.IP], byMAC[n.MAC.String()] = n.MAC.String(), n.IP
	}
	for m, a := range accepted {
		if byMAC[m] != a {
			t.Errorf("accepted pin %s→%s, store has %v", m, a, byMAC[m])
		}
	}
	if len(accepted) == 0 {
		t.Fatal("no batch was accepted; the test tested nothing")
	}
	t.Logf("%d pins accepted from two writers", len(accepted))
}
