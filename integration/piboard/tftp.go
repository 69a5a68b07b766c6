package piboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
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
	Timeout   time.Duration
	Retries   int
}

// Fetched is what a Fetch got.
type Fetched struct {
	Bytes    int64
	SHA256   string
	Tsize    int64 // the OACK's tsize, -1 if none
	Blksize  int   // block size in use
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
	err := InNS(c.ns, func() error {
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
	res := Fetched{Tsize: -1, Blksize: 512}
	conn, err := c.dial()
	if err != nil {
		return res, err
	}
	defer conn.Close()
	srv := &net.UDPAddr{IP: server.AsSlice(), Port: 69}
	req := rrq(f)
	send := func(p []byte, to *net.UDPAddr) error {
		_, err := conn.WriteToUDP(p, to)
		return err
	}
	if err := send(req, srv); err != nil {
		return res, fmt.Errorf("tftp %s: send RRQ: %w", f.Name, err)
	}
	if f.Duplicate {
		if err := send(req, srv); err != nil {
			return res, fmt.Errorf("tftp %s: send RRQ: %w", f.Name, err)
		}
	}
	var (
		peer    *net.UDPAddr // the transfer id, fixed by the first answer
		last    []byte       // what to send again on timeout
		next    uint16       = 1
		h                    = sha256.New()
		data    bytes.Buffer
		tries   int
		buf     = make([]byte, 65536)
		started bool
	)
	last = req
	for {
		if ctx.Err() != nil {
			return res, fmt.Errorf("tftp %s: %w", f.Name, ctx.Err())
		}
		_ = conn.SetReadDeadline(time.Now().Add(f.Timeout))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tries++
				if tries > f.Retries {
					return res, fmt.Errorf("tftp %s: no answer after %d tries (block %d)", f.Name, tries, next)
				}
				to := srv
				if peer != nil {
					to = peer
				}
				if err := send(last, to); err != nil {
					return res, fmt.Errorf("tftp %s: resend: %w", f.Name, err)
				}
				continue
			}
			return res, fmt.Errorf("tftp %s: read: %w", f.Name, err)
		}
		p := buf[:n]
		if peer == nil {
			peer = from
		} else if !from.IP.Equal(peer.IP) || from.Port != peer.Port {
			// A second transfer (e.g. for the duplicate RRQ): refuse it as RFC 1350 says.
			_ = send(errorPacket(5, "Unknown transfer ID"), from)
			continue
		}
		if len(p) < 4 {
			return res, fmt.Errorf("tftp %s: %d-byte packet", f.Name, len(p))
		}
		switch binary.BigEndian.Uint16(p) {
		case opERROR:
			return res, fmt.Errorf("tftp %s: %w", f.Name, &TFTPError{Code: binary.BigEndian.Uint16(p[2:]), Msg: string(bytes.TrimRight(p[4:], "\x00"))})
		case opOACK:
			if started {
				continue
			}
			opts := parseOACK(p[2:])
			if v, ok := opts["tsize"]; ok {
				res.Tsize, _ = strconv.ParseInt(v, 10, 64)
			}
			if v, ok := opts["blksize"]; ok {
				bs, err := strconv.Atoi(v)
				if err != nil || bs < 8 || (f.Blksize > 0 && bs > f.Blksize) {
					_ = send(errorPacket(8, "bad blksize"), peer)
					return res, fmt.Errorf("tftp %s: OACK blksize %q, asked %d", f.Name, v, f.Blksize)
				}
				res.Blksize = bs
			}
			if f.Probe {
				_ = send(errorPacket(0, "tsize probe done"), peer)
				return res, nil
			}
			last = []byte{0, opACK, 0, 0}
			tries = 0
			if err := send(last, peer); err != nil {
				return res, fmt.Errorf("tftp %s: ACK 0: %w", f.Name, err)
			}
		case opDATA:
			started = true
			blk := binary.BigEndian.Uint16(p[2:])
			if blk != next {
				if blk == next-1 { // our ACK was lost
					_ = send([]byte{0, opACK, byte(blk >> 8), byte(blk)}, peer)
				}
				continue
			}
			payload := p[4:]
			h.Write(payload)
			if keep {
				data.Write(payload)
			}
			res.Bytes += int64(len(payload))
			last = []byte{0, opACK, byte(blk >> 8), byte(blk)}
			tries = 0
			if err := send(last, peer); err != nil {
				return res, fmt.Errorf("tftp %s: ACK %d: %w", f.Name, blk, err)
			}
			next++
			if len(payload) < res.Blksize {
				res.LastByte = time.Now()
				res.SHA256 = hex.EncodeToString(h.Sum(nil))
				if keep {
					res.Data = data.Bytes()
				}
				if res.Tsize >= 0 && res.Tsize != res.Bytes {
					return res, fmt.Errorf("tftp %s: got %d bytes, OACK tsize said %d", f.Name, res.Bytes, res.Tsize)
				}
				return res, nil
			}
		default:
			_ = send(errorPacket(4, "Illegal TFTP operation"), peer)
			return res, fmt.Errorf("tftp %s: unexpected opcode %d", f.Name, binary.BigEndian.Uint16(p))
		}
	}
}

func parseOACK(b []byte) map[string]string {
	m := map[string]string{}
	parts := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	for i := 0; i+1 < len(parts); i += 2 {
		m[string(bytes.ToLower(parts[i]))] = string(parts[i+1])
	}
	return m
}
