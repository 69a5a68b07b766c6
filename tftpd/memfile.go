package tftpd

import (
	"errors"
	"io"
)

var errNegativeOffset = errors.New("memFile.ReadAt: negative offset")

// memFile is file content held in memory (a cache entry, a rendered
// template). The transfer loop copies blocks out of it directly; ReadAt is
// for everything else that takes an io.ReaderAt.
type memFile []byte

// ReadAt implements io.ReaderAt.
func (m memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
