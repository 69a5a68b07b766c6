package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func mac(i int) net.HardwareAddr {
	return net.HardwareAddr{0xdc, 0xa6, 0x32, byte(i >> 16), byte(i >> 8), byte(i)}
}

func ip(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func node(i, j int) Node {
	return Node{MAC: mac(i), IP: ip(j), Source: SourcePool}
}

func openT(t *testing.T, path string, opts Options) *SQLite {
	t.Helper()
	s, err := OpenSQLite(path, opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPinConflicts(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "nodes.db"), Options{})
	if err := s.Pin(ctx, node(1, 1)); err != nil {
		t.Fatal(err)
	}
	first, _ := s.Node(ctx, mac(1))

	cases := []struct {
		name  string
		nodes []Node
	}{
		{"IP held by another MAC", []Node{node(2, 1)}},
		{"MAC pinned to another IP", []Node{node(1, 2)}},
		{"batch with one bad member", []Node{node(3, 3), node(4, 1)}},
		{"two members want one IP", []Node{node(5, 5), node(6, 5)}},
		{"one MAC twice with two IPs", []Node{node(7, 7), node(7, 8)}},
	}
	for _, c := range cases {
		err := s.Pin(ctx, c.nodes...)
		if !errors.Is(err, ErrConflict) {
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

	// Re-pinning a MAC to its own IP refreshes facts and is no conflict.
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
	if _, err := s.NodeByIP(ctx, ip(99)); !errors.Is(err, ErrNotFound) {
		t.Errorf("NodeByIP of a free IP: %v, want ErrNotFound", err)
	}
}

func TestPinRejectsInvalidNodes(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "nodes.db"), Options{})
	bad := []Node{
		{IP: ip(1), Source: SourcePool},
		{MAC: mac(1), Source: SourcePool},
		{MAC: mac(1), IP: netip.MustParseAddr("fe80::1"), Source: SourcePool},
		{MAC: mac(1), IP: ip(1)},
	}
	for _, n := range bad {
		if err := s.Pin(context.Background(), n); err == nil || errors.Is(err, ErrConflict) {
			t.Errorf("Pin(%+v) = %v, want a validation error", n, err)
		}
	}
}

func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nodes.db")
	s, err := OpenSQLite(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
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

	s = openT(t, path, Options{})
	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 100 {
		t.Fatalf("after reopen: %d pins, want 100", len(nodes))
	}
	for i, n := range nodes {
		if n.IP != ip(i) || n.MAC.String() != mac(i).String() || n.Source != SourcePool {
			t.Fatalf("pin %d after reopen = %+v", i, n)
		}
	}
	d, err := s.DeclinedAddrs(ctx)
	if err != nil || len(d) != 1 || d[0].IP != ip(500) {
		t.Fatalf("declined after reopen = %+v, %v", d, err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	var mode, sync string
	s.w.QueryRow("PRAGMA journal_mode").Scan(&mode)
	s.w.QueryRow("PRAGMA synchronous").Scan(&sync)
	if mode != "wal" || sync != "2" {
		t.Errorf("journal_mode=%s synchronous=%s, want wal and 2 (FULL)", mode, sync)
	}
}

// TestReadersWhileWriting has a read-only handle (rpi-tftpd) and a second
// writer handle (rpinetctl) work on the file while pins are being written.
func TestReadersWhileWriting(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nodes.db")
	w := openT(t, path, Options{})
	ro := openT(t, path, Options{ReadOnly: true})
	admin := openT(t, path, Options{})

	const n = 200
	done := make(chan struct{})
	var wg sync.WaitGroup
	readErr := make(chan error, 2)
	for _, r := range []Store{ro, admin} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for {
				nodes, err := r.Nodes(ctx)
				if err != nil {
					readErr <- err
					return
				}
				if len(nodes) < last {
					readErr <- fmt.Errorf("reader saw %d pins after %d", len(nodes), last)
					return
				}
				last = len(nodes)
				select {
				case <-done:
					return
				default:
				}
			}
		}()
	}
	for i := range n {
		if err := w.Pin(ctx, node(i, i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if err := admin.Pin(ctx, node(10000+i, 10000+i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	close(readErr)
	for err := range readErr {
		t.Fatal(err)
	}
	nodes, err := ro.Nodes(ctx)
	if err != nil || len(nodes) != n+4 {
		t.Fatalf("read-only handle sees %d pins (%v), want %d", len(nodes), err, n+4)
	}
	if err := ro.Pin(ctx, node(1, 1)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Pin on a read-only store: %v, want ErrReadOnly", err)
	}
}

func TestDataVersionSeesOnlyOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nodes.db")
	a := openT(t, path, Options{})
	b := openT(t, path, Options{})
	ro := openT(t, path, Options{ReadOnly: true})
	v0, _ := a.DataVersion(ctx)
	r0, _ := ro.DataVersion(ctx)
	if err := a.Pin(ctx, node(1, 1)); err != nil {
		t.Fatal(err)
	}
	if v, _ := a.DataVersion(ctx); v != v0 {
		t.Errorf("own write changed data_version %d→%d", v0, v)
	}
	if r, _ := ro.DataVersion(ctx); r == r0 {
		t.Errorf("read-only handle did not notice a write")
	}
	if err := b.Pin(ctx, node(2, 2)); err != nil {
		t.Fatal(err)
	}
	if v, _ := a.DataVersion(ctx); v == v0 {
		t.Errorf("another handle's write left data_version at %d", v)
	}
}

func TestUnpinDeclineTouch(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "nodes.db"), Options{})
	n := node(1, 1)
	n.Model, n.Hostname = "rpi-3-b", "pi1"
	if err := s.Pin(ctx, n, node(2, 2)); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	err := s.Touch(ctx, []Seen{
		{MAC: mac(1), At: at, Serial: "00000001"},
		{MAC: mac(77), At: at, Model: "ghost"}, // unknown: ignored
	})
	if err != nil {
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

func TestCorruptFileRefused(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	content := []byte("this is not a database, it is an admin's notes file\n")
	for len(content) < 8192 {
		content = append(content, content...)
	}
	os.WriteFile(garbage, content, 0o644)

	// A real store with its middle pages overwritten.
	damaged := filepath.Join(dir, "damaged.db")
	s, err := OpenSQLite(damaged, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var batch []Node
	for i := range 2000 {
		n := node(i, i)
		n.Hostname = fmt.Sprintf("a-rather-long-hostname-to-fill-pages-%d", i)
		batch = append(batch, n)
	}
	if err := s.Pin(context.Background(), batch...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, _ := os.OpenFile(damaged, os.O_RDWR, 0)
	st, _ := f.Stat()
	junk := make([]byte, 3*4096)
	for i := range junk {
		junk[i] = 0xa5
	}
	f.WriteAt(junk, st.Size()/2)
	f.Close()

	for _, path := range []string{garbage, damaged} {
		before, _ := os.ReadFile(path)
		for _, ro := range []bool{false, true} {
			_, err := OpenSQLite(path, Options{ReadOnly: ro})
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("open %s (read-only %v): %v, want ErrCorrupt", filepath.Base(path), ro, err)
			}
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Errorf("open of corrupt %s modified it", filepath.Base(path))
		}
	}
}

func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenSQLite(filepath.Join(dir, "missing.db"), Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("read-only open created the file")
	}
	if _, err := OpenSQLite(filepath.Join(dir, "no", "such", "dir.db"), Options{}); err == nil {
		t.Error("open in a missing directory succeeded")
	}
	if _, err := OpenSQLite(dir, Options{}); err == nil {
		t.Error("open of a directory succeeded")
	}

	future := filepath.Join(dir, "future.db")
	s := openT(t, future, Options{})
	s.w.Exec("PRAGMA user_version = 99")
	s.Close()
	for _, ro := range []bool{false, true} {
		if _, err := OpenSQLite(future, Options{ReadOnly: ro}); err == nil {
			t.Errorf("open (read-only %v) of a newer schema succeeded", ro)
		}
	}
}

func TestOpenDSN(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "a.db"),
		"sqlite:" + filepath.Join(dir, "b.db"),
		"sqlite://" + filepath.Join(dir, "c.db"),
		filepath.Join(dir, "with space?and#odd%chars.db"),
	} {
		s, err := Open(dsn, Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", dsn, err)
			continue
		}
		s.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "with space?and#odd%chars.db")); err != nil {
		t.Errorf("odd file name not created literally: %v", err)
	}
	for _, dsn := range []string{"", "sqlite:", "mysql://x"} {
		if _, err := Open(dsn, Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

// TestSurvivesKill pins from a child process that prints each committed
// batch, SIGKILLs it mid-stream, and checks every reported pin is on disk.
func TestSurvivesKill(t *testing.T) {
	if path := os.Getenv("STORE_KILL_CHILD"); path != "" {
		s, err := OpenSQLite(path, Options{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for i := 0; ; i++ {
			if err := s.Pin(context.Background(), node(2*i, 2*i), node(2*i+1, 2*i+1)); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println(2*i + 1)
		}
	}
	path := filepath.Join(t.TempDir(), "nodes.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSurvivesKill$")
	cmd.Env = append(os.Environ(), "STORE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	highest := -1
	for sc.Scan() && highest < 300 {
		v, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("child: %s", sc.Text())
		}
		highest = v
	}
	cmd.Process.Kill()
	cmd.Wait()

	s := openT(t, path, Options{})
	nodes, err := s.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) < highest+1 {
		t.Fatalf("after SIGKILL %d pins on disk, child reported %d committed", len(nodes), highest+1)
	}
	if len(nodes)%2 != 0 {
		t.Errorf("%d pins on disk: a two-node transaction was half applied", len(nodes))
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}
