package loglimit

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// clock is a fake time the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestLimiter(burst int, interval time.Duration, maxKeys int) (*Limiter, *clock) {
	c := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := New(burst, interval, maxKeys)
	l.now = c.now
	return l, c
}

// A client repeating the same bad request gets burst lines, then one per
// interval, and that line counts the ones left out; another client and
// another message are not held back by it.
func TestBurstThenOnePerInterval(t *testing.T) {
	l, c := newTestLimiter(3, 10*time.Second, 100)
	logged := 0
	for range 100 {
		if ok, _ := l.Allow("10.0.0.5", "malformed request refused"); ok {
			logged++
		}
	}
	if logged != 3 {
		t.Fatalf("100 repeats at once logged %d lines, want the burst of 3", logged)
	}
	if ok, _ := l.Allow("10.0.0.6", "malformed request refused"); !ok {
		t.Error("another client was held back by the first one's flood")
	}
	if ok, _ := l.Allow("10.0.0.5", "write request refused"); !ok {
		t.Error("another message of the same client was held back")
	}
	c.t = c.t.Add(10 * time.Second)
	ok, n := l.Allow("10.0.0.5", "malformed request refused")
	if !ok || n != 97 {
		t.Fatalf("after one interval: logged %v with %d left out, want true with 97", ok, n)
	}
	if ok, _ := l.Allow("10.0.0.5", "malformed request refused"); ok {
		t.Error("a second line in the same interval got through")
	}
	c.t = c.t.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("10.0.0.5", "malformed request refused"); !ok {
			t.Fatalf("after an hour of quiet, line %d of a new burst was held back", i+1)
		}
	}
}

// A flood from many addresses (spoofed, or a whole rack misconfigured)
// cannot grow the table past its bound.
func TestKeysBounded(t *testing.T) {
	l, c := newTestLimiter(2, time.Second, 64)
	for i := range 10000 {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), "request refused")
		c.t = c.t.Add(time.Millisecond)
	}
	if n := len(l.keys); n > 64 {
		t.Fatalf("table holds %d keys, want at most 64", n)
	}
}

// Warn writes the warning with the count of held-back ones.
func TestWarnSaysHowManyWereLeftOut(t *testing.T) {
	l, c := newTestLimiter(1, time.Minute, 10)
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	e := log.WithField("client", "10.0.0.9:1234")
	for range 5 {
		l.Warn(e, "10.0.0.9", "request refused")
	}
	c.t = c.t.Add(time.Minute)
	l.Warn(e, "10.0.0.9", "request refused")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[1], "suppressed=4") {
		t.Errorf("lines %q: want the second to say suppressed=4 and the first nothing", lines)
	}
}
