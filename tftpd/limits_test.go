package tftpd

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// countReplies reads what the server sends to cs for d: packets and bytes.
func countReplies(cs []*testClient, d time.Duration) (packets, bytes int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 70000)
			c.conn.SetReadDeadline(time.Now().Add(d))
			for {
				n, _, err := c.conn.ReadFromUDP(buf)
				if err != nil {
					return
				}
				mu.Lock()
				packets++
				bytes += n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return
}

// Forged RRQs (the "client" never answers: its address is a victim's) make
// the server send a bounded amount to that address: at most two sends per
// transfer, at most max_per_client transfers, and whatever the number of
// RRQs naming that address from whatever ports, at most its budget of
// packets: a burst of 8, then 2 a second. A genuine client is served in
// full meanwhile.
func TestUnverifiedClientGetsLittle(t *testing.T) {
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "big.img"), 4<<20)
	ts := startServer(t, root, nil, func(c *Config) {
		c.Timeout = 200 * time.Millisecond
		c.Retries = 5
		c.MaxWindow = 64
	})
	var victims []*testClient
	sent := 0
	for i := 0; i < 40; i++ { // 40 RRQs of 18-39 bytes from 40 ports of the victim's address
		v := ts.client(t)
		victims = append(victims, v)
		req := rrq("big.img", "blksize", "1468", "windowsize", "64")
		if i%2 == 0 {
			req = rrq("big.img")
		}
		v.send(req)
		sent += len(req)
	}
	start := time.Now()
	var genuine error
	var got []byte
	done := make(chan struct{})
	go func() { // from another address of this host
		defer close(done)
		c2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
		if err != nil {
			genuine = err
			return
		}
		c := &testClient{conn: c2, server: ts.addr, timeout: 2 * time.Second, tids: map[int]bool{}}
		defer c.close()
		got, _, genuine = c.get("big.img", 0, "blksize", "1468", "windowsize", "16")
	}()
	packets, bytes := countReplies(victims, 3*time.Second)
	<-done
	secs := time.Since(start).Seconds()
	t.Logf("40 forged RRQs (%d bytes) drew %d packets (%d bytes) in %.1f s: %.1fx", sent, packets, bytes, secs, float64(bytes)/float64(sent))
	if max := 8 + int(2*secs) + 2; packets > max+32 { // +32: one small ERROR per refused RRQ (over max_per_client)
		t.Errorf("%d packets to an address that never acknowledged anything, want at most %d + the ERRORs", packets, max)
	}
	if bytes > 10*sent {
		t.Errorf("amplification %.1fx, want at most 10x", float64(bytes)/float64(sent))
	}
	if genuine != nil || len(got) != 4<<20 {
		t.Errorf("a genuine client during the flood: %d bytes, %v", len(got), genuine)
	}
}

// One client address may hold at most max_per_client transfers; the next
// request gets an ERROR at once, and others are not held up.
func TestPerClientCap(t *testing.T) {
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "f"), 1<<20)
	ts := startServer(t, root, nil, func(c *Config) { c.MaxPerClient = 2; c.Timeout = 2 * time.Second })
	hog := make([]*testClient, 3)
	for i := range hog {
		hog[i] = ts.client(t)
		hog[i].send(rrq("f", "blksize", "8")) // never ACKed: they sit in their slots
	}
	buf := make([]byte, 600)
	hog[2].conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var refused bool
	for !refused {
		n, _, err := hog[2].conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		refused = n > 4 && buf[1] == opERROR && strings.Contains(string(buf[4:n]), "too many transfers")
	}
	if !refused {
		t.Error("the third transfer from one address was not refused")
	}
	if got := testutilCounter(t, ts, "rpi_tftpd_requests_total", "client_limit"); got != 1 {
		t.Errorf("client_limit requests %v, want 1", got)
	}
	other, err := newTestClient(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	_ = other.conn.SetReadBuffer(1 << 20)
	// Another address (127.0.0.2 is loopback too) is not affected.
	c2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{conn: c2, server: ts.addr, timeout: 2 * time.Second, tids: map[int]bool{}}
	defer c.close()
	if got, _, err := c.get("f", 0); err != nil || len(got) != 1<<20 {
		t.Errorf("another client: %d bytes, %v", len(got), err)
	}
}

// A transfer that outlives max_transfer_time ends (a client trickling ACKs
// would otherwise hold its slot indefinitely).
func TestTransferTimeBudget(t *testing.T) {
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "f"), 1<<20)
	ts := startServer(t, root, nil, func(c *Config) { c.MaxTransferTime = time.Second })
	c := ts.client(t)
	c.timeout = 500 * time.Millisecond
	c.slowACK = 100 * time.Millisecond // 2048 blocks at 10 a second: 200 s
	_, _, err := c.get("f", 0)
	if err == nil {
		t.Fatal("a trickling transfer ran to the end despite max_transfer_time")
	}
	if !waitFor(3*time.Second, func() bool { return ts.logged("transfer failed", "") }) {
		t.Error("no log line for the transfer ended by its time budget")
	}
}
