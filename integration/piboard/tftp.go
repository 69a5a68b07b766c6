package piboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
	"golang.org/x/sys/unix"
)

// TFTP opcodes (RFC 1350, 2347).
const (
	opRRQ   = 1
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// TFTPError is an ERROR packet the server sent.
type TFTPError struct {
	Code uint16
	Msg  string
}

// Error says what the server refused.
func (e *TFTPError) Error() string { return fmt.Sprintf("tftp error %d: %s", e.Code, e.Msg) }

// Fetch is one TFTP read as a board does it.
type Fetch struct {
	Name      string
	Blksize   int  // 0: no blksize option (512-byte blocks)
	Tsize     bool // send tsize 0 and check the OACK's answer
	Probe     bool // abort with an ERROR right after the OACK (size probe)
	Duplicate bool // send the RRQ twice back to back, as the EEPROM sometimes does
	CRC32C    bool // digest the content with CRC-32C instead of SHA-256
	Timeout   time.Duration
	Retries   int
}

// Fetched is what a Fetch got.
type Fetched struct {
	Bytes    int64
	SHA256   string // unless the Fetch asked for CRC32C
	CRC32C   string // when the Fetch asked for it
	Tsize    int64  // the OACK's tsize, -1 if none
	Blksize  int    // block size in use
	LastByte time.Time
	Data     []byte // only when keep was asked
}

// TFTPClient fetches files for one board from its address. Every request
// goes out from a fresh UDP port, as the bootloaders and U-Boot do, so a
// late packet of an earlier transfer (a retransmit, the answer to a
// duplicate RRQ, an ERROR sent back after an aborted probe) can never be
// taken for the answer to the next request.
type TFTPClient struct {
	ns    string
	local netip.Addr
}

// NewTFTPClient returns a client whose sockets bind to local inside namespace ns.
func NewTFTPClient(ns string, local netip.Addr) *TFTPClient {
	return &TFTPClient{ns: ns, local: local}
}

func (c *TFTPClient) dial() (*net.UDPConn, error) {
	var conn *net.UDPConn
	err := harness.InNS(c.ns, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: c.local.AsSlice()})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tftp bind %s: %w", c.local, err)
	}
	_ = conn.SetReadBuffer(1 << 20)
	return conn, nil
}

func rrq(f Fetch) []byte {
	b := []byte{0, opRRQ}
	b = append(append(b, f.Name...), 0)
	b = append(append(b, "octet"...), 0)
	if f.Blksize > 0 {
		b = append(append(b, "blksize"...), 0)
		b = append(append(b, strconv.Itoa(f.Blksize)...), 0)
	}
	if f.Tsize {
		b = append(append(b, "tsize"...), 0)
		b = append(append(b, '0'), 0)
	}
	return b
}

// castagnoli is the CRC-32C table (hardware-assisted on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is b's CRC-32C as Fetched.CRC32C and File.CRC32C spell it.
func CRC32C(b []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(b, castagnoli))
}

func errorPacket(code uint16, msg string) []byte {
	b := []byte{0, opERROR, byte(code >> 8), byte(code)}
	return append(append(b, msg...), 0)
}

// Get reads f.Name from server (port 69) and returns its size and hash;
// keep also returns the content.
func (c *TFTPClient) Get(ctx context.Context, server netip.Addr, f Fetch, keep bool) (Fetched, error) {
	if f.Timeout == 0 {
		f.Timeout = time.Second
	}
	if f.Retries == 0 {
		f.Retries = 5
	}
	conn, err := c.dial()
	if err != nil {
		return Fetched{Tsize: -1, Blksize: 512}, err
	}
	defer conn.Close()
	g, err := newGetter(conn, server, f, keep)
	if err != nil {
		return g.res, err
	}
	return g.run(ctx)
}

