package macpin

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"
)

// quiet keeps the per-pin info lines out of benchmark output.
func quiet(b *testing.B) {
	l := log.Logger
	lvl := l.GetLevel()
	l.SetLevel(logrus.WarnLevel)
	b.Cleanup(func() { l.SetLevel(lvl) })
}

// BenchmarkDiscoverNewMAC measures DISCOVER→OFFER for MACs never seen, each
// pinned durably (synchronous=FULL, real file) before its OFFER; many
// goroutines run at once, like coredhcp's per-packet goroutines, so group
// commit shares fsyncs.
func BenchmarkDiscoverNewMAC(b *testing.B) {
	for _, clients := range []int{16, 256} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			quiet(b)
			m, _ := start(b, "10.0.0.0", "10.15.255.255")
			benchNewMAC(b, clients, m)
		})
	}
}

// benchNewMAC sends DISCOVERs from never-seen MACs to m from clients goroutines.
func benchNewMAC(b *testing.B, clients int, m *Macpin) {
	var next atomic.Int64
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			mac := net.HardwareAddr{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
			req, resp := packet(b, mac, dhcpv4.MessageTypeDiscover)
			if out, _ := m.Handler4(req, resp); out == nil {
				b.Error("no OFFER")
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "offers/s")
	if s := m.Stats(); s.NewPins != uint64(b.N) {
		b.Fatalf("%d new pins for %d DISCOVERs", s.NewPins, b.N)
	}
}

// BenchmarkDiscoverKnownMAC measures DISCOVER→OFFER for pinned MACs: memory
// only, no disk write on the path.
func BenchmarkDiscoverKnownMAC(b *testing.B) {
	quiet(b)
	m, _ := start(b, "10.0.0.0", "10.0.15.255")
	const known = 1000
	for i := range known {
		discover(b, m, hw(i))
	}
	reqs := make([]*dhcpv4.DHCPv4, known)
	for i := range reqs {
		reqs[i], _ = packet(b, hw(i), dhcpv4.MessageTypeDiscover)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := reqs[next.Add(1)%known]
			resp, _ := dhcpv4.NewReplyFromRequest(req)
			if out, _ := m.Handler4(req, resp); out == nil {
				b.Error("no OFFER")
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "offers/s")
}
