package metrics

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/dhcpserver"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/plugins/macpin"
)

// maxModels bounds the distinct `model` label values: a U-Boot board names
// its own model in option 60, so a hostile client could otherwise mint a
// time series per packet. Later newcomers are counted as "other".
const maxModels = 64

// Collector holds the DHCP metrics of this process. Counters fed per packet
// live here; the loop's and macpin's own counters are read at scrape time.
type Collector struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	replies  *prometheus.CounterVec
	storeDur *prometheus.HistogramVec
	storeErr *prometheus.CounterVec

	modelsMu sync.Mutex
	models   map[string]bool

	health health

	// Sources read at scrape time; replaced in tests.
	loops func() []loop
	pins  func() []*macpin.Macpin
}

// loop is what the metrics read from a running DHCPv4 loop.
type loop interface {
	Stats() dhcpserver.Stats
	Listening() int
}

func runningLoops() []loop {
	var out []loop
	for _, s := range dhcpserver.Running() {
		out = append(out, s)
	}
	return out
}

// defaultCollector serves every stanza; made by the first setup (not at
// package init, which runs before the descriptors below exist).
var defaultCollector *Collector

// NewCollector returns a collector on a registry of its own (so tests and
// several stanzas never collide) reading every running DHCPv4 loop and
// macpin stanza of the process.
func NewCollector() *Collector {
	c := &Collector{
		reg:    prometheus.NewRegistry(),
		models: map[string]bool{},
		loops:  runningLoops,
		pins:   macpin.Instances,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpi_dhcp_requests_total",
			Help: "DHCPv4 requests run through the plugin chain, by message type, class (rpi-pxe, uboot, pi, other) and model.",
		}, []string{"type", "class", "model"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpi_dhcp_replies_total",
			Help: "DHCPv4 replies built by the plugin chain, by message type (offer, ack, nak).",
		}, []string{"type"}),
		storeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rpi_dhcp_store_op_duration_seconds",
			Help:    "Duration of node store calls by method (Pin is the durable write before an OFFER).",
			Buckets: []float64{0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
		}, []string{"op"}),
		storeErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpi_dhcp_store_errors_total",
			Help: "Node store calls that failed, by method (not-found and conflict answers are not failures).",
		}, []string{"op"}),
	}
	c.reg.MustRegister(c.requests, c.replies, c.storeDur, c.storeErr, scrapeCollector{c},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return c
}

// MetricsHandler serves the Prometheus exposition of c.
func (c *Collector) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{})
}

// observe counts one request and its reply; it is a dhcpserver.Observer.
func (c *Collector) observe(req, resp *dhcpv4.DHCPv4, r classify.Facts) {
	c.requests.WithLabelValues(msgType(req), r.Class(), c.modelLabel(r.Model)).Inc()
	if resp != nil {
		c.replies.WithLabelValues(msgType(resp)).Inc()
	}
}

func msgType(p *dhcpv4.DHCPv4) string {
	mt := p.MessageType()
	if mt == dhcpv4.MessageTypeNone {
		return "bootp"
	}
	s := strings.ToLower(mt.String())
	if strings.HasPrefix(s, "unknown") {
		return "unknown"
	}
	return s
}

func (c *Collector) modelLabel(m string) string {
	if m == "" {
		return "unknown"
	}
	c.modelsMu.Lock()
	defer c.modelsMu.Unlock()
	if c.models[m] {
		return m
	}
	if len(c.models) >= maxModels {
		return "other"
	}
	c.models[m] = true
	return m
}

// storeOp records one store call; it is a store.OpObserver.
func (c *Collector) storeOp(op string, d time.Duration, err error) {
	c.storeDur.WithLabelValues(op).Observe(d.Seconds())
	failed := err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict)
	if failed {
		c.storeErr.WithLabelValues(op).Inc()
	}
	c.health.storeOp(op, failed, err)
}

// scrapeCollector reads the DHCPv4 loop's and macpin's counters at scrape
// time, so neither keeps a second copy of what it already counts.
type scrapeCollector struct{ c *Collector }

