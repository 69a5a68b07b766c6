package tftpd

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

// netasciiRef is the conversion done the simple way, for comparison.
func netasciiRef(in []byte) []byte {
	var out []byte
	for _, c := range in {
		switch c {
		case '\n':
			out = append(out, '\r', '\n')
		case '\r':
			out = append(out, '\r', 0)
		default:
			out = append(out, c)
		}
	}
	return out
}

// readBlocks reads f in blocks of bs, as a transfer does, re-reading a few
// earlier blocks now and then (retransmitted windows).
func readBlocks(t testing.TB, f io.ReaderAt, size int64, bs int, rng *rand.Rand) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, bs)
	for off := int64(0); off < size; {
		if rng != nil && rng.IntN(8) == 0 && off > 0 {
			back := min(off, int64(bs)*int64(1+rng.IntN(70)))
			if _, err := f.ReadAt(buf[:min(int64(bs), size-(off-back))], off-back); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		n, err := f.ReadAt(buf[:min(int64(bs), size-off)], off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		out = append(out, buf[:n]...)
		off += int64(n)
	}
	return out
}

func TestNetasciiStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 511, 512, 513, 200_000} {
		in := make([]byte, n)
		for i := range in {
			switch rng.IntN(10) {
			case 0:
				in[i] = '\n'
			case 1:
				in[i] = '\r'
			default:
				in[i] = byte(rng.IntN(256))
			}
		}
		want := netasciiRef(in)
		r, size, err := netascii(memFile(in), int64(n))
		if err != nil || size != int64(len(want)) {
			t.Fatalf("%d bytes: size %d err %v, want %d", n, size, err, len(want))
		}
		for _, bs := range []int{512, 1024, 1468} {
			if got := readBlocks(t, r, size, bs, rng); !bytes.Equal(got, want) {
				t.Fatalf("%d bytes at blksize %d: converted stream differs", n, bs)
			}
		}
	}
}

// Converting a large file costs a transfer kilobytes, not the file's size.
func TestNetasciiMemoryIsPerBlock(t *testing.T) {
	in := bytes.Repeat([]byte("line of text\n"), 60<<20/13) // ~60 MB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, size, err := netascii(memFile(in), int64(len(in)))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	for off := int64(0); off < size; off += 1024 {
		r.ReadAt(buf[:min(1024, size-off)], off)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("converting %d MB allocated %d KB, want O(block)", len(in)>>20, grew>>10)
	}
}

func FuzzNetascii(f *testing.F) {
	f.Add([]byte("a\nb\r\nc\r"), uint16(3), uint64(1))
	f.Add([]byte("\r\r\n\n"), uint16(1), uint64(7))
	f.Fuzz(func(t *testing.T, in []byte, bs uint16, seed uint64) {
		if bs == 0 {
			bs = 1
		}
		want := netasciiRef(in)
		r, size, err := netascii(memFile(in), int64(len(in)))
		if err != nil || size != int64(len(want)) {
			t.Fatalf("size %d err %v, want %d", size, err, len(want))
		}
		if got := readBlocks(t, r, size, int(bs), rand.New(rand.NewPCG(seed, seed))); !bytes.Equal(got, want) {
			t.Fatalf("converted %q as %q, want %q", in, got, want)
		}
	})
}
