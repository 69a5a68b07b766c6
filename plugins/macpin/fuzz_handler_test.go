package macpin

import (
	"context"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzHandler4 runs any DHCPv4 packet through macpin on a real store: no
// panic, any address handed out lies in the pool and is pinned to that
// client, and the store can always list its nodes afterwards (a 16-byte
// chaddr once made a pin the store could not read back).
func FuzzHandler4(f *testing.F) {
	for i, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest,
		dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeInform} {
		req, _ := packet(f, hw(i), mt, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress([]byte{10, 0, 0, 12})))
		f.Add(req.ToBytes())
	}
	long, _ := packet(f, append(hw(7), make([]byte, 10)...), dhcpv4.MessageTypeDiscover) // hlen 16
	f.Add(long.ToBytes())
	m, _ := start(f, "10.0.0.10", "10.0.0.250")
	lo, hi := netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.250")
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		resp, err := dhcpv4.NewReplyFromRequest(req)
		if err != nil {
			return
		}
		if req.MessageType() == dhcpv4.MessageTypeDiscover {
			resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
		}
		out, _ := m.Handler4(req, resp)
		if out != nil && out.MessageType() == dhcpv4.MessageTypeOffer {
			ip, ok := netip.AddrFromSlice(out.YourIPAddr.To4())
			if !ok || ip.Less(lo) || hi.Less(ip) {
				t.Fatalf("offered %v outside the pool", out.YourIPAddr)
			}
			if pinned, ok := m.Lookup(req.ClientHWAddr); !ok || pinned != ip {
				t.Fatalf("offered %s to %s, pinned %s (%v)", ip, req.ClientHWAddr, pinned, ok)
			}
		}
		if _, err := m.store.Nodes(context.Background()); err != nil {
			t.Fatalf("store cannot list its nodes after %x: %v", b, err)
		}
	})
}
