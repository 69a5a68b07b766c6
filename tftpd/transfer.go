package tftpd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Errors that end a transfer, mapped to results by resultOf.
var (
	errClientAbort = errors.New("client sent ERROR")
	errClientGone  = errors.New("client port unreachable")
	errSilent      = errors.New("client silent")
	errTooLong     = errors.New("transfer over its time budget (max_transfer_time)")
)

// unverifiedSends bounds the sends of a packet to a client that has not
// acknowledged anything yet: its address may be forged (an RRQ with a
// victim's source address), and retransmitting to it would multiply what
// one small packet makes this server send there.
const unverifiedSends = 2

// clientError carries the ERROR a client ended a transfer with.
type clientError struct {
	block  uint16
	code   uint16
	msg    string
	atOACK bool // the board declined our option reply (tsize probe)
}

func (e *clientError) Error() string {
	return fmt.Sprintf("client sent ERROR %d %q at block %d", e.code, e.msg, e.block)
}
func (e *clientError) Unwrap() error { return errClientAbort }

// session is one read transfer on its own connected socket: the kernel
// filters stray senders, and an ICMP port-unreachable from a board that
// gave up ends the transfer at once instead of after every retry.
type session struct {
	conn    *net.UDPConn
	timeout time.Duration // first retransmission timer
	retries int
	blksize int
	window  int    // blocks sent per ACK (RFC 7440 windowsize)
	send    []byte // header + one block
	recv    []byte
	sent    int // datagrams sent, retransmissions included
	// When the file's last block was first queued for sending (wall
	// clock, comparable with kernel arrival times); see Server.claim.
	lastSent time.Time

	// The file being sent; mem is it when it is in memory (inMem), so a
	// block is copied without an interface call.
	src   io.ReaderAt
	size  int64
	mem   memFile
	inMem bool

	// Raw socket path, see sockio.go.
	rc     syscall.RawConn
	fd     int
	onRead func(uintptr) bool
	armed  time.Time // read deadline set on conn; zero: none yet
	// What the next await sends before waiting: qPkt, or blocks qNext..qLast.
	queued       bool
	qPkt         []byte
	qNext, qLast int64
	rn           int   // datagram length read by the callback
	rerr         error // read error of the callback
	serr         error // send error of the callback

	// verified: the client acknowledged something, so its address is
	// really its own. Until then every send asks budget (per client
	// address, shared by its transfers) and at most unverifiedSends go out.
	verified bool
	budget   func() bool
	// deadline ends a transfer that runs longer than max_transfer_time (a
	// client holding a slot with a tiny block size and slow ACKs).
	deadline time.Time
}

// mayQueue reports whether the next packet may be sent: always once the
// client is verified, else only within the client address's budget.
func (s *session) mayQueue() bool {
	return s.verified || s.budget == nil || s.budget()
}

// overTime reports whether the transfer's time budget is spent.
func (s *session) overTime() bool {
	return !s.deadline.IsZero() && time.Now().After(s.deadline)
}

// dialSession opens the transfer socket from the address the request was
// sent to (so replies come from the address the board talks to) to the
// board's port.
func dialSession(local net.IP, to *net.UDPAddr) (*net.UDPConn, error) {
	var laddr *net.UDPAddr
	if local != nil && !local.IsUnspecified() && !local.Equal(net.IPv4bcast) && !local.IsMulticast() {
		laddr = &net.UDPAddr{IP: local}
	}
	conn, err := net.DialUDP("udp4", laddr, to)
	if err != nil && laddr != nil {
		conn, err = net.DialUDP("udp4", nil, to)
	}
	return conn, err
}

// wait returns the retransmission timer for attempt i (0 = first send):
// timeout, 1.5x, then 2x the timeout, so a lost packet is resent quickly
// and a silent board is given up on after about 10 timeouts at 5 retries.
func (s *session) wait(i int) time.Duration {
	return s.timeout + min(time.Duration(i), 2)*s.timeout/2
}

// exchange sends s.send[:n] and waits for the ACK of block, retransmitting
// on silence. ACKs of other blocks are ignored: answering a duplicate ACK
// with a resend would double every packet from then on (the "Sorcerer's
// Apprentice" bug of RFC 1350).
func (s *session) exchange(n int, block uint16) error {
	for attempt := 0; attempt <= s.retries; attempt++ {
		if !s.verified && attempt >= unverifiedSends {
			break
		}
		if s.overTime() {
			return errTooLong
		}
		timer := s.wait(attempt)
		due := time.Now().Add(timer)
		if err := s.armRead(due, timer); err != nil {
			return err
		}
		if s.mayQueue() {
			s.queuePacket(s.send[:n], block)
		}
	wait:
		for {
			m, err := s.await(block)
			if err != nil {
				switch {
				case errors.Is(err, os.ErrDeadlineExceeded):
					again, aerr := s.rearmEarly(due)
					if aerr != nil {
						return aerr
					}
					if again {
						continue
					}
					break wait // retransmit
				case errors.Is(err, syscall.ECONNREFUSED):
					return errClientGone
				}
				return err
			}
			if m < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(s.recv) {
			case opACK:
				if binary.BigEndian.Uint16(s.recv[2:]) == block {
					s.verified = true
					return nil
				}
			case opERROR:
				// Never answer an ERROR (RFC 1350): the board may already be
				// reusing this port for its next request.
				msg := s.recv[4:m]
				if i := indexNul(msg); i >= 0 {
					msg = msg[:i]
				}
				return &clientError{block: block, code: binary.BigEndian.Uint16(s.recv[2:]), msg: string(msg), atOACK: block == 0}
			}
		}
	}
	return fmt.Errorf("block %d after %d retransmissions: %w", block, s.retries, errSilent)
}

