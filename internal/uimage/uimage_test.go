package uimage

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestScriptMatchesMkimage compares Script with Debian's mkimage for texts of
// every length modulo 4 and both architectures.
func TestScriptMatchesMkimage(t *testing.T) {
	mk, err := exec.LookPath("mkimage")
	if err != nil {
		t.Fatalf("mkimage (Debian u-boot-tools) is required: %v", err)
	}
	const epoch = 1700000000
	texts := []string{"e", "ab", "abc", "echo hi\n", "echo hello\nsetenv x 1\n", "setexpr a sub \"(root).*\" \"root\" \"${arg}\"\n"}
	for _, arch := range []struct {
		flag string
		code uint8
	}{{"arm", ArchARM}, {"arm64", ArchARM64}} {
		for i, text := range texts {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.txt")
			out := filepath.Join(dir, "out.scr")
			if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			// deps: mkimage
			cmd := exec.Command(mk, "-A", arch.flag, "-O", "linux", "-T", "script", "-C", "none", "-n", "rpinetboot stage2 "+strconv.Itoa(i), "-d", in, out)
			cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.Itoa(epoch))
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mkimage: %v\n%s", err, b)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got := Script([]byte(text), "rpinetboot stage2 "+strconv.Itoa(i), time.Unix(epoch, 0), arch.code)
			if !bytes.Equal(got, want) {
				t.Errorf("arch %s text %q: differs from mkimage\n got %x\nwant %x", arch.flag, text, got, want)
			}
			h, data, err := Decode(got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if h.Type != TypeScript || h.Arch != arch.code || h.Name != "rpinetboot stage2 "+strconv.Itoa(i) {
				t.Errorf("decoded header %+v", h)
			}
			txt, err := ScriptText(data)
			if err != nil || string(txt) != text {
				t.Errorf("ScriptText = %q, %v; want %q", txt, err, text)
			}
		}
	}
}

// TestLongNameTruncated checks names past 31 bytes are cut as mkimage does.
func TestLongNameTruncated(t *testing.T) {
	b := Script([]byte("x"), "0123456789012345678901234567890123456789", time.Unix(0, 0), ArchARM)
	h, _, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Name) != 31 {
		t.Fatalf("name %q has %d bytes, want 31", h.Name, len(h.Name))
	}
}

// TestDecodeRejectsCorruption flips each byte and expects an error, never a panic.
func TestDecodeRejectsCorruption(t *testing.T) {
	good := Script([]byte("echo hi\n"), "s", time.Unix(1, 0), ArchARM)
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		if _, _, err := Decode(b); err == nil {
			t.Errorf("flipping byte %d was not detected", i)
		}
	}
	if _, _, err := Decode(good[:HeaderSize+3]); err == nil {
		t.Error("truncated image accepted")
	}
}

// FuzzDecode: no input panics the decoder, and the script text of whatever
// it accepts survives encoding again: same text, time and architecture.
func FuzzDecode(f *testing.F) {
	f.Add(Script([]byte("echo hi\n"), "s", time.Unix(1, 0), ArchARM))
	f.Add([]byte{0x27, 0x05, 0x19, 0x56})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, data, err := Decode(b)
		if err != nil || h.Type != TypeScript {
			return
		}
		txt, err := ScriptText(data)
		if err != nil {
			return
		}
		h2, data2, err := Decode(Script(txt, h.Name, h.Time, h.Arch))
		if err != nil {
			t.Fatalf("re-encoded script does not decode: %v", err)
		}
		txt2, err := ScriptText(data2)
		if err != nil || !bytes.Equal(txt, txt2) || !h2.Time.Equal(h.Time) || h2.Arch != h.Arch || h2.Type != TypeScript {
			t.Fatalf("round trip changed the script: %q -> %q (%v), header %+v -> %+v", txt, txt2, err, h, h2)
		}
	})
}
