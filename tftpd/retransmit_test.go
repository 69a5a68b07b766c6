package tftpd

import (
	"encoding/binary"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestStallMidFileResentAfterFullTimeout: a board that ACKs a run of blocks
// at a steady pace and then goes quiet gets the unacknowledged block again
// one full timeout after it was first sent, never sooner (a premature resend
// is a duplicate packet for every board that is merely slow) and not much
// later. The pace makes the stall fall well inside a timer period that
// started with an earlier block, where the server keeps an earlier read
// deadline armed instead of moving it on every block.
func TestStallMidFileResentAfterFullTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "default", "bootcode.bin"), 100<<10)
	ts := startServer(t, root, nil, func(c *Config) { c.Timeout = timeout })
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.WriteToUDP(rrq("bootcode.bin"), ts.addr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	recvData := func() (uint16, *net.UDPAddr, time.Time) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("waiting for DATA: %v", err)
		}
		if n < 4 || binary.BigEndian.Uint16(buf) != opDATA {
			t.Fatalf("got opcode %d, want DATA", binary.BigEndian.Uint16(buf))
		}
		return binary.BigEndian.Uint16(buf[2:]), from, time.Now()
	}
	const stallAt = 80 // about 80 ms into the transfer at one ACK per ms
	for want := uint16(1); want < stallAt; want++ {
		blk, from, _ := recvData()
		if blk != want {
			t.Fatalf("got block %d, want %d", blk, want)
		}
		time.Sleep(time.Millisecond)
		conn.WriteToUDP([]byte{0, opACK, byte(blk >> 8), byte(blk)}, from)
	}
	blk, _, first := recvData()
	if blk != stallAt {
		t.Fatalf("got block %d, want %d", blk, stallAt)
	}
	blk, _, again := recvData() // no ACK: wait for the retransmission
	if blk != stallAt {
		t.Fatalf("after the stall got block %d, want %d again", blk, stallAt)
	}
	gap := again.Sub(first)
	t.Logf("block %d resent after %v (timeout %v)", stallAt, gap.Round(time.Millisecond), timeout)
	if gap < timeout-5*time.Millisecond {
		t.Errorf("block %d resent after %v, before the %v timeout", stallAt, gap, timeout)
	}
	if gap > timeout+300*time.Millisecond {
		t.Errorf("block %d resent after %v, long after the %v timeout", stallAt, gap, timeout)
	}
}
