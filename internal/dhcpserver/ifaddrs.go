package dhcpserver

import (
	"net"
	"sync"
	"time"
)

// ifaceAddrTTL bounds how long a looked-up interface address is trusted:
// a netlink dump per reply would cost more than the reply under a storm,
// and an address change must still be noticed.
const ifaceAddrTTL = 10 * time.Second

// ifaceAddrs caches each interface's first IPv4 address by index.
type ifaceAddrs struct {
	mu sync.Mutex
	m  map[int]cachedAddr
}

type cachedAddr struct {
	ip net.IP // nil: the interface had none
	at time.Time
}

func newIfaceAddrs() *ifaceAddrs { return &ifaceAddrs{m: map[int]cachedAddr{}} }

// lookup returns the first IPv4 address of interface index, or nil.
func (c *ifaceAddrs) lookup(index int) net.IP {
	c.mu.Lock()
	e, ok := c.m[index]
	c.mu.Unlock()
	if ok && time.Since(e.at) < ifaceAddrTTL {
		return e.ip
	}
	var ip net.IP
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		if addrs, err := ifi.Addrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
					ip = n.IP.To4()
					break
				}
			}
		}
	}
	c.mu.Lock()
	c.m[index] = cachedAddr{ip: ip, at: time.Now()}
	c.mu.Unlock()
	return ip
}
