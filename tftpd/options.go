package tftpd

// Option negotiation (RFC 2347): which of a request's options are answered
// and with what values. The block size is settled once, when the request
// arrives (so a bad one is refused from port 69 before any transfer starts),
// and the rest when the transfer begins.

import (
	"fmt"
	"strconv"
	"time"
)

// minBlksize is the smallest block size RFC 2348 allows.
const minBlksize = 8

// requestBlksize is the block size a request gets: 512 without the option;
// with it, the asked size clamped to maxBlksize and to what one IP datagram
// on the incoming link (mtu, 0 when unknown) carries unfragmented. A value
// that is not a number or below 8 is an error (ERROR 8). One below floor
// (min_blksize) is not acknowledged, so the transfer runs at 512 (RFC 2347
// lets a server leave an option out): a tiny block size would make a
// client hold a slot for ages with a trickle of packets. 0 means "do not
// acknowledge".
func requestBlksize(req request, maxBlksize, mtu, floor int) (int, error) {
	v, ok := req.opt("blksize")
	if !ok {
		return 512, nil
	}
	want, err := strconv.Atoi(v)
	if err != nil || want < minBlksize {
		return 0, fmt.Errorf("blksize %q: want a number of at least %d", v, minBlksize)
	}
	if want < floor {
		return 0, nil
	}
	blksize := min(want, maxBlksize)
	if mtu > 0 {
		// One block per IP datagram: a client asking for more than the
		// link carries gets the largest unfragmented size (RFC 2348).
		blksize = min(blksize, max(512, mtu-28-4))
	}
	return blksize, nil
}

// negotiate decides the options to acknowledge (RFC 2347/2348/2349) and
// sets the session's block size and timer from them.
func (s *session) negotiate(req request, p *pending, size int64, serverTimeout time.Duration, maxWindow int) []option {
	var ack []option
	s.blksize = 512
	s.window = 1
	s.timeout = serverTimeout
	for _, o := range req.opts {
		switch o.name {
		case "blksize":
			if p.blksize == 0 { // below min_blksize: left out, 512 it is
				continue
			}
			s.blksize = p.blksize // requestBlksize's answer, kept by the front end
			ack = append(ack, option{o.name, strconv.Itoa(p.blksize)})
		case "tsize":
			ack = append(ack, option{o.name, strconv.FormatInt(size, 10)})
		case "timeout":
			// RFC 2349: 1..255 s. Echo it: the board retransmits on it. Our
			// own timer stays at most the server's, so loss recovery and
			// giving up on a dead board stay fast.
			if v, err := strconv.Atoi(o.value); err == nil && v >= 1 && v <= 255 {
				ack = append(ack, option{o.name, strconv.Itoa(v)})
				s.timeout = min(serverTimeout, time.Duration(v)*time.Second)
			}
		case "windowsize":
			// RFC 7440: 1..65535; U-Boot sends it when tftpwindowsize is set.
			if v, err := strconv.Atoi(o.value); err == nil && v >= 1 && v <= 65535 {
				s.window = min(v, maxWindow)
				ack = append(ack, option{o.name, strconv.Itoa(s.window)})
			}
		}
	}
	s.send = make([]byte, 4+max(s.blksize, 512))
	return ack
}
