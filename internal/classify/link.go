package classify

import (
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Option codes of link selection (not named by the dhcpv4 package in the
// form needed here).
const (
	optRelayAgentInfo  = 82  // RFC 3046
	subLinkSelection   = 5   // RFC 3527, inside option 82
	optSubnetSelection = 118 // RFC 3011
)

// linkSelection reports whether req came through a relay (giaddr set) and
// the address that selects its subnet, in the order ISC dhcpd and Kea use:
// option 82 link selection, option 118, giaddr. Malformed options are
// ignored (the next source is used), never trusted in part.
func linkSelection(req *dhcpv4.DHCPv4) (relayed bool, link netip.Addr) {
	gi, _ := netip.AddrFromSlice(req.GatewayIPAddr.To4())
	relayed = gi.IsValid() && !gi.IsUnspecified()
	if a, ok := linkSelectionSub(req.Options[optRelayAgentInfo]); ok {
		return relayed, a
	}
	if b := req.Options[optSubnetSelection]; len(b) == 4 {
		if a := netip.AddrFrom4([4]byte(b)); !a.IsUnspecified() {
			return relayed, a
		}
	}
	if relayed {
		return true, gi
	}
	return false, netip.Addr{}
}

// linkSelectionSub finds sub-option 5 in an option 82 payload.
func linkSelectionSub(b []byte) (netip.Addr, bool) {
	for len(b) >= 2 {
		code, n := b[0], int(b[1])
		if 2+n > len(b) {
			return netip.Addr{}, false
		}
		if code == subLinkSelection && n == 4 {
			a := netip.AddrFrom4([4]byte(b[2:6]))
			return a, !a.IsUnspecified()
		}
		b = b[2+n:]
	}
	return netip.Addr{}, false
}
