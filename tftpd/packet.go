package tftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// TFTP error codes (RFC 1350, RFC 2347).
const (
	errCodeUndefined   = 0
	errCodeNotFound    = 1
	errCodeAccess      = 2
	errCodeIllegal     = 4
	errCodeOptionAbort = 8
)

// option is one RFC 2347 name/value pair, order kept as the client sent it.
type option struct{ name, value string }

// request is a parsed RRQ or WRQ.
type request struct {
	op   uint16
	file string
	mode string // lower case
	opts []option
}

// opt returns the value of option name (lower case) and whether it was sent.
func (r *request) opt(name string) (string, bool) {
	for _, o := range r.opts {
		if o.name == name {
			return o.value, true
		}
	}
	return "", false
}

// errMalformed marks packets that are not a well-formed request.
var errMalformed = errors.New("malformed request")

// parseRequest decodes an RRQ/WRQ: opcode, file name, mode and option pairs,
// each NUL terminated. It never panics, whatever the bytes.
func parseRequest(b []byte) (request, error) {
	var r request
	if len(b) < 4 {
		return r, fmt.Errorf("%w: %d bytes", errMalformed, len(b))
	}
	r.op = binary.BigEndian.Uint16(b)
	if r.op != opRRQ && r.op != opWRQ {
		return r, fmt.Errorf("%w: opcode %d", errMalformed, r.op)
	}
	body := b[2:]
	if len(body) == 0 || body[len(body)-1] != 0 {
		return r, fmt.Errorf("%w: not NUL terminated", errMalformed)
	}
	f := bytes.Split(body[:len(body)-1], []byte{0})
	if len(f) < 2 || len(f)%2 != 0 {
		return r, fmt.Errorf("%w: want file, mode and option pairs, got %d fields", errMalformed, len(f))
	}
	r.file, r.mode = string(f[0]), strings.ToLower(string(f[1]))
	for i := 2; i+1 < len(f); i += 2 {
		name := strings.ToLower(string(f[i]))
		if name == "" {
			return r, fmt.Errorf("%w: empty option name", errMalformed)
		}
		if _, dup := r.opt(name); dup {
			continue // RFC 2347 leaves duplicates undefined: the first wins
		}
		r.opts = append(r.opts, option{name, string(f[i+1])})
	}
	return r, nil
}

// packError builds an ERROR packet.
func packError(code uint16, msg string) []byte {
	b := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(b, opERROR)
	binary.BigEndian.PutUint16(b[2:], code)
	return append(append(b, msg...), 0)
}
