//go:build integration

package piboard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// testTFTPServer is a small RFC 1350/2347/2348/2349 server on a loopback
// address of its own, port 69 (Get always asks port 69), for testing the
// client without namespaces or an external daemon.
type testTFTPServer struct {
	t     serverTB
	addr  netip.Addr
	conn  *net.UDPConn
	files map[string][]byte
	mu    sync.Mutex
	// together, expect, sent: the first expect transfers each wait, after
	// their first packet, until all of them have sent theirs (together is
	// closed then), so that a client sees every answer to a duplicate RRQ
	// before its transfer can end.
	together chan struct{}
	expect   int
	sent     int
	// withhold: DATA blocks not sent the first time they are due, once each
	// (a lost packet).
	withhold map[uint16]bool
	rrqs     int
	errors   []string       // ERROR packets the client sent, as "code msg"
	conns    []*net.UDPConn // transfers' sockets, closed with the server
	closed   bool
	wg       sync.WaitGroup
}

// serverTB is what the test server needs of its test: a testing.TB, or
// the benchmark's child process, which has none.
type serverTB interface {
	Fatal(args ...any)
	Error(args ...any)
	Cleanup(func())
}

// newTestTFTPServer serves files on 127.x.y.z:69 for the test's lifetime.
// Port 69 needs root, as the whole suite does in CI.
func newTestTFTPServer(t serverTB, files map[string][]byte) *testTFTPServer {
	s := &testTFTPServer{t: t, files: files, withhold: map[uint16]bool{}}
	var err error
	for range 20 {
		s.addr = netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(100)), byte(rand.IntN(256)), byte(2 + rand.IntN(250))})
		s.conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: s.addr.AsSlice(), Port: 69})
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EACCES) {
			t.Fatal(fmt.Errorf("bind port 69 (run as root): %w", err))
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		s.conn.Close()
		s.mu.Lock()
		s.closed = true
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// answerTogether makes the first n transfers wait for each other's first
// packet; call it before the client sends anything.
func (s *testTFTPServer) answerTogether(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expect, s.together = n, make(chan struct{})
}

// lose makes the server skip the first sending of each of blocks.
func (s *testTFTPServer) lose(blocks ...uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range blocks {
		s.withhold[b] = true
	}
}

// clientAddr is a loopback address for the client, next to the server's.
func (s *testTFTPServer) clientAddr() netip.Addr {
	a := s.addr.As4()
	a[3]++
	return netip.AddrFrom4(a)
}

func (s *testTFTPServer) counts() (rrqs int, errs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rrqs, append([]string(nil), s.errors...)
}

func (s *testTFTPServer) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 4 || binary.BigEndian.Uint16(buf) != opRRQ {
			continue
		}
		parts := bytes.Split(bytes.TrimRight(buf[2:n], "\x00"), []byte{0})
		if len(parts) < 2 {
			continue
		}
		s.mu.Lock()
		s.rrqs++
		idx := s.rrqs
		s.mu.Unlock()
		opts := map[string]string{}
		for i := 2; i+1 < len(parts); i += 2 {
			opts[string(parts[i])] = string(parts[i+1])
		}
		s.wg.Add(1)
		go s.transfer(idx, string(parts[0]), opts, from)
	}
}

// transfer (the n-th RRQ) sends one file from a fresh port, lock-step.
func (s *testTFTPServer) transfer(n int, name string, opts map[string]string, to *net.UDPAddr) {
	defer s.wg.Done()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: s.addr.AsSlice()})
	if err != nil {
		s.t.Error(err)
		return
	}
	defer conn.Close()
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	data, ok := s.files[name]
	if !ok {
		_, _ = conn.WriteToUDP(errorPacket(1, "File not found"), to)
		return
	}
	bs := 512
	var oack []byte
	if v, ok := opts["blksize"]; ok {
		bs, _ = strconv.Atoi(v)
		oack = append(append(oack, "blksize\x00"...), v+"\x00"...)
	}
	if _, ok := opts["tsize"]; ok {
		oack = append(append(oack, "tsize\x00"...), strconv.Itoa(len(data))+"\x00"...)
	}
	// exchange sends p (unless withheld) and waits for the ACK of block
	// want. It never retransmits on its own: it sends p again only when the
	// client ACKs the block before (the client's own retransmission), so
	// the client's timer is what recovers a lost packet.
	buf := make([]byte, 1500)
	first := true
	exchange := func(p []byte, want uint16, withhold bool) bool {
		if !withhold {
			_, _ = conn.WriteToUDP(p, to)
		}
		if first {
			first = false
			s.mu.Lock()
			wait := s.together
			if n <= s.expect {
				if s.sent++; s.sent == s.expect {
					close(s.together)
				}
			} else {
				wait = nil
			}
			s.mu.Unlock()
			if wait != nil {
				select {
				case <-wait:
				case <-time.After(5 * time.Second):
				}
			}
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil || n < 4 {
				return false
			}
			switch binary.BigEndian.Uint16(buf) {
			case opACK:
				switch binary.BigEndian.Uint16(buf[2:]) {
				case want:
					return true
				case want - 1:
					_, _ = conn.WriteToUDP(p, to)
				}
			case opERROR:
				s.mu.Lock()
				s.errors = append(s.errors, fmt.Sprintf("%d %s", binary.BigEndian.Uint16(buf[2:]), bytes.TrimRight(buf[4:n], "\x00")))
				s.mu.Unlock()
				return false
			}
		}
	}
	if oack != nil && !exchange(append([]byte{0, opOACK}, oack...), 0, false) {
		return
	}
	for blk := uint16(1); ; blk++ {
		off := int(blk-1) * bs
		end := min(off+bs, len(data))
		p := append([]byte{0, opDATA, byte(blk >> 8), byte(blk)}, data[off:end]...)
		s.mu.Lock()
		drop := s.withhold[blk]
		delete(s.withhold, blk)
		s.mu.Unlock()
		if !exchange(p, blk, drop) || end-off < bs {
			return
		}
	}
}

func testFile(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}
