package macpin

import "net"

// usableMAC reports whether mac can own a pin: the length the store can
// read back (6-byte Ethernet, or 8-byte EUI-64), not all zero, and not a
// group address. One DISCOVER with a 16-byte chaddr once made a pin that
// `rpinetctl nodes list` and the next start of coredhcp could not read.
func usableMAC(mac net.HardwareAddr) bool {
	if len(mac) != 6 && len(mac) != 8 {
		return false
	}
	if mac[0]&1 == 1 { // multicast or broadcast: never one board's NIC
		return false
	}
	for _, b := range mac {
		if b != 0 {
			return true
		}
	}
	return false
}
