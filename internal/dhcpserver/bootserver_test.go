package dhcpserver

import (
	"net"
	"testing"
)

// A REQUEST received on the PXE boot-server port is answered at the
// client's own address and port; port 67 traffic keeps RFC 2131 routing.
func TestBootServerDst(t *testing.T) {
	client := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 4011}
	for _, tc := range []struct {
		name string
		port int
		peer *net.UDPAddr
		want string
	}{
		{"4011 from 4011", 4011, client, "10.0.0.7:4011"},
		{"4011 from 68", 4011, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 68}, "10.0.0.7:68"},
		{"port 67 uses RFC 2131", 67, client, ""},
		{"client without address", 4011, &net.UDPAddr{IP: net.IPv4zero, Port: 68}, ""},
		{"no peer", 4011, nil, ""},
	} {
		got := bootServerDst(tc.port, tc.peer)
		if (got == nil && tc.want != "") || (got != nil && got.String() != tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, got, tc.want)
		}
	}
}