var (
	descPackets = prometheus.NewDesc("rpi_dhcp_packets_total",
		"Datagrams on the DHCPv4 sockets by outcome: received, malformed, unknown_type, busy (dropped, max-inflight), no_reply, replied, send_error, read_error, panic.",
		[]string{"result"}, nil)
	descListeners = prometheus.NewDesc("rpi_dhcp_listeners",
		"DHCPv4 sockets being read now.", nil, nil)
	descPins = prometheus.NewDesc("rpi_dhcp_pins",
		"MAC→IP pins held by a macpin stanza, by pool (its first range).", []string{"pool"}, nil)
	descPoolSize = prometheus.NewDesc("rpi_dhcp_pool_size",
		"Addresses in a macpin stanza's ranges.", []string{"pool"}, nil)
	descPoolUsed = prometheus.NewDesc("rpi_dhcp_pool_used",
		"Pool addresses pinned, pending or declined.", []string{"pool"}, nil)
	descPoolFree = prometheus.NewDesc("rpi_dhcp_pool_free",
		"Pool addresses still free for new boards.", []string{"pool"}, nil)
	descPinsCreated = prometheus.NewDesc("rpi_dhcp_pins_created_total",
		"Pins created from the pool (durable before the OFFER left).", []string{"pool"}, nil)
	descMacpin = prometheus.NewDesc("rpi_dhcp_macpin_events_total",
		"macpin events by kind: exhausted (no free address, no answer), dropped (too many waiting on a commit), commit_error (new pin refused by the store, no answer), nak, decline (address put on probation), decline_ignored (not credible: other server, not the sender's, a reservation, late, over budget), reclaim (an idle learned pin taken over on a full pool), probation_end, reload.",
		[]string{"pool", "event"}, nil)
	descProbation = prometheus.NewDesc("rpi_dhcp_declined_addresses",
		"Addresses on probation after a DECLINE (out of the pool until it ends).", []string{"pool"}, nil)
)

func (s scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descListeners, descPins, descPoolSize, descPoolUsed, descPoolFree, descPinsCreated, descMacpin, descProbation} {
		ch <- d
	}
}

func (s scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	var t dhcpserver.Stats
	listening := 0
	for _, l := range s.c.loops() {
		st := l.Stats()
		listening += l.Listening()
		t.Received += st.Received
		t.Malformed += st.Malformed
		t.UnknownType += st.UnknownType
		t.Busy += st.Busy
		t.NoReply += st.NoReply
		t.Replies += st.Replies
		t.SendErrors += st.SendErrors
		t.ReadErrors += st.ReadErrors
		t.Panics += st.Panics
	}
	for _, kv := range []struct {
		k string
		v uint64
	}{{"received", t.Received}, {"malformed", t.Malformed}, {"unknown_type", t.UnknownType}, {"busy", t.Busy},
		{"no_reply", t.NoReply}, {"replied", t.Replies}, {"send_error", t.SendErrors}, {"read_error", t.ReadErrors}, {"panic", t.Panics}} {
		ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(kv.v), kv.k)
	}
	ch <- prometheus.MustNewConstMetric(descListeners, prometheus.GaugeValue, float64(listening))
	seen := map[string]bool{}
	for _, m := range s.c.pins() {
		pool := m.Pool()
		if seen[pool] { // two stanzas cannot share a first range; guard the label set anyway
			continue
		}
		seen[pool] = true
		st := m.Stats()
		ch <- prometheus.MustNewConstMetric(descPins, prometheus.GaugeValue, float64(st.Pins), pool)
		ch <- prometheus.MustNewConstMetric(descPoolSize, prometheus.GaugeValue, float64(st.PoolSize), pool)
		ch <- prometheus.MustNewConstMetric(descPoolUsed, prometheus.GaugeValue, float64(st.PoolUsed), pool)
		ch <- prometheus.MustNewConstMetric(descPoolFree, prometheus.GaugeValue, float64(st.PoolSize-st.PoolUsed), pool)
		ch <- prometheus.MustNewConstMetric(descPinsCreated, prometheus.CounterValue, float64(st.NewPins), pool)
		ch <- prometheus.MustNewConstMetric(descProbation, prometheus.GaugeValue, float64(st.OnProbation), pool)
		for _, kv := range []struct {
			k string
			v uint64
		}{{"exhausted", st.Exhausted}, {"dropped", st.Dropped}, {"commit_error", st.CommitErrors},
			{"nak", st.NAKs}, {"decline", st.Declines}, {"decline_ignored", st.DeclinesIgnored}, {"reclaim", st.Reclaims},
			{"probation_end", st.Released}, {"reload", st.Reloads}} {
			ch <- prometheus.MustNewConstMetric(descMacpin, prometheus.CounterValue, float64(kv.v), pool, kv.k)
		}
	}
}
