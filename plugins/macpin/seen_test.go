package macpin

import (
	"net"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

// A booting board's burst of packets must cost no store writes beyond its
// pin, yet a new fact or a board heard again after a while is recorded.
func TestSeenSkipsRepeatsWithinAMinute(t *testing.T) {
	q := newSeenQueue()
	mac := net.HardwareAddr{0xdc, 0xa6, 0x32, 1, 2, 3}
	t0 := time.Now()
	q.mark(store.Seen{MAC: mac, At: t0, Model: "rpi-4-b", Serial: "4b010203"})
	q.add(store.Seen{MAC: mac, At: t0.Add(5 * time.Second), Model: "rpi-4-b"})
	if got, _ := q.take(); len(got) != 0 {
		t.Fatalf("repeat 5 s after the pin queued %d updates, want none", len(got))
	}
	q.add(store.Seen{MAC: mac, At: t0.Add(6 * time.Second), Hostname: "rack1-07"})
	if got, _ := q.take(); len(got) != 1 || got[0].Hostname != "rack1-07" {
		t.Fatalf("a new hostname was not queued: %+v", got)
	}
	q.add(store.Seen{MAC: mac, At: t0.Add(7 * time.Second), Hostname: "rack1-07"})
	if got, _ := q.take(); len(got) != 0 {
		t.Fatalf("same hostname again queued %d updates", len(got))
	}
	q.add(store.Seen{MAC: mac, At: t0.Add(2 * seenEvery)})
	if got, _ := q.take(); len(got) != 1 || !got[0].At.Equal(t0.Add(2*seenEvery)) {
		t.Fatalf("a board heard again after %v was not queued: %+v", 2*seenEvery, got)
	}
}