// getter is one Get in progress: its socket and where the transfer stands.
type getter struct {
	conn  *net.UDPConn
	rc    syscall.RawConn
	fd    int
	f     Fetch
	keep  bool
	res   Fetched
	srv   unix.RawSockaddrInet4 // port 69
	peer  unix.RawSockaddrInet4 // the transfer id, fixed by the first answer
	known bool                  // peer is set
	last  []byte                // what to send again on timeout
	ack   [4]byte               // the latest ACK, which last points to once data flows
	reack [4]byte               // an ACK sent again for a DATA seen twice
	next  uint16
	h     hash.Hash
	data  bytes.Buffer
	tries int
	// started: a DATA came, so a late OACK is ignored.
	started bool
	// deadline is the read deadline now armed on conn.
	deadline time.Time
	rd       *udpReader
}

func newGetter(conn *net.UDPConn, server netip.Addr, f Fetch, keep bool) (*getter, error) {
	g := &getter{conn: conn, f: f, keep: keep, res: Fetched{Tsize: -1, Blksize: 512},
		srv: inet4(server, 69), next: 1, rd: newUDPReader(65536)}
	if f.CRC32C {
		// A storm digests gigabytes; SHA-256 of them was a tenth of the
		// load generator's CPU, taken from the server under test.
		g.h = crc32.New(castagnoli)
	} else {
		g.h = sha256.New()
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return g, fmt.Errorf("tftp %s: raw socket: %w", f.Name, err)
	}
	g.rc = rc
	if err := rc.Control(func(fd uintptr) { g.fd = int(fd) }); err != nil {
		return g, fmt.Errorf("tftp %s: raw socket: %w", f.Name, err)
	}
	return g, nil
}

func (g *getter) send(p []byte, to *unix.RawSockaddrInet4) error {
	return sendTo(g.conn, g.fd, p, to)
}

// to is where requests go: the server's port 69 until it answered.
func (g *getter) to() *unix.RawSockaddrInet4 {
	if g.known {
		return &g.peer
	}
	return &g.srv
}

// arm moves the read deadline to now+timeout, but only when the armed one
// is more than a quarter of the timeout short of that (or force is set):
// moving the runtime timer for every block was a visible share of the
// client's CPU in a storm. So a lost packet is retransmitted 0.75 to 1
// timeout after the last one came instead of exactly 1 timeout, which is
// well within the slack of the boot ROM's own timer.
func (g *getter) arm(force bool) {
	want := time.Now().Add(g.f.Timeout)
	if force || want.Sub(g.deadline) > g.f.Timeout/4 {
		_ = g.conn.SetReadDeadline(want)
		g.deadline = want
	}
}

func (g *getter) run(ctx context.Context) (Fetched, error) {
	f := g.f
	req := rrq(f)
	if err := g.send(req, &g.srv); err != nil {
		return g.res, fmt.Errorf("tftp %s: send RRQ: %w", f.Name, err)
	}
	if f.Duplicate {
		if err := g.send(req, &g.srv); err != nil {
			return g.res, fmt.Errorf("tftp %s: send RRQ: %w", f.Name, err)
		}
	}
	g.last = req
	done := ctx.Done()
	var (
		finished bool
		ferr     error
	)
	// read drains the socket, handling each packet, and asks to wait only
	// after a read found it empty: the poller reports only new arrivals, so
	// a packet left in the queue would sit there until the deadline.
	read := func(fd uintptr) bool {
		for {
			p, from, err := g.rd.recv(int(fd))
			if err == unix.EAGAIN {
				g.arm(false)
				return false
			}
			if err != nil {
				finished, ferr = true, fmt.Errorf("tftp %s: read: %w", f.Name, err)
				return true
			}
			select {
			case <-done:
				finished, ferr = true, fmt.Errorf("tftp %s: %w", f.Name, ctx.Err())
				return true
			default:
			}
			if fin, err := g.handle(p, from); fin {
				finished, ferr = true, err
				return true
			}
		}
	}
	g.arm(true)
	for {
		if ctx.Err() != nil {
			return g.res, fmt.Errorf("tftp %s: %w", f.Name, ctx.Err())
		}
		err := g.rc.Read(read)
		if finished {
			return g.res, ferr
		}
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return g.res, fmt.Errorf("tftp %s: read: %w", f.Name, err)
		}
		g.tries++
		if g.tries > f.Retries {
			return g.res, fmt.Errorf("tftp %s: no answer after %d tries (block %d)", f.Name, g.tries, g.next)
		}
		if err := g.send(g.last, g.to()); err != nil {
			return g.res, fmt.Errorf("tftp %s: resend: %w", f.Name, err)
		}
		g.arm(true)
	}
}

