package tftpd

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
	"golang.org/x/sys/unix"
)

func randomFile(t testing.TB, path string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPi4EEPROMClient fetches a start4.elf-sized file the way the Pi 4
// EEPROM does: blksize 1024, a tsize probe it aborts, then the real RRQ
// sent twice from the same port. The file must arrive intact, from a single
// server transfer.
func TestPi4EEPROMClient(t *testing.T) {
	root := t.TempDir()
	want := randomFile(t, filepath.Join(root, "nodes", "1234abcd", "start4.elf"), 20<<20)
	ts := startServer(t, root, nil, nil)
	c := ts.client(t)
	c.timeout = 3 * time.Second

	size, err := c.probe("1234abcd/start4.elf", 1024)
	if err != nil {
		t.Fatalf("tsize probe: %v", err)
	}
	if size != int64(len(want)) {
		t.Fatalf("tsize %d, want %d", size, len(want))
	}
	begin := time.Now()
	got, oack, err := c.get("1234abcd/start4.elf", 1, "tsize", "0", "blksize", "1024")
	if err != nil {
		t.Fatalf("get after probe: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("checksum mismatch: got %d bytes, want %d", len(got), len(want))
	}
	if oack["blksize"] != "1024" || oack["tsize"] != strconv.Itoa(len(want)) {
		t.Errorf("OACK %v, want blksize 1024 and tsize %d", oack, len(want))
	}
	if len(c.tids) != 1 {
		t.Errorf("data came from %d server transfers, want 1 (duplicate RRQ not collapsed)", len(c.tids))
	}
	t.Logf("20 MiB at blksize 1024 in %v", time.Since(begin))
	if !waitFor(2*time.Second, func() bool { return ts.logged("sent", "1234abcd/start4.elf") }) {
		t.Error("no 'sent' log line for the completed transfer")
	}
	if n := testutilCounter(t, ts, "rpi_tftpd_transfers_total", "aborted"); n != 1 {
		t.Errorf("aborted transfers = %v, want 1 (the tsize probe)", n)
	}
	if n := testutilCounter(t, ts, "rpi_tftpd_requests_total", "duplicate"); n < 1 {
		t.Errorf("duplicate requests = %v, want at least 1", n)
	}
}

// A duplicate RRQ that reached the server before its one-block file went
// out, but was read only after the transfer ended (the board sent it right
// behind the first while the server was busy), is dropped: the board,
// already asking for its next file from the same port, must not get this
// file again. The same request arriving after the file went out is the
// board asking again and is served at once (tftp-hpa's client re-fetching
// from its one port would otherwise wait out its 5-s retransmission).
func TestDuplicateReadAfterFinishNotServed(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"default/config.txt": "arm_64bit=1\n"})
	ts := startServer(t, root, nil, nil)
	c := ts.client(t)
	sentAt := time.Now()
	got, _, err := c.get("abcd1234/config.txt", 0)
	if err != nil || string(got) != "arm_64bit=1\n" {
		t.Fatalf("first get: %q, %v", got, err)
	}
	from := c.conn.LocalAddr().(*net.UDPAddr)
	waitFor(2*time.Second, func() bool { return testutilCounter(t, ts, "rpi_tftpd_transfers_total", "ok") == 1 })

	// What the front end would hand on for the copy read late: it arrived
	// when the first did.
	ts.handleRequest(rrq("abcd1234/config.txt"), from, reqMeta{arrived: sentAt})
	c.timeout = 300 * time.Millisecond
	buf := make([]byte, 600)
	if n, from, err := c.read(buf); err == nil {
		t.Fatalf("late duplicate answered from %v with % x", from, buf[:n])
	}
	if n := testutilCounter(t, ts, "rpi_tftpd_requests_total", "duplicate"); n != 1 {
		t.Errorf("duplicate requests = %v, want 1", n)
	}

	// The board asking again, through the real port: served.
	c.timeout = 2 * time.Second
	got, _, err = c.get("abcd1234/config.txt", 0)
	if err != nil || string(got) != "arm_64bit=1\n" {
		t.Fatalf("get again from the same port: %q, %v", got, err)
	}
	if n := testutilCounter(t, ts, "rpi_tftpd_requests_total", "duplicate"); n != 1 {
		t.Errorf("duplicate requests = %v after asking again, want still 1 (the new request was taken for a duplicate)", n)
	}
}