func indexNul(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// sendOACK acknowledges the accepted options and waits for ACK 0.
func (s *session) sendOACK(opts []option) error {
	b := s.send[:2]
	binary.BigEndian.PutUint16(b, opOACK)
	for _, o := range opts {
		b = append(append(b, o.name...), 0)
		b = append(append(b, o.value...), 0)
	}
	if len(b) > len(s.send) {
		s.send = b
	}
	return s.exchange(len(b), 0)
}

// sendFile sends size bytes of r in blocks of s.blksize, s.window blocks
// per ACK (RFC 7440; 1 is classic lock-step). Block numbers wrap after 65535
// as tftp-hpa, U-Boot and the Pi expect.
func (s *session) sendFile(r io.ReaderAt, size int64) (int64, error) {
	s.src, s.size = r, size
	s.mem, s.inMem = r.(memFile)
	bs := int64(s.blksize)
	last := size/bs + 1 // index of the final block, short or empty
	base := int64(1)    // first block not yet acknowledged
	sentUpTo := func() int64 { return min((base-1)*bs, size) }
	attempts := 0
	for {
		if s.overTime() {
			return sentUpTo(), errTooLong
		}
		end := min(base+int64(s.window)-1, last)
		if !s.verified {
			end = base // one block to an address that may be forged
		}
		if end == last && s.lastSent.IsZero() {
			s.lastSent = time.Now().Round(0)
		}
		timer := s.wait(attempts)
		due := time.Now().Add(timer)
		if err := s.armRead(due, timer); err != nil {
			return sentUpTo(), err
		}
		if s.mayQueue() {
			s.queueBlocks(base, end)
		}
	wait:
		for {
			m, err := s.await(uint16(base))
			if err != nil {
				switch {
				case errors.Is(err, os.ErrDeadlineExceeded):
					again, aerr := s.rearmEarly(due)
					if aerr != nil {
						return sentUpTo(), aerr
					}
					if again {
						continue
					}
					if attempts++; attempts > s.retries || (!s.verified && attempts >= unverifiedSends) {
						return sentUpTo(), fmt.Errorf("block %d after %d retransmissions: %w", uint16(base), attempts-1, errSilent)
					}
					break wait // resend the window
				case errors.Is(err, syscall.ECONNREFUSED):
					return sentUpTo(), errClientGone
				}
				return sentUpTo(), err
			}
			if m < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(s.recv) {
			case opACK:
				// Distance of the ACKed block from the last acknowledged one,
				// in the wrapping 16-bit block space.
				ahead := int64(binary.BigEndian.Uint16(s.recv[2:]) - uint16(base-1))
				switch {
				case ahead >= 1 && base-1+ahead <= end:
					base += ahead
					attempts = 0
					s.verified = true
					if base > last {
						return size, nil
					}
					break wait
				case ahead == 0 && s.window > 1:
					// RFC 7440: the board saw a gap and re-ACKs the last
					// block it has; resend from there. (In lock-step, a
					// duplicate ACK is ignored: Sorcerer's Apprentice.)
					if attempts++; attempts > s.retries {
						return sentUpTo(), fmt.Errorf("block %d: %w", uint16(base), errSilent)
					}
					break wait
				}
			case opERROR:
				msg := s.recv[4:m]
				if i := indexNul(msg); i >= 0 {
					msg = msg[:i]
				}
				return sentUpTo(), &clientError{block: uint16(base), code: binary.BigEndian.Uint16(s.recv[2:]), msg: string(msg)}
			}
		}
	}
}

// fillBlock puts DATA block idx (1-based, unwrapped) of the file into
// s.send and returns the packet's length.
func (s *session) fillBlock(idx int64) (int, error) {
	off := (idx - 1) * int64(s.blksize)
	n := int(min(int64(s.blksize), s.size-off))
	if n > 0 {
		if s.inMem {
			copy(s.send[4:4+n], s.mem[off:])
		} else if got, err := s.src.ReadAt(s.send[4:4+n], off); got < n {
			return 0, fmt.Errorf("read %d bytes at %d: file shrank while sending: %w", n, off, err)
		}
	}
	binary.BigEndian.PutUint16(s.send[0:], opDATA)
	binary.BigEndian.PutUint16(s.send[2:], uint16(idx))
	return 4 + n, nil
}

// sendError tells the board why its request failed, from the transfer's port.
func (s *session) sendError(code uint16, msg string) {
	_, _ = s.conn.Write(packError(code, msg))
}
