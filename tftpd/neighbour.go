package tftpd

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// procARP is the kernel's IPv4 neighbour table of this network namespace.
const procARP = "/proc/net/arp"

// arpFlagComplete is ATF_COM: the entry holds a resolved hardware address.
const arpFlagComplete = 0x2

// procNeighbour returns the MAC the kernel's neighbour table holds for ip.
// Reading /proc/net/arp costs one small read per client (answers are
// cached by nodeCache) and needs no privilege.
func procNeighbour(ip netip.Addr) (net.HardwareAddr, bool) {
	b, err := os.ReadFile(procARP)
	if err != nil {
		return nil, false
	}
	return parseARP(b, ip)
}

// parseARP finds ip in the text of /proc/net/arp:
//
//	IP address       HW type     Flags       HW address            Mask     Device
//	10.77.1.100      0x1         0x2         dc:a6:32:07:00:01     *        br0
//
// Incomplete entries and non-Ethernet addresses are skipped; odd lines are
// ignored, never fatal.
func parseARP(b []byte, ip netip.Addr) (net.HardwareAddr, bool) {
	if !ip.Is4() {
		return nil, false
	}
	want := ip.String()
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != want {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil || flags&arpFlagComplete == 0 {
			continue
		}
		mac, err := net.ParseMAC(f[3])
		if err != nil || len(mac) != 6 || bytes.Equal(mac, make(net.HardwareAddr, 6)) {
			continue
		}
		return mac, true
	}
	return nil, false
}
