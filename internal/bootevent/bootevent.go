// Package bootevent carries what rpi-tftpd sees of each board's boot (a
// file started, sent, aborted or failed; a script served; an OS saying it is
// up) to coredhcp, which owns the node store, the boot timeline and the
// admission of new boards. rpi-tftpd opens the store read-only, so it does
// not write the timeline itself: it sends one small datagram per file (never
// per block) to a Unix socket coredhcp listens on.
//
// Sending never blocks and never fails a transfer: with no listener, or a
// full socket buffer, the event is dropped and counted. The receiver
// validates every field again (a datagram is data, whoever sent it).
package bootevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// Kind is what happened.
type Kind string

// The kinds of event.
const (
	FileStart   Kind = "file-start"   // a transfer began (the option reply or first DATA left)
	FileDone    Kind = "file-done"    // the whole file was acknowledged
	FileAborted Kind = "file-aborted" // the client ended it (tsize probe, ERROR)
	FileFailed  Kind = "file-failed"  // timeout, ICMP unreachable, read error
	FileMissing Kind = "file-missing" // not found at any level
	OSUp        Kind = "os-up"        // the booted OS said so (an HTTP call)
)

// valid lists the kinds a receiver accepts.
var valid = map[Kind]bool{FileStart: true, FileDone: true, FileAborted: true, FileFailed: true, FileMissing: true, OSUp: true}

// maxDatagram bounds one event on the wire; longer ones are not sent.
const maxDatagram = 2048

// maxFile bounds the file name carried (the TFTP request path limit).
const maxFile = 512

// Event is one thing rpi-tftpd saw a board do.
type Event struct {
	Kind  Kind          `json:"k"`
	At    time.Time     `json:"t"`
	IP    netip.Addr    `json:"ip"`              // the board's address as seen on the wire
	MAC   string        `json:"mac,omitempty"`   // aa:bb:cc:dd:ee:ff when rpi-tftpd knew it
	File  string        `json:"f,omitempty"`     // the request path
	Proto string        `json:"p,omitempty"`     // "tftp" or "http"
	Bytes int64         `json:"b,omitempty"`     // file bytes sent
	Size  int64         `json:"s,omitempty"`     // the file's size, when known
	Dur   time.Duration `json:"d,omitempty"`     // transfer time
	Err   string        `json:"e,omitempty"`     // why it failed or was aborted
	Slots int           `json:"slots,omitempty"` // transfers running when it was sent, for admission
}

// Check reports what is wrong with e as received: a datagram is data.
func (e Event) Check() error {
	switch {
	case !valid[e.Kind]:
		return fmt.Errorf("unknown kind %q", e.Kind)
	case !e.IP.Is4():
		return fmt.Errorf("address %v is not IPv4", e.IP)
	case len(e.File) > maxFile || !utf8.ValidString(e.File) || hasControl(e.File):
		return errors.New("file name too long, not UTF-8 or with control characters")
	case len(e.Err) > 256 || hasControl(e.Err):
		return errors.New("error text too long or with control characters")
	case e.MAC != "":
		if m, err := net.ParseMAC(e.MAC); err != nil || len(m) != 6 || m.String() != e.MAC {
			return fmt.Errorf("MAC %q is not aa:bb:cc:dd:ee:ff", e.MAC)
		}
	case e.Proto != "" && e.Proto != "tftp" && e.Proto != "http":
		return fmt.Errorf("protocol %q", e.Proto)
	case e.Bytes < 0 || e.Size < 0 || e.Dur < 0 || e.Slots < 0:
		return errors.New("negative count")
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Sender sends events to a receiver's socket without ever blocking.
type Sender struct {
	fd      int
	to      *syscall.SockaddrUnix
	dropped atomic.Uint64
	sent    atomic.Uint64
}

// NewSender returns a sender to the socket at path. The socket need not
// exist yet: events are dropped until it does, and a receiver restarted
// later is reached again.
func NewSender(path string) (*Sender, error) {
	if path == "" {
		return nil, errors.New("bootevent: empty socket path")
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("bootevent: socket: %w", err)
	}
	return &Sender{fd: fd, to: &syscall.SockaddrUnix{Name: path}}, nil
}

// Send queues e for the receiver; it reports whether the kernel took it.
// A nil Sender drops everything (no socket configured).
func (s *Sender) Send(e Event) bool {
	if s == nil {
		return false
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	b, err := json.Marshal(e)
	if err != nil || len(b) > maxDatagram {
		s.dropped.Add(1)
		return false
	}
	if err := syscall.Sendto(s.fd, b, syscall.MSG_DONTWAIT, s.to); err != nil {
		s.dropped.Add(1)
		return false
	}
	s.sent.Add(1)
	return true
}

// Counts returns how many events were sent and dropped.
func (s *Sender) Counts() (sent, dropped uint64) {
	if s == nil {
		return 0, 0
	}
	return s.sent.Load(), s.dropped.Load()
}

// Close releases the socket.
func (s *Sender) Close() error {
	if s == nil {
		return nil
	}
	return syscall.Close(s.fd)
}

// Receiver reads events from its socket.
type Receiver struct {
	conn     *net.UnixConn
	path     string
	rejected atomic.Uint64
}

// Listen creates the socket at path (replacing a stale one), readable and
// writable by its owner and group only, so the TFTP daemon's user must be
// in the group the directory gives it. The caller reads with Next.
func Listen(path string) (*Receiver, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("bootevent: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("bootevent: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		c.Close()
		return nil, fmt.Errorf("bootevent: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	return &Receiver{conn: c, path: path}, nil
}

// Next blocks for the next valid event; malformed datagrams are counted
// and skipped. It returns an error once the receiver is closed.
func (r *Receiver) Next() (Event, error) {
	buf := make([]byte, maxDatagram+1)
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			return Event{}, fmt.Errorf("bootevent: read: %w", err)
		}
		var e Event
		if n > maxDatagram || json.Unmarshal(buf[:n], &e) != nil || e.Check() != nil {
			r.rejected.Add(1)
			continue
		}
		return e, nil
	}
}

// Rejected is how many datagrams did not hold a valid event.
func (r *Receiver) Rejected() uint64 { return r.rejected.Load() }

// Close stops the receiver and removes its socket.
func (r *Receiver) Close() error {
	err := r.conn.Close()
	_ = os.Remove(r.path)
	return err
}
