package tftpd

import (
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// The per-block socket I/O of a session. A lock-step block costs one
// send, one wait and one read: the packets are sent from inside the
// RawConn.Read callback, after Go has cleared the socket's readiness and
// before it waits for it. Sending first and then calling Read (as net.Conn
// does) costs a read that fails with EAGAIN on nearly every block, since
// the ACK needs a round trip; waiting before any read without sending from
// the callback would lose an ACK that became ready between the send and
// Read, because Read clears the readiness it finds on entry.

// errSendBlocked means the socket's send buffer was full while sending from
// the read callback, where waiting for room is not possible.
var errSendBlocked = errors.New("send buffer full")

// openIO prepares the session's socket for the raw path.
func (s *session) openIO() error {
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("transfer socket: %w", err)
	}
	if err := rc.Control(func(fd uintptr) { s.fd = int(fd) }); err != nil {
		return fmt.Errorf("transfer socket: %w", err)
	}
	s.rc = rc
	s.onRead = s.readReady // one method value per session, not one per block
	return nil
}

// queueBlocks makes the next await send blocks first..last of src first.
func (s *session) queueBlocks(first, last int64) {
	s.qPkt, s.qNext, s.qLast, s.queued = nil, first, last, true
}

// queuePacket makes the next await send pkt (block's packet) first.
func (s *session) queuePacket(pkt []byte, block uint16) {
	s.qPkt, s.qNext, s.queued = pkt, int64(block), true
}

// flush sends what is queued straight on the descriptor (no fdMutex or
// poller work: only this goroutine uses the socket while a transfer runs).
// On a full send buffer it returns errSendBlocked with s.qNext at the first
// block not sent.
func (s *session) flush() error { return s.sendQueued(s.writeRaw) }

// flushBlocking sends what flush left, waiting for buffer room as
// net.Conn.Write does.
func (s *session) flushBlocking() error {
	s.queued = false
	return s.sendQueued(func(b []byte) error {
		if _, err := s.conn.Write(b); err != nil {
			return err
		}
		s.sent++
		return nil
	})
}

// sendQueued sends the queued packet, or the queued blocks from s.qNext on,
// with write; errSendBlocked passes through unwrapped, for flush's caller.
func (s *session) sendQueued(write func([]byte) error) error {
	if s.qPkt != nil {
		if err := write(s.qPkt); err != nil {
			return sendErr(err, s.qNext)
		}
		s.qPkt = nil
		return nil
	}
	for ; s.qNext <= s.qLast; s.qNext++ {
		n, err := s.fillBlock(s.qNext)
		if err != nil {
			return err
		}
		if err := write(s.send[:n]); err != nil {
			return sendErr(err, s.qNext)
		}
	}
	return nil
}

func sendErr(err error, block int64) error {
	if err == errSendBlocked {
		return err
	}
	return fmt.Errorf("send block %d: %w", uint16(block), err)
}

// writeRaw sends one datagram on the connected socket.
func (s *session) writeRaw(b []byte) error {
	for {
		_, err := rawWrite(s.fd, b)
		switch err {
		case nil:
			s.sent++
			return nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return errSendBlocked
		}
		return err
	}
}

// readReady is the RawConn.Read callback: on its first call it sends what
// is queued and asks Go to wait for readiness; then it reads one datagram,
// or asks to wait again on EAGAIN.
func (s *session) readReady(fd uintptr) bool {
	if s.queued {
		s.queued = false
		if err := s.flush(); err != nil {
			s.serr = err
			return true
		}
		return false
	}
	for {
		n, err := rawRead(int(fd), s.recv)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.rn, s.rerr = n, err
		return true
	}
}

// await sends what is queued, then returns the next datagram from the board,
// which is expected to ACK block. Errors wrap os.ErrDeadlineExceeded when
// the read deadline passed, syscall.ECONNREFUSED when the board's port is
// closed, or a send or read failure.
func (s *session) await(block uint16) (int, error) {
	s.rn, s.rerr, s.serr = 0, nil, nil
	err := s.rc.Read(s.onRead)
	if s.queued || s.serr == errSendBlocked {
		// The callback could not send everything (deadline already past on
		// entry, or no buffer room): finish with waiting writes, then read.
		if ferr := s.flushBlocking(); ferr != nil {
			return 0, ferr
		}
		s.serr = nil
		err = s.rc.Read(s.onRead)
	}
	if s.serr != nil {
		return 0, s.serr
	}
	if err == nil {
		err = s.rerr
	}
	if err != nil {
		return 0, fmt.Errorf("receive ack %d: %w", block, err)
	}
	return s.rn, nil
}

// armRead makes sure a read deadline is set no later than due and no more
// than a quarter of timer before it. Moving the deadline costs a lock and a
// timer heap update in the runtime; a block is ACKed in well under a
// quarter of the timer, so in a steady transfer this re-arms about four
// times per timer period instead of on every block. rearmEarly keeps a
// deadline that fires early this way from shortening the timer.
func (s *session) armRead(due time.Time, timer time.Duration) error {
	if s.armed.IsZero() || s.armed.After(due) || s.armed.Before(due.Add(-timer/4)) {
		if err := s.conn.SetReadDeadline(due); err != nil {
			return fmt.Errorf("set read deadline: %w", err)
		}
		s.armed = due
	}
	return nil
}

// rearmEarly is called when the read deadline fired while waiting for
// the board until due. If the deadline was armed early (see armRead) and
// due has not come, it moves the deadline to due and reports true: keep
// waiting, the retransmission timer has not run out.
func (s *session) rearmEarly(due time.Time) (bool, error) {
	if !time.Now().Before(due) {
		return false, nil
	}
	if err := s.conn.SetReadDeadline(due); err != nil {
		return false, fmt.Errorf("set read deadline: %w", err)
	}
	s.armed = due
	return true, nil
}

// rawWrite and rawRead are send(2) and recv(2) on the connected socket
// without telling the Go scheduler: the socket is non-blocking, so the call
// never waits, and skipping entersyscall/exitsyscall saves their
// bookkeeping and keeps sysmon from handing the P to another thread when a
// send is slow (loopback or veth delivery to the board runs inside it), a
// hand-off that costs thread wake-ups on every such block. sendto/recvfrom
// rather than write/read: they go straight to the socket layer without the
// VFS (file position lock, fsnotify): about 3 % less server CPU in
// 300-board storms (6 alternating runs each), near the resolution of the
// testbed.
func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
