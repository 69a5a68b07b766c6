//go:build integration

package piboard

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A fetch returns the served bytes, their hash and the negotiated options,
// as the ROM (no options, 512-byte blocks) and the EEPROM (blksize, tsize)
// ask, for sizes that end on a block boundary (an empty last block) and
// that do not.
func TestGetFetchesFile(t *testing.T) {
	files := map[string][]byte{"a.bin": testFile(3 * 1024), "b.bin": testFile(5000)}
	s := newTestTFTPServer(t, files)
	c := NewTFTPClient("", s.clientAddr())
	for _, tc := range []struct {
		name string
		f    Fetch
		bs   int
	}{
		{"a.bin", Fetch{}, 512},
		{"b.bin", Fetch{}, 512},
		{"a.bin", Fetch{Blksize: 1024, Tsize: true}, 1024},
		{"b.bin", Fetch{Blksize: 1024, Tsize: true}, 1024},
	} {
		tc.f.Name = tc.name
		got, err := c.Get(context.Background(), s.addr, tc.f, true)
		if err != nil {
			t.Fatalf("%+v: %v", tc.f, err)
		}
		want := files[tc.name]
		sum := sha256.Sum256(want)
		wantTsize := int64(-1)
		if tc.f.Tsize {
			wantTsize = int64(len(want))
		}
		if got.Bytes != int64(len(want)) || got.SHA256 != hex.EncodeToString(sum[:]) || string(got.Data) != string(want) ||
			got.Blksize != tc.bs || got.Tsize != wantTsize || got.LastByte.IsZero() {
			t.Errorf("%+v: got %d bytes, sha %s, blksize %d, tsize %d; want %d, %x, %d, %d",
				tc.f, got.Bytes, got.SHA256, got.Blksize, got.Tsize, len(want), sum, tc.bs, wantTsize)
		}
	}
	// The load generator's digest: CRC-32C in place of SHA-256.
	got, err := c.Get(context.Background(), s.addr, Fetch{Name: "b.bin", Blksize: 1024, CRC32C: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	wantCRC := fmt.Sprintf("%08x", crc32.Checksum(files["b.bin"], crc32.MakeTable(crc32.Castagnoli))) // independently of CRC32C
	if CRC32C(files["b.bin"]) != wantCRC {
		t.Errorf("CRC32C() = %s, want %s", CRC32C(files["b.bin"]), wantCRC)
	}
	if got.CRC32C != wantCRC || got.SHA256 != "" {
		t.Errorf("CRC32C fetch: crc32c %q, sha256 %q; want %q and no sha256", got.CRC32C, got.SHA256, wantCRC)
	}
}

// A size probe reads the OACK's tsize and aborts with ERROR 0.
func TestGetProbeAborts(t *testing.T) {
	s := newTestTFTPServer(t, map[string][]byte{"k.img": testFile(70000)})
	c := NewTFTPClient("", s.clientAddr())
	got, err := c.Get(context.Background(), s.addr, Fetch{Name: "k.img", Blksize: 1024, Tsize: true, Probe: true}, false)
	if err != nil || got.Tsize != 70000 || got.Bytes != 0 {
		t.Fatalf("probe: tsize %d, %d bytes, %v; want 70000, 0, nil", got.Tsize, got.Bytes, err)
	}
	waitFor(t, func() bool { _, errs := s.counts(); return len(errs) == 1 && errs[0] == "0 tsize probe done" }, s.counts)
}

// With the RRQ sent twice, the server starts two transfers: the client
// takes the first answer and refuses the other with ERROR 5 (RFC 1350).
func TestGetDuplicateRRQRefusesSecondTransfer(t *testing.T) {
	want := testFile(20000)
	s := newTestTFTPServer(t, map[string][]byte{"s.elf": want})
	s.answerTogether(2)
	c := NewTFTPClient("", s.clientAddr())
	got, err := c.Get(context.Background(), s.addr, Fetch{Name: "s.elf", Blksize: 1024, Tsize: true, Duplicate: true}, true)
	if err != nil || string(got.Data) != string(want) {
		t.Fatalf("got %d bytes, %v; want %d", got.Bytes, err, len(want))
	}
	waitFor(t, func() bool {
		rrqs, errs := s.counts()
		return rrqs == 2 && len(errs) == 1 && errs[0] == "5 Unknown transfer ID"
	}, s.counts)

}

// A lost DATA is recovered by the client's timeout (it ACKs the block
// before again); a server that never answers gets the RRQ 1+Retries times
// and the fetch fails.
func TestGetRetransmits(t *testing.T) {
	want := testFile(10000)
	s := newTestTFTPServer(t, map[string][]byte{"f": want})
	s.lose(3, 7)
	c := NewTFTPClient("", s.clientAddr())
	got, err := c.Get(context.Background(), s.addr, Fetch{Name: "f", Timeout: 100 * time.Millisecond}, true)
	if err != nil || string(got.Data) != string(want) {
		t.Fatalf("with lost blocks: got %d bytes, %v; want %d", got.Bytes, err, len(want))
	}

	s.conn.Close() // nobody on port 69 any more
	_, err = c.Get(context.Background(), s.addr, Fetch{Name: "f", Timeout: 50 * time.Millisecond, Retries: 2}, false)
	if err == nil || !strings.Contains(err.Error(), "no answer after 3 tries") {
		t.Fatalf("silent server: %v, want no answer after 3 tries", err)
	}
}

// A cancelled context ends a fetch with the context's error.
func TestGetCancelled(t *testing.T) {
	s := newTestTFTPServer(t, map[string][]byte{"f": testFile(100)})
	c := NewTFTPClient("", s.clientAddr())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, s.addr, Fetch{Name: "f"}, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// BenchmarkGet runs benchFetches fetches of a 1-MB file in 512-byte
// blocks at once over loopback, from a test server in a child process, and
// reports the client's CPU time per block (getrusage of this process, which
// then holds only the client).
func BenchmarkGet(b *testing.B) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		in.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	srv, perr := netip.ParseAddr(strings.TrimSpace(line))
	if err != nil || perr != nil {
		b.Fatalf("helper server said %q: %v %v", line, err, perr)
	}
	a := srv.As4()
	a[3]++
	c := NewTFTPClient("", netip.AddrFrom4(a))
	blocks := helperFileSize/512 + 1
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, benchFetches)
		for range benchFetches {
			wg.Go(func() {
				if _, err := c.Get(context.Background(), srv, Fetch{Name: "k"}, false); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N*benchFetches*blocks), "cpu-µs/block")
}

const (
	helperFileSize = 1 << 20
	// benchFetches run at once, as in a storm: a single lock-step fetch
	// would mostly measure the runtime spinning while it waits.
	benchFetches = 16
)

// helperEnv turns the test binary into BenchmarkGet's server (a child
// process, so the benchmark's getrusage holds only the client).
const helperEnv = "PIBOARD_TFTP_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperServer())
	}
	os.Exit(m.Run())
}

// helperServer prints its address and serves until stdin closes.
func helperServer() int {
	h := &childTB{}
	defer h.cleanup()
	s := newTestTFTPServer(h, map[string][]byte{"k": testFile(helperFileSize)})
	fmt.Println(s.addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// childTB is serverTB for the child process: a failure ends it with the
// reason on stdout, where the benchmark reads the address.
type childTB struct{ cleanups []func() }

func (c *childTB) Fatal(args ...any) {
	fmt.Println(append([]any{"fail:"}, args...)...)
	c.cleanup()
	os.Exit(1)
}
func (c *childTB) Error(args ...any) { fmt.Fprintln(os.Stderr, args...) }
func (c *childTB) Cleanup(f func())  { c.cleanups = append(c.cleanups, f) }
func (c *childTB) cleanup() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
	c.cleanups = nil
}

// waitFor waits up to 2 s for cond, and fails the test with what state
// says if it does not come.
func waitFor(t *testing.T, cond func() bool, state func() (int, []string)) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	rrqs, errs := state()
	t.Fatalf("condition not met within 2 s: server saw %d RRQs, ERRORs %q", rrqs, errs)
}
