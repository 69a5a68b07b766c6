package tftpd

// netascii mode (RFC 764 line endings: LF becomes CR LF, a bare CR becomes
// CR NUL), converted while the file is sent: a transfer holds a few
// kilobytes whatever the file's size. Boards use octet; netascii is for
// people testing with a stock tftp client, and must not let four small
// requests for a large file cost the host gigabytes.

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// netasciiChunk is how much of the source is read at once.
const netasciiChunk = 16 << 10

// netasciiMarkEvery is the converted distance between remembered
// positions, from which a re-read of an earlier block (a retransmitted
// window) resumes without converting from the start.
const netasciiMarkEvery = 64 << 10

// nacursor is a position in both the source and the converted stream.
type nacursor struct {
	out, in int64
	pend    int // second byte of a CR LF / CR NUL pair still due, or -1
}

// netasciiFile presents a source as its netascii conversion, read in order
// (re-reads of recent blocks are cheap).
type netasciiFile struct {
	src     io.ReaderAt
	srcSize int64
	size    int64
	cur     nacursor
	marks   []nacursor // cur at every netasciiMarkEvery converted bytes
	buf     []byte
	bufAt   int64 // source offset of buf[0]
}

// netascii wraps r (size bytes) for netascii mode; it reads the source once
// to learn the converted size (tsize must be exact), in chunks.
func netascii(r io.ReaderAt, size int64) (io.ReaderAt, int64, error) {
	n, err := netasciiSize(r, size)
	if err != nil {
		return nil, 0, err
	}
	f := &netasciiFile{src: r, srcSize: size, size: n, cur: nacursor{pend: -1}, bufAt: -1}
	f.marks = append(f.marks, f.cur)
	return f, n, nil
}

// netasciiSize is the converted length of r's first size bytes.
func netasciiSize(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, netasciiChunk)
	n := size
	for off := int64(0); off < size; {
		k, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for _, c := range buf[:k] {
			if c == '\n' || c == '\r' {
				n++
			}
		}
		off += int64(k)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("netascii: read at %d: %w", off, err)
		}
		if k == 0 {
			return 0, fmt.Errorf("netascii: file shrank to %d bytes while reading", off)
		}
	}
	return n, nil
}

// Close closes the source when it can be.
func (f *netasciiFile) Close() error {
	if c, ok := f.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// ReadAt fills p with converted bytes from off.
func (f *netasciiFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	if off < f.cur.out {
		// Back to the last mark at or before off.
		i := sort.Search(len(f.marks), func(i int) bool { return f.marks[i].out > off }) - 1
		f.cur = f.marks[max(i, 0)]
	}
	for f.cur.out < off { // skip ahead (after a rewind to a mark)
		if _, err := f.next(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) && f.cur.out < f.size {
		c, err := f.next()
		if err != nil {
			return n, err
		}
		p[n] = c
		n++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// next returns the converted byte at f.cur and advances past it.
func (f *netasciiFile) next() (byte, error) {
	var out byte
	if f.cur.pend >= 0 {
		out, f.cur.pend = byte(f.cur.pend), -1
	} else {
		c, err := f.srcByte(f.cur.in)
		if err != nil {
			return 0, err
		}
		f.cur.in++
		switch c {
		case '\n':
			out, f.cur.pend = '\r', '\n'
		case '\r':
			out, f.cur.pend = '\r', 0
		default:
			out = c
		}
	}
	f.cur.out++
	if f.cur.out%netasciiMarkEvery == 0 && f.cur.out > f.marks[len(f.marks)-1].out {
		f.marks = append(f.marks, f.cur)
	}
	return out, nil
}

// srcByte reads the source byte at off through a small buffer.
func (f *netasciiFile) srcByte(off int64) (byte, error) {
	if f.bufAt < 0 || off < f.bufAt || off >= f.bufAt+int64(len(f.buf)) {
		if f.buf == nil {
			f.buf = make([]byte, netasciiChunk)
		}
		k, err := f.src.ReadAt(f.buf[:cap(f.buf)], off)
		if k == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("netascii: file shrank while sending (at %d)", off)
			}
			return 0, err
		}
		f.buf, f.bufAt = f.buf[:k], off
	}
	return f.buf[off-f.bufAt], nil
}
