package dhcpserver

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

// A client's kernel (or udhcpc, which checks both) drops a reply whose IP
// or UDP checksum is wrong; RFC 1071 verification sums to 0xffff.
func TestIPv4UDPHeadersVerify(t *testing.T) {
	for _, n := range []int{0, 1, 300, 301, 1400} {
		payload := bytes.Repeat([]byte{0xa5, 0x17, 0xff}, n)[:n]
		src, dst := net.IPv4(192, 168, 50, 1), net.IPv4(192, 168, 50, 123)
		p, err := ipv4UDP(src, dst, 67, 68, payload)
		if err != nil {
			t.Fatal(err)
		}
		ip, udp := p[:20], p[20:]
		if got := fold(sum(ip)); got != 0xffff {
			t.Errorf("payload %d: IP header checksum does not verify (sum %#x)", n, got)
		}
		if int(binary.BigEndian.Uint16(ip[2:])) != len(p) || int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
			t.Errorf("payload %d: lengths ip=%d udp=%d for %d bytes", n, binary.BigEndian.Uint16(ip[2:]), binary.BigEndian.Uint16(udp[4:]), len(p))
		}
		if !net.IP(ip[12:16]).Equal(src) || !net.IP(ip[16:20]).Equal(dst) || binary.BigEndian.Uint16(udp[0:]) != 67 || binary.BigEndian.Uint16(udp[2:]) != 68 {
			t.Errorf("payload %d: addresses %v:%d -> %v:%d", n, net.IP(ip[12:16]), binary.BigEndian.Uint16(udp), net.IP(ip[16:20]), binary.BigEndian.Uint16(udp[2:]))
		}
		pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 17), udp[4:6]...)
		if got := fold(sum(pseudo) + sum(udp)); got != 0xffff {
			t.Errorf("payload %d: UDP checksum does not verify (sum %#x)", n, got)
		}
		if !bytes.Equal(udp[8:], payload) {
			t.Errorf("payload %d: payload altered", n)
		}
	}
	if _, err := ipv4UDP(net.ParseIP("fe80::1"), net.IPv4(1, 2, 3, 4), 67, 68, nil); err == nil {
		t.Error("an IPv6 source was accepted")
	}
}