func TestWriteRequestRefused(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"default/x": "x"})
	ts := startServer(t, root, nil, nil)
	c := ts.client(t)
	wrq := rrq("upload.bin")
	wrq[1] = opWRQ
	if err := c.send(wrq); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	n, _, err := c.read(buf)
	if err != nil {
		t.Fatalf("no reply to WRQ: %v", err)
	}
	if op := buf[1]; op != opERROR || buf[3] != errCodeAccess {
		t.Fatalf("WRQ reply %v, want ERROR code 2", buf[:n])
	}
	if _, err := os.Stat(filepath.Join(root, "default", "upload.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WRQ created a file: %v", err)
	}
	if !ts.logged("write request refused: this server is read-only", "upload.bin") {
		t.Error("no log line for the refused WRQ")
	}
}

// TestQueueNotDrop: with one transfer slot, a second client waits and then
// completes instead of being refused.
func TestQueueNotDrop(t *testing.T) {
	root := t.TempDir()
	want := randomFile(t, filepath.Join(root, "default", "kernel8.img"), 2<<20)
	ts := startServer(t, root, nil, func(c *Config) { c.MaxTransfers = 1 })
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		c := ts.client(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := c.get("kernel8.img", 0, "blksize", "1024")
			if err == nil && !bytes.Equal(got, want) {
				err = errors.New("content mismatch")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The server counts a transfer once the last ACK is in, just after the client returns.
	if !waitFor(2*time.Second, func() bool { return testutilCounter(t, ts, "rpi_tftpd_transfers_total", "ok") == 4 }) {
		t.Errorf("ok transfers = %v, want 4", testutilCounter(t, ts, "rpi_tftpd_transfers_total", "ok"))
	}
	if q := testutilCounter(t, ts, "rpi_tftpd_transfers_total", "busy"); q != 0 {
		t.Errorf("%v requests refused as busy, want 0", q)
	}
}

// TestSilentClientReleased: a client that asks and never ACKs must not hold
// a transfer (or its slot) for long.
func TestSilentClientReleased(t *testing.T) {
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "start4.elf"), 100<<10)
	ts := startServer(t, root, nil, func(c *Config) {
		c.Timeout = 100 * time.Millisecond
		c.Retries = 2
	})
	c := ts.client(t)
	if err := c.send(rrq("start4.elf")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if !waitFor(10*time.Second, func() bool {
		return testutilCounter(t, ts, "rpi_tftpd_transfers_total", "timeout") == 1
	}) {
		t.Fatal("silent client's transfer did not time out within 10 s")
	}
	t.Logf("silent client released after %v", time.Since(begin))
	if a := testutilCounter(t, ts, "rpi_tftpd_active_transfers", ""); a != 0 {
		t.Errorf("active transfers = %v after timeout", a)
	}
}

// TestCacheServesFromMemoryAndSeesChanges checks the second fetch of a file
// is a cache hit and that an edited file is served fresh.
func TestCacheServesFromMemoryAndSeesChanges(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "default", "fixup4.dat")
	writeTree(t, root, map[string]string{"default/fixup4.dat": "version one"})
	ts := startServer(t, root, nil, nil)
	for i := range 3 {
		got, _, err := ts.client(t).get("fixup4.dat", 0)
		if err != nil || string(got) != "version one" {
			t.Fatalf("fetch %d: %q %v", i, got, err)
		}
	}
	if h, m := testutilCounter(t, ts, "rpi_tftpd_cache_hits_total", ""), testutilCounter(t, ts, "rpi_tftpd_cache_misses_total", ""); h != 2 || m != 1 {
		t.Errorf("cache hits %v misses %v, want 2 and 1", h, m)
	}
	if err := os.WriteFile(p, []byte("version two, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err := ts.client(t).get("fixup4.dat", 0)
	if err != nil || string(got) != "version two, longer" {
		t.Fatalf("after edit: %q %v", got, err)
	}
}

// TestGeneratedFilesPerNode renders the shipped templates for a board known
// to the store and checks tsize matches the rendered size.
func TestGeneratedFilesPerNode(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"boot.scr.tmpl", "cmdline.txt.tmpl", "config.txt.tmpl"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "tftp", "default", f))
		if err != nil {
			t.Fatal(err)
		}
		writeTree(t, root, map[string]string{"default/" + f: string(b)})
	}
	st := &fakeStore{nodes: map[netip.Addr]store.Node{
		netip.MustParseAddr("127.0.0.1"): {
			MAC: net.HardwareAddr{0xdc, 0xa6, 0x32, 0, 0, 1}, IP: netip.MustParseAddr("127.0.0.1"),
			Model: "rpi-4-b", Serial: "1234abcd", Hostname: "pi-01",
		},
	}}
	ts := startServer(t, root, st, nil)

	got, oack, err := ts.client(t).get("cmdline.txt", 0, "tsize", "0")
	if err != nil {
		t.Fatal(err)
	}
	wantCmd := "console=serial0,115200 console=tty1 root=/dev/nfs nfsroot=10.0.0.1:/srv/nfs/rpi-4-b,vers=3 rw ip=dhcp rootwait\n"
	if string(got) != wantCmd {
		t.Errorf("cmdline.txt = %q, want %q", got, wantCmd)
	}
	if oack["tsize"] != strconv.Itoa(len(got)) {
		t.Errorf("tsize %q for a generated file of %d bytes", oack["tsize"], len(got))
	}
	got, _, err = ts.client(t).get("config.txt", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"arm_64bit=1", "kernel=kernel8.img", "enable_uart=1", "serial 1234abcd, MAC dc:a6:32:00:00:01"} {
		if !strings.Contains(string(got), line) {
			t.Errorf("config.txt lacks %q:\n%s", line, got)
		}
	}
	// U-Boot asks for the model's stage 2 by its models.yml name.
	got, _, err = ts.client(t).get("rpi-3-b-plus/boot.scr", 0, "blksize", "1468", "timeout", "5")
	if err != nil {
		t.Fatal(err)
	}
	h, data, err := uimage.Decode(got)
	if err != nil {
		t.Fatalf("boot.scr is not a valid uImage: %v", err)
	}
	text, _ := uimage.ScriptText(data)
	if h.Type != uimage.TypeScript || h.Name != "rpinetboot stage2 rpi-3-b-plus" {
		t.Errorf("header %+v", h)
	}
	for _, line := range []string{
		`echo "rpinetboot stage2: model rpi-3-b-plus node dc:a6:32:00:00:01 ip ${ipaddr}"`,
		"tftpboot ${kernel_addr_r} rpi-3-b-plus/kernel8.img",
		"tftpboot ${fdt_addr_r} rpi-3-b-plus/bcm2710-rpi-3-b-plus.dtb",
		"nfsroot=10.0.0.1:/srv/nfs/rpi-3-b-plus,vers=3",
		"booti ${kernel_addr_r} - ${fdt_addr_r}",
	} {
		if !strings.Contains(string(text), line) {
			t.Errorf("boot.scr lacks %q:\n%s", line, text)
		}
	}
	if n := st.callCount(); n > 1 {
		t.Errorf("node store queried %d times for 3 requests within node_cache, want 1", n)
	}
}

