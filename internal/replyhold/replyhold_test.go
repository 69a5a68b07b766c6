package replyhold

import (
	"errors"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestDeferOnlyInsideBeginEnd(t *testing.T) {
	req, _ := dhcpv4.New()
	if Defer(req, func(*dhcpv4.DHCPv4) error { return nil }) {
		t.Fatal("Defer accepted a request no loop is holding for: its plugin would never wait")
	}
	Begin(req)
	boom := errors.New("boom")
	if !Defer(req, func(*dhcpv4.DHCPv4) error { return nil }) || !Defer(req, func(*dhcpv4.DHCPv4) error { return boom }) {
		t.Fatal("Defer refused inside Begin/End")
	}
	fs := End(req)
	if len(fs) != 2 || fs[0](nil) != nil || !errors.Is(fs[1](nil), boom) {
		t.Fatalf("End returned %d finishers, want both in order", len(fs))
	}
	if Defer(req, func(*dhcpv4.DHCPv4) error { return nil }) || len(End(req)) != 0 {
		t.Fatal("request still open after End")
	}
}
