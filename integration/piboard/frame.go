package piboard

import (
	"encoding/binary"
	"net"
)

// Ports of DHCPv4.
const (
	serverPort = 67
	clientPort = 68
)

// broadcastFrame wraps a DHCP payload the way a boot ROM sends it: from
// 0.0.0.0:68 to 255.255.255.255:67, Ethernet broadcast from src, no UDP
// checksum (U-Boot and the Pi ROMs send none either).
func broadcastFrame(src net.HardwareAddr, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64 // TTL
	ip[9] = 17 // UDP
	copy(ip[12:16], net.IPv4zero.To4())
	copy(ip[16:20], net.IPv4bcast.To4())
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], clientPort)
	binary.BigEndian.PutUint16(udp[2:], serverPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(f[42:], payload)
	return f
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// dhcpPayload returns the UDP payload of an Ethernet frame carrying IPv4 UDP
// to port 68, or nil for anything else (the socket filter already dropped
// most of it; this check keeps a bad filter from feeding junk onward).
func dhcpPayload(f []byte) []byte {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return nil
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 17 || len(ip) < ihl+8 {
		return nil
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total > len(ip) || total < ihl+8 {
		return nil
	}
	udp := ip[ihl:total]
	if binary.BigEndian.Uint16(udp[2:]) != clientPort {
		return nil
	}
	return udp[8:]
}
