package tftpd

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
)

// TestPinTFTPClient fetches through an independent client implementation
// (github.com/pin/tftp/v3) in octet and netascii modes.
func TestPinTFTPClient(t *testing.T) {
	root := t.TempDir()
	want := randomFile(t, filepath.Join(root, "default", "kernel8.img"), 3<<20+17)
	text := "line one\nline two\r\nend\n"
	writeTree(t, root, map[string]string{"default/notes.txt": text})
	ts := startServer(t, root, nil, nil)

	c, err := tftp.NewClient(ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetBlockSize(1468)
	c.RequestTSize(true)
	c.SetTimeout(2 * time.Second)
	wt, err := c.Receive("kernel8.img", "octet")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := wt.(tftp.IncomingTransfer).Size(); !ok || n != int64(len(want)) {
		t.Errorf("tsize %d (%v), want %d", n, ok, len(want))
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("octet: got %d bytes, content differs", buf.Len())
	}

	wt, err = c.Receive("notes.txt", "netascii")
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != text {
		t.Errorf("netascii round trip: %q, want %q", buf.String(), text)
	}
}

// TestClientGoneEndsAtOnce: a board that closed its port answers with ICMP
// port-unreachable to the first retransmission; the connected transfer
// socket sees it and ends the transfer instead of waiting out every retry
// (about 5 s here).
func TestClientGoneEndsAtOnce(t *testing.T) {
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "start4.elf"), 1<<20)
	ts := startServer(t, root, nil, func(c *Config) { c.Timeout = 500 * time.Millisecond })
	c := ts.client(t)
	if err := c.send(rrq("start4.elf")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	if _, _, err := c.read(buf); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	c.close() // the board reboots: its port is gone
	if !waitFor(5*time.Second, func() bool {
		return testutilCounter(t, ts, "rpi_tftpd_transfers_total", "gone") == 1
	}) {
		t.Fatal("transfer to a closed port did not end as 'gone'")
	}
	if d := time.Since(begin); d > 1500*time.Millisecond {
		t.Errorf("took %v to notice the closed port, want about one 500 ms timeout", d)
	}
}