func TestTemplateErrorIsRefusedNotFatal(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"default/bad.txt.tmpl":    "{{.Vars.no_such_var}}",
		"default/broken.txt.tmpl": "{{if}}",
		"default/ok.txt":          "fine",
	})
	ts := startServer(t, root, nil, nil)
	for _, f := range []string{"bad.txt", "broken.txt"} {
		_, _, err := ts.client(t).get(f, 0)
		var te *tftpError
		if !errors.As(err, &te) || te.msg != "template error" {
			t.Errorf("%s: want TFTP error 'template error', got %v", f, err)
		}
		if !ts.logged("transfer failed: cannot read file", f) {
			t.Errorf("%s: no log line", f)
		}
	}
	if got, _, err := ts.client(t).get("ok.txt", 0); err != nil || string(got) != "fine" {
		t.Fatalf("server unusable after template errors: %q %v", got, err)
	}
}

func TestBlksizeNegotiation(t *testing.T) {
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "f"), 5000)
	ts := startServer(t, root, nil, func(c *Config) { c.MaxBlksize = 1468 })
	for _, tc := range []struct{ ask, want string }{
		{"1024", "1024"}, {"1468", "1468"}, {"8192", "1468"}, {"65464", "1468"}, {"100000", "1468"},
		// Below min_blksize (512): not acknowledged, the transfer runs at 512.
		{"8", ""}, {"300", ""}, {"512", "512"},
	} {
		_, oack, err := ts.client(t).get("f", 0, "blksize", tc.ask)
		if err != nil {
			t.Fatal(err)
		}
		if oack["blksize"] != tc.want {
			t.Errorf("asked blksize %s: OACK %s, want %s", tc.ask, oack["blksize"], tc.want)
		}
	}
	for _, bad := range []string{"0", "7", "-1", "x"} {
		_, _, err := ts.client(t).get("f", 0, "blksize", bad)
		var te *tftpError
		if !errors.As(err, &te) || te.code != errCodeOptionAbort {
			t.Errorf("blksize %q: want ERROR 8, got %v", bad, err)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"default/a": "abc"})
	ts := startServer(t, root, nil, nil)
	if _, _, err := ts.client(t).get("a", 0); err != nil {
		t.Fatal(err)
	}
	ts.client(t).get("missing", 0)
	waitFor(time.Second, func() bool {
		return testutilCounter(t, ts, "rpi_tftpd_transfers_total", "not_found") == 1 &&
			testutilCounter(t, ts, "rpi_tftpd_transfers_total", "ok") == 1
	})
	srv := httptest.NewServer(ts.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`rpi_tftpd_transfers_total{result="ok"} 1`,
		`rpi_tftpd_transfers_total{result="not_found"} 1`,
		`rpi_tftpd_sent_bytes_total 3`,
		`rpi_tftpd_transfer_duration_seconds_count 1`,
		`rpi_tftpd_active_transfers 0`,
		`rpi_tftpd_cache_misses_total 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestStoreMissingAtStart(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"default/a": "default", "nodes/1234abcd/a": "node"})
	st := &fakeStore{missing: true, nodes: map[netip.Addr]store.Node{netip.MustParseAddr("127.0.0.1"): {Serial: "1234abcd"}}}
	ts := startServer(t, root, st, func(c *Config) { c.NodeCacheTTL = time.Millisecond })
	if got, _, err := ts.client(t).get("a", 0); err != nil || string(got) != "default" {
		t.Fatalf("without store: %q %v", got, err)
	}
	if !ts.logged("node store not available yet; serving by path and default tree, retrying", "") {
		t.Error("no log line about the missing store")
	}
	st.mu.Lock()
	st.missing = false
	st.mu.Unlock()
	ts.nodes.mu.Lock()
	ts.nodes.lastTry = time.Time{} // skip the 5 s retry wait
	ts.nodes.mu.Unlock()
	if got, _, err := ts.client(t).get("a", 0); err != nil || string(got) != "node" {
		t.Fatalf("after the store appeared: %q %v", got, err)
	}
}

// TestQueueTimeoutSaysBusy: a request that cannot get a slot within
// queue_timeout is told so with a TFTP error rather than left hanging.
func TestQueueTimeoutSaysBusy(t *testing.T) {
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "start4.elf"), 100<<10)
	ts := startServer(t, root, nil, func(c *Config) {
		c.MaxTransfers = 1
		c.QueueTimeout = time.Second
		c.Timeout = time.Second
	})
	silent := ts.client(t)
	if err := silent.send(rrq("start4.elf")); err != nil { // takes the only slot, never ACKs
		t.Fatal(err)
	}
	waitFor(time.Second, func() bool { return testutilCounter(t, ts, "rpi_tftpd_active_transfers", "") == 1 })
	c := ts.client(t)
	c.timeout = 3 * time.Second
	begin := time.Now()
	_, _, err := c.get("start4.elf", 0)
	var te *tftpError
	if !errors.As(err, &te) || te.msg != "server busy, retry" {
		t.Fatalf("queued past queue_timeout: got %v, want a 'server busy' TFTP error", err)
	}
	if d := time.Since(begin); d < 900*time.Millisecond {
		t.Errorf("refused after %v, before queue_timeout", d)
	}
	if n := testutilCounter(t, ts, "rpi_tftpd_transfers_total", "busy"); n != 1 {
		t.Errorf("busy transfers = %v, want 1", n)
	}
}

// TestWindowsizeAndLoss fetches with RFC 7440 windows (as U-Boot does with
// tftpwindowsize) and in lock-step, losing some DATA packets once: the file
// must still arrive intact, windows capped by max_windowsize.
func TestWindowsizeAndLoss(t *testing.T) {
	root := t.TempDir()
	want := randomFile(t, filepath.Join(root, "default", "kernel8.img"), 3<<20+100)
	ts := startServer(t, root, nil, func(c *Config) {
		c.Timeout = 50 * time.Millisecond
		c.MaxWindow = 16
	})
	for _, tc := range []struct {
		window, wantWindow string
		lose               func(uint16) bool
	}{
		{"8", "8", nil},
		{"8", "8", func(b uint16) bool { return b%97 == 0 }},
		{"1", "1", func(b uint16) bool { return b%211 == 0 }},
		{"100", "16", func(b uint16) bool { return b%53 == 0 || b%53 == 1 }},
	} {
		c := ts.client(t)
		c.lose = tc.lose
		got, oack, err := c.get("kernel8.img", 0, "blksize", "1468", "windowsize", tc.window)
		if err != nil {
			t.Fatalf("windowsize %s: %v", tc.window, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("windowsize %s: content differs (%d of %d bytes)", tc.window, len(got), len(want))
		}
		if oack["windowsize"] != tc.wantWindow {
			t.Errorf("asked windowsize %s: OACK %q, want %s", tc.window, oack["windowsize"], tc.wantWindow)
		}
		if tc.lose != nil && len(c.lost) == 0 {
			t.Errorf("windowsize %s: the loss pattern lost nothing", tc.window)
		}
	}
}

// TestBlockNumberWraps sends a file of more than 65535 blocks.
func TestBlockNumberWraps(t *testing.T) {
	root := t.TempDir()
	want := randomFile(t, filepath.Join(root, "default", "big.img"), 65536*512+300)
	ts := startServer(t, root, nil, nil)
	c := ts.client(t)
	got, _, err := c.get("big.img", 0, "windowsize", "16")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}

// TestMalformedRequests: garbage on the request port never crashes the
// server; a broken RRQ gets ERROR 4 and a log line, other junk is ignored.
func TestMalformedRequests(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"default/a": "abc"})
	ts := startServer(t, root, nil, nil)
	for _, pkt := range [][]byte{
		{0, opRRQ, 'a', 0, 'o', 'c', 't', 'e', 't'}, // unterminated mode
		{0, opRRQ, 'a', 0},                          // no mode
		{0, opRRQ, 'a', 0, 'o', 'c', 't', 'e', 't', 0, 'b', 'l', 'k', 's', 'i', 'z', 'e', 0}, // option without value
		{0, opRRQ, 'a', 0, 'm', 'a', 'i', 'l', 0},                                            // obsolete mode
	} {
		c := ts.client(t)
		c.timeout = time.Second
		c.send(pkt)
		buf := make([]byte, 600)
		n, _, err := c.read(buf)
		if err != nil || n < 4 || buf[1] != opERROR {
			t.Errorf("%q: want an ERROR reply, got %v %v", pkt, buf[:max(n, 0)], err)
		}
	}
	c := ts.client(t)
	c.timeout = 300 * time.Millisecond
	for _, pkt := range [][]byte{{}, {0}, {0, opACK, 0, 1}, {0, opDATA, 0, 1, 'x'}, {0xff, 0xff, 1, 2, 3}} {
		c.send(pkt)
	}
	if _, _, err := c.read(make([]byte, 600)); err == nil {
		t.Error("stray packets on the request port got a reply")
	}
	if got, _, err := ts.client(t).get("a", 0); err != nil || string(got) != "abc" {
		t.Fatalf("server unusable after garbage: %q %v", got, err)
	}
	if n := testutilCounter(t, ts, "rpi_tftpd_requests_total", "malformed"); n != 3+5 {
		t.Errorf("malformed requests = %v, want 8", n)
	}
}

// TestRefusalWarningsLimited: a client repeating a refused request gets
// its ERROR every time, but the log gets only the first few warnings; the
// same refusal for another client is still logged.
func TestRefusalWarningsLimited(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"default/a": "abc"})
	ts := startServer(t, root, nil, nil)
	c := ts.client(t)
	c.timeout = time.Second
	wrq := []byte{0, opWRQ, 'a', 0, 'o', 'c', 't', 'e', 't', 0}
	for i := range 40 {
		c.send(wrq)
		buf := make([]byte, 600)
		if n, _, err := c.read(buf); err != nil || n < 4 || buf[1] != opERROR {
			t.Fatalf("WRQ %d: want an ERROR reply, got %v %v", i, buf[:max(n, 0)], err)
		}
	}
	const msg = "write request refused: this server is read-only"
	count := func() int {
		n := 0
		for _, e := range ts.logs.AllEntries() {
			if e.Message == msg {
				n++
			}
		}
		return n
	}
	if n := count(); n != warnBurst {
		t.Fatalf("40 refused WRQs from one client logged %d warnings, want %d", n, warnBurst)
	}
	// Another client (here: the limiter's view of another address).
	if ok, _ := ts.warn.Allow("192.0.2.7", msg); !ok {
		t.Error("another client's first refusal would be held back")
	}
}

// TestDuplicateNotServedTwice: duplicate RRQs for a small file that is sent
// before they are looked at must not start a second transfer: the board may
// already be using the port for its next file.
func TestDuplicateNotServedTwice(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"default/config.txt": "arm_64bit=1\n"})
	ts := startServer(t, root, nil, nil)
	c := ts.client(t)
	got, _, err := c.get("config.txt", 3, "tsize", "0", "blksize", "1024")
	if err != nil || string(got) != "arm_64bit=1\n" {
		t.Fatalf("get: %q %v", got, err)
	}
	c.timeout = 500 * time.Millisecond
	if n, from, err := c.read(make([]byte, 2048)); err == nil {
		t.Fatalf("a second transfer sent %d bytes from %v after the file was complete", n, from)
	}
	if n := testutilCounter(t, ts, "rpi_tftpd_transfers_total", "ok"); n != 1 {
		t.Errorf("ok transfers = %v, want 1", n)
	}
}

func TestRequestPortBuffer(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	growReadBuffer(conn, requestBuffer)
	rc, _ := conn.SyscallConn()
	var got int
	rc.Control(func(fd uintptr) { got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	// The kernel reports twice the size asked for (bookkeeping overhead).
	if got < requestBuffer {
		t.Errorf("request port receive buffer %d bytes, want at least %d (running as root?)", got, requestBuffer)
	}
}
