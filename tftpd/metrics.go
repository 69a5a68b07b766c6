package tftpd

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Transfer results, the `result` label of rpi_tftpd_transfers_total.
const (
	resultOK       = "ok"        // file sent and last block acknowledged
	resultAborted  = "aborted"   // client ended it after the OACK (tsize probe)
	resultTimeout  = "timeout"   // client went silent
	resultNotFound = "not_found" // no level of the chain holds the file
	resultRefused  = "refused"   // hostile path, symlink escape or WRQ
	resultBusy     = "busy"      // waited in the queue past queue_timeout
	resultGone     = "gone"      // the board's port became unreachable (ICMP)
	resultError    = "error"     // template, disk or network error
)

// metrics are one server's Prometheus collectors, on a registry of its own
// so several servers (tests) never collide.
type metrics struct {
	reg        *prometheus.Registry
	transfers  *prometheus.CounterVec
	requests   *prometheus.CounterVec
	bytes      prometheus.Counter
	duration   prometheus.Histogram
	active     prometheus.Gauge
	queued     prometheus.Gauge
	cacheHits  prometheus.Counter
	cacheMiss  prometheus.Counter
	cacheBytes prometheus.GaugeFunc
}

func newMetrics(cacheSize func() int64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpi_tftpd_transfers_total", Help: "Read transfers by result.",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpi_tftpd_requests_total",
			Help: "Packets on the request port by kind: rrq, duplicate (collapsed), wrq, malformed, overload (dropped).",
		}, []string{"kind"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rpi_tftpd_sent_bytes_total", Help: "File bytes sent in completed and partial transfers.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rpi_tftpd_transfer_duration_seconds",
			Help:    "Duration of completed transfers, queueing excluded.",
			Buckets: []float64{0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rpi_tftpd_active_transfers", Help: "Transfers sending now.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rpi_tftpd_queued_transfers", Help: "Requests waiting for a transfer slot (max_transfers).",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rpi_tftpd_cache_hits_total", Help: "Static files served from memory.",
		}),
		cacheMiss: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rpi_tftpd_cache_misses_total", Help: "Static files read from disk into the cache.",
		}),
		cacheBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rpi_tftpd_cache_bytes", Help: "Bytes held by the file cache.",
		}, func() float64 { return float64(cacheSize()) }),
	}
	m.reg.MustRegister(m.transfers, m.requests, m.bytes, m.duration, m.active, m.queued,
		m.cacheHits, m.cacheMiss, m.cacheBytes,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