// handle takes one packet from from; fin says Get is over, with err.
func (g *getter) handle(p []byte, from *unix.RawSockaddrInet4) (fin bool, err error) {
	f, res := g.f, &g.res
	if !g.known {
		g.peer, g.known = *from, true
	} else if !sameInet4(from, &g.peer) {
		// A second transfer (e.g. for the duplicate RRQ): refuse it as RFC 1350 says.
		_ = g.send(errorPacket(5, "Unknown transfer ID"), from)
		return false, nil
	}
	peer := &g.peer
	if len(p) < 4 {
		return true, fmt.Errorf("tftp %s: %d-byte packet", f.Name, len(p))
	}
	switch binary.BigEndian.Uint16(p) {
	case opERROR:
		return true, fmt.Errorf("tftp %s: %w", f.Name, &TFTPError{Code: binary.BigEndian.Uint16(p[2:]), Msg: string(bytes.TrimRight(p[4:], "\x00"))})
	case opOACK:
		if g.started {
			return false, nil
		}
		opts := parseOACK(p[2:])
		if v, ok := opts["tsize"]; ok {
			res.Tsize, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := opts["blksize"]; ok {
			bs, err := strconv.Atoi(v)
			if err != nil || bs < 8 || (f.Blksize > 0 && bs > f.Blksize) {
				_ = g.send(errorPacket(8, "bad blksize"), peer)
				return true, fmt.Errorf("tftp %s: OACK blksize %q, asked %d", f.Name, v, f.Blksize)
			}
			res.Blksize = bs
		}
		if f.Probe {
			_ = g.send(errorPacket(0, "tsize probe done"), peer)
			return true, nil
		}
		g.ack = [4]byte{0, opACK, 0, 0}
		g.last = g.ack[:]
		g.tries = 0
		if err := g.send(g.last, peer); err != nil {
			return true, fmt.Errorf("tftp %s: ACK 0: %w", f.Name, err)
		}
	case opDATA:
		g.started = true
		blk := binary.BigEndian.Uint16(p[2:])
		if blk != g.next {
			if blk == g.next-1 { // our ACK was lost
				g.reack = [4]byte{0, opACK, byte(blk >> 8), byte(blk)}
				_ = g.send(g.reack[:], peer)
			}
			return false, nil
		}
		payload := p[4:]
		g.h.Write(payload)
		if g.keep {
			g.data.Write(payload)
		}
		res.Bytes += int64(len(payload))
		g.ack = [4]byte{0, opACK, byte(blk >> 8), byte(blk)}
		g.last = g.ack[:]
		g.tries = 0
		if err := g.send(g.last, peer); err != nil {
			return true, fmt.Errorf("tftp %s: ACK %d: %w", f.Name, blk, err)
		}
		g.next++
		if len(payload) < res.Blksize {
			res.LastByte = time.Now()
			if f.CRC32C {
				res.CRC32C = hex.EncodeToString(g.h.Sum(nil))
			} else {
				res.SHA256 = hex.EncodeToString(g.h.Sum(nil))
			}
			if g.keep {
				res.Data = g.data.Bytes()
			}
			if res.Tsize >= 0 && res.Tsize != res.Bytes {
				return true, fmt.Errorf("tftp %s: got %d bytes, OACK tsize said %d", f.Name, res.Bytes, res.Tsize)
			}
			return true, nil
		}
	default:
		_ = g.send(errorPacket(4, "Illegal TFTP operation"), peer)
		return true, fmt.Errorf("tftp %s: unexpected opcode %d", f.Name, binary.BigEndian.Uint16(p))
	}
	return false, nil
}

func parseOACK(b []byte) map[string]string {
	m := map[string]string{}
	parts := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	for i := 0; i+1 < len(parts); i += 2 {
		m[string(bytes.ToLower(parts[i]))] = string(parts[i+1])
	}
	return m
}
