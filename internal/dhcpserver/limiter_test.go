package dhcpserver

import (
	"testing"
	"time"
)

// A storm of drops must give one warning line per interval that says how
// many it stands for, not one line per packet.
func TestLimiterLetsOneThroughAndCountsTheRest(t *testing.T) {
	l := newLimiter(50 * time.Millisecond)
	if ok, _ := l.allow("busy"); !ok {
		t.Fatal("first warning suppressed")
	}
	for i := 0; i < 5; i++ {
		if ok, _ := l.allow("busy"); ok {
			t.Fatal("warning repeated within the interval")
		}
	}
	if ok, _ := l.allow("read"); !ok {
		t.Error("a different warning was suppressed")
	}
	time.Sleep(60 * time.Millisecond)
	if ok, missed := l.allow("busy"); !ok || missed != 5 {
		t.Errorf("after the interval: allowed=%v suppressed=%d, want true 5", ok, missed)
	}
}
