package macpin

import (
	"github.com/rpinetboot/rpinetboot/internal/args"

	"math/bits"
	"math/rand/v2"
	"net/netip"
)

// pool tracks which addresses of the stanza's ranges are taken (pinned,
// pending a commit, or declined): one bit per address, a roving cursor so
// allocation stays cheap while the pool fills. Not safe for concurrent use;
// Macpin guards it with its mutex.
type pool struct {
	ranges []poolRange
	cur    int // range the cursor is in
	size   int
	used   int
}

type poolRange struct {
	first, last uint32
	bits        []uint64
	next        uint32 // offset where the next search starts
}

func newPool(rs []Range) *pool {
	p := &pool{}
	for _, r := range rs {
		n := r.Size()
		p.ranges = append(p.ranges, poolRange{first: args.U32(r.First), last: args.U32(r.Last), bits: make([]uint64, (n+63)/64)})
		p.size += n
	}
	return p
}

// scatter moves the cursor to a random range and offset, so peers sharing
// a store start their free-address scans far apart.
func (p *pool) scatter() {
	if len(p.ranges) == 0 {
		return
	}
	p.cur = rand.IntN(len(p.ranges))
	for i := range p.ranges {
		r := &p.ranges[i]
		r.next = uint32(rand.Int64N(int64(r.last-r.first) + 1))
	}
}

// find locates ip: its range index and offset, ok false outside the pool.
func (p *pool) find(ip netip.Addr) (int, uint32, bool) {
	if !ip.Is4() {
		return 0, 0, false
	}
	v := args.U32(ip)
	for i := range p.ranges {
		if r := &p.ranges[i]; v >= r.first && v <= r.last {
			return i, v - r.first, true
		}
	}
	return 0, 0, false
}

// isFree says whether ip is in the pool and not taken.
func (p *pool) isFree(ip netip.Addr) bool {
	i, off, ok := p.find(ip)
	return ok && p.ranges[i].bits[off/64]&(1<<(off%64)) == 0
}

// mark takes ip; addresses outside the ranges are ignored.
func (p *pool) mark(ip netip.Addr) {
	i, off, ok := p.find(ip)
	if !ok {
		return
	}
	w := &p.ranges[i].bits[off/64]
	if *w&(1<<(off%64)) == 0 {
		*w |= 1 << (off % 64)
		p.used++
	}
}

// release gives ip back; addresses outside the ranges are ignored.
func (p *pool) release(ip netip.Addr) {
	i, off, ok := p.find(ip)
	if !ok {
		return
	}
	w := &p.ranges[i].bits[off/64]
	if *w&(1<<(off%64)) != 0 {
		*w &^= 1 << (off % 64)
		p.used--
	}
}

// take marks and returns preferred if it is free, else the next free address
// after the cursor; ok is false when the pool is exhausted.
func (p *pool) take(preferred netip.Addr) (netip.Addr, bool) {
	if p.isFree(preferred) {
		p.mark(preferred)
		return preferred, true
	}
	if p.used >= p.size {
		return netip.Addr{}, false
	}
	for n := 0; n <= len(p.ranges); n++ {
		i := (p.cur + n) % len(p.ranges)
		r := &p.ranges[i]
		if off, ok := r.search(); ok {
			p.cur = i
			ip := args.FromU32(r.first + off)
			p.mark(ip)
			r.next = off + 1
			if r.next > r.last-r.first {
				r.next = 0
			}
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// search finds a clear bit from next onwards, wrapping once.
func (r *poolRange) search() (uint32, bool) {
	n := r.last - r.first + 1
	for pass := 0; pass < 2; pass++ {
		start, end := r.next, n
		if pass == 1 {
			start, end = 0, r.next
		}
		for off := start; off < end; {
			w := r.bits[off/64] | (1<<(off%64) - 1) // ignore bits before off
			if w != ^uint64(0) {
				cand := off&^63 + uint32(bits.TrailingZeros64(^w))
				if cand < end {
					return cand, true
				}
				break
			}
			off = off&^63 + 64
		}
	}
	return 0, false
}
