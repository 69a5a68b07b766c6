package bootevent

import (
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestSendReceive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.sock")
	s, err := NewSender(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// No receiver yet: dropped, never blocking.
	if s.Send(Event{Kind: FileStart, IP: netip.MustParseAddr("10.0.0.5")}) {
		t.Fatal("send to a missing socket reported success")
	}
	r, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := Event{Kind: FileDone, At: time.Unix(100, 0).UTC(), IP: netip.MustParseAddr("10.0.0.5"), MAC: "dc:a6:32:01:02:03",
		File: "1234abcd/start4.elf", Proto: "tftp", Bytes: 2 << 20, Size: 2 << 20, Dur: time.Second, Slots: 3}
	if !s.Send(want) {
		t.Fatal("send failed")
	}
	// Junk from anyone who can reach the socket is skipped, not trusted.
	raw, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	defer syscall.Close(raw)
	for _, junk := range []string{"not json", `{"k":"rm -rf","ip":"10.0.0.1"}`, `{"k":"file-done","ip":"::1"}`,
		`{"k":"file-done","ip":"10.0.0.1","f":"a\nb"}`, `{"k":"file-done","ip":"10.0.0.1","mac":"DC:A6:32:01:02:03"}`} {
		if err := syscall.Sendto(raw, []byte(junk), 0, &syscall.SockaddrUnix{Name: path}); err != nil {
			t.Fatal(err)
		}
	}
	next := Event{Kind: OSUp, IP: netip.MustParseAddr("10.0.0.6"), Proto: "http"}
	s.Send(next)
	got, err := r.Next()
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	got, err = r.Next()
	if err != nil || got.Kind != OSUp || got.IP != next.IP {
		t.Fatalf("after junk: got %+v, %v", got, err)
	}
	if n := r.Rejected(); n != 5 {
		t.Errorf("rejected %d datagrams, want 5", n)
	}
	if sent, dropped := s.Counts(); sent != 2 || dropped != 1 {
		t.Errorf("sent %d dropped %d, want 2 and 1", sent, dropped)
	}
}

func TestNilSenderDrops(t *testing.T) {
	var s *Sender
	if s.Send(Event{Kind: FileStart}) {
		t.Error("nil sender reported success")
	}
}
