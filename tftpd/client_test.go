package tftpd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// tftpError is an ERROR packet received by the test client.
type tftpError struct {
	code uint16
	msg  string
}

func (e *tftpError) Error() string { return fmt.Sprintf("tftp error %d: %s", e.code, e.msg) }

// testClient is a small lockstep TFTP client that can misbehave like the
// Pi 4 EEPROM (tsize probe then abort, duplicate RRQs) and counts which
// server ports (TIDs) sent it data.
type testClient struct {
	conn    *net.UDPConn
	server  *net.UDPAddr
	timeout time.Duration
	tids    map[int]bool            // server ports that sent us OACK/DATA
	sink    io.Writer               // if set, data goes here instead of being returned
	got     int64                   // bytes received by the last get
	lose    func(block uint16) bool // if set, DATA blocks it picks are lost once
	lost    map[uint16]bool
	slowACK time.Duration // if set, wait this long before each ACK of DATA
}

func newTestClient(server *net.UDPAddr) (*testClient, error) {
	return newTestClientFrom(net.IPv4(127, 0, 0, 1), server)
}

// newTestClientFrom binds the client to local (any 127/8 address works on
// loopback, so each simulated board can have its own IP).
func newTestClientFrom(local net.IP, server *net.UDPAddr) (*testClient, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local})
	if err != nil {
		return nil, err
	}
	return &testClient{conn: conn, server: server, timeout: 2 * time.Second, tids: map[int]bool{}}, nil
}

func (c *testClient) close() { c.conn.Close() }

func rrq(file string, opts ...string) []byte {
	b := []byte{0, opRRQ}
	b = append(append(b, file...), 0)
	b = append(b, "octet\x00"...)
	for _, o := range opts {
		b = append(append(b, o...), 0)
	}
	return b
}

// send sends raw bytes to the request port.
func (c *testClient) send(b []byte) error {
	_, err := c.conn.WriteToUDP(b, c.server)
	return err
}

// read waits for one packet from the server's address.
func (c *testClient) read(buf []byte) (int, *net.UDPAddr, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, nil, err
	}
	return c.conn.ReadFromUDP(buf)
}

// probe sends an RRQ asking for tsize, reads the OACK and aborts with an
// ERROR, as the Pi 4 EEPROM does to learn a file's size.
func (c *testClient) probe(file string, blksize int) (int64, error) {
	req := rrq(file, "tsize", "0", "blksize", strconv.Itoa(blksize))
	buf := make([]byte, 65536)
	var (
		n    int
		from *net.UDPAddr
		err  error
	)
	for try := 0; try < 5; try++ { // retransmit the RRQ on silence, as boards do
		if err := c.send(req); err != nil {
			return 0, err
		}
		n, from, err = c.read(buf)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	p := buf[:n]
	if op := binary.BigEndian.Uint16(p); op == opERROR {
		return 0, &tftpError{binary.BigEndian.Uint16(p[2:]), string(p[4 : len(p)-1])}
	} else if op != opOACK {
		return 0, fmt.Errorf("probe: want OACK, got opcode %d", op)
	}
	opts := parseOACK(p)
	size, err := strconv.ParseInt(opts["tsize"], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("probe: OACK without tsize: %v", opts)
	}
	_, err = c.conn.WriteToUDP(packError(errCodeOptionAbort, "tsize probe"), from)
	return size, err
}

func parseOACK(p []byte) map[string]string {
	m := map[string]string{}
	f := splitNul(p[2:])
	for i := 0; i+1 < len(f); i += 2 {
		m[f[i]] = f[i+1]
	}
	return m
}

func splitNul(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}

// get fetches file; dup > 0 sends that many extra copies of the RRQ right
// after the first, as a Pi may. It returns the data and the OACK options.
func (c *testClient) get(file string, dup int, opts ...string) ([]byte, map[string]string, error) {
	req := rrq(file, opts...)
	for i := 0; i <= dup; i++ {
		if err := c.send(req); err != nil {
			return nil, nil, err
		}
	}
	blksize, window, sinceAck, gap := 512, 1, 0, false
	if c.lose != nil && c.lost == nil {
		c.lost = map[uint16]bool{}
	}
	var (
		data    []byte
		oack    map[string]string
		tid     *net.UDPAddr
		last    = req
		lastTo  = c.server
		want    = uint16(1)
		retries = 0
	)
	buf := make([]byte, 65536+4)
	c.got = 0
	for {
		n, from, err := c.read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if retries++; retries > 5 {
				return data, oack, fmt.Errorf("get %s: server silent: %w", file, err)
			}
			if _, err := c.conn.WriteToUDP(last, lastTo); err != nil {
				return data, oack, err
			}
			continue
		}
		if err != nil {
			return data, oack, err
		}
		retries = 0
		p := buf[:n]
		if n < 4 {
			continue
		}
		if tid == nil {
			tid = from
		} else if from.Port != tid.Port {
			// RFC 1350: a packet from an unknown TID gets an ERROR 5.
			c.tids[from.Port] = true
			c.conn.WriteToUDP(packError(5, "unknown transfer ID"), from)
			continue
		}
		switch binary.BigEndian.Uint16(p) {
		case opERROR:
			return data, oack, &tftpError{binary.BigEndian.Uint16(p[2:]), string(p[4 : len(p)-1])}
		case opOACK:
			c.tids[from.Port] = true
			oack = parseOACK(p)
			if v, ok := oack["blksize"]; ok {
				blksize, _ = strconv.Atoi(v)
			}
			if v, ok := oack["windowsize"]; ok {
				window, _ = strconv.Atoi(v)
			}
			last, lastTo = []byte{0, opACK, 0, 0}, from
			c.conn.WriteToUDP(last, from)
		case opDATA:
			c.tids[from.Port] = true
			blk := binary.BigEndian.Uint16(p[2:])
			if c.lose != nil && !c.lost[blk] && c.lose(blk) {
				c.lost[blk] = true // simulate a packet lost on the wire
				continue
			}
			if blk == want {
				gap = false
				c.got += int64(n - 4)
				if c.sink != nil {
					c.sink.Write(p[4:])
				} else {
					data = append(data, p[4:]...)
				}
				last, lastTo = []byte{0, opACK, byte(blk >> 8), byte(blk)}, from
				final := n-4 < blksize
				// RFC 7440: ACK once per window, and the final block.
				if sinceAck++; sinceAck >= window || final {
					sinceAck = 0
					time.Sleep(c.slowACK)
					c.conn.WriteToUDP(last, from)
				}
				if final {
					return data, oack, nil
				}
				want++
			} else if window == 1 || !gap {
				// Duplicate, or a gap in a window: re-ACK the last good
				// block once so the server resends from there.
				gap = window > 1
				sinceAck = 0
				c.conn.WriteToUDP(last, from)
			}
		}
	}
}
