package store

import (
	"strings"
	"testing"
	"time"
)

// A row that does not parse (edited by hand, written by a broken tool) is
// refused with the row named, whichever backend read it.
func TestRowDecodingRefusesBadRows(t *testing.T) {
	if _, err := nodeRow(Node{}, "not-a-mac", "10.0.0.1", "pool"); err == nil || !strings.Contains(err.Error(), "row not-a-mac: bad MAC") {
		t.Errorf("bad MAC: %v", err)
	}
	if _, err := nodeRow(Node{}, "dc:a6:32:01:02:03", "10.0.0.999", "pool"); err == nil || !strings.Contains(err.Error(), "bad IP") {
		t.Errorf("bad IP: %v", err)
	}
	n, err := nodeRow(Node{Model: "rpi-4-b"}, "dc:a6:32:01:02:03", "10.0.0.7", "pool")
	if err != nil || n.MAC.String() != "dc:a6:32:01:02:03" || n.IP.String() != "10.0.0.7" || n.Source != "pool" || n.Model != "rpi-4-b" {
		t.Errorf("good row: %+v, %v", n, err)
	}
	at := time.Unix(1700000000, 0)
	if _, err := declinedRow("10.0.0", "", at); err == nil || !strings.Contains(err.Error(), `declined row "10.0.0"`) {
		t.Errorf("bad declined IP: %v", err)
	}
	if _, err := declinedRow("10.0.0.9", "zz", at); err == nil || !strings.Contains(err.Error(), `MAC "zz"`) {
		t.Errorf("bad declined MAC: %v", err)
	}
	d, err := declinedRow("10.0.0.9", "", at)
	if err != nil || d.IP.String() != "10.0.0.9" || d.MAC != nil || !d.At.Equal(at) {
		t.Errorf("declined row without MAC: %+v, %v", d, err)
	}
}
