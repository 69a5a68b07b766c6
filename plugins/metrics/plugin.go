// Package metrics serves Prometheus metrics for the rpinetboot DHCP plugins
// and a health endpoint, on a listener that is off unless configured and
// loopback-only unless told otherwise: a boot network is a lab network
// anybody can plug into.
//
// Example stanza (anywhere in server4's plugin list; its handler only
// passes requests on, counting happens after the chain):
//
//	server4:
//	  plugins:
//	    - metrics: 127.0.0.1:9467
//
// GET /metrics is the Prometheus exposition, GET /healthz answers 200 "ok"
// or 503 with the reason. A non-loopback address needs `allow-remote`:
//
//   - metrics: 0.0.0.0:9467 allow-remote
package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/internal/dhcpserver"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

var log = logger.GetLogger("plugins/metrics")

// Plugin is the metrics plugin for registration in coredhcp.
var Plugin = plugins.Plugin{
	Name:   "metrics",
	Setup4: setup4,
}

// Config is one metrics stanza, parsed.
type Config struct {
	Addr        string // host:port to listen on
	AllowRemote bool   // a non-loopback address was asked for explicitly
}

// ParseArgs checks the stanza arguments. Each error names the plugin, the
// argument and what was expected.
func ParseArgs(a ...string) (Config, error) {
	var c Config
	spec := args.Spec{
		Plugin:     "metrics",
		Positional: []args.Positional{{Name: "host:port", Set: func(v string) error { c.Addr = v; return nil }}},
		Flags:      map[string]func() error{"allow-remote": func() error { c.AllowRemote = true; return nil }},
	}
	if err := spec.Parse(a); err != nil {
		return c, err
	}
	if err := args.ListenAddr(c.Addr, c.AllowRemote); err != nil {
		return c, fmt.Errorf("metrics: %w", err)
	}
	return c, nil
}

var startOnce sync.Once

func setup4(args ...string) (handler.Handler4, error) {
	cfg, err := ParseArgs(args...)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: address %q: %w", cfg.Addr, err)
	}
	startOnce.Do(func() {
		defaultCollector = NewCollector()
		dhcpserver.AddObserver(defaultCollector.observe)
		store.AddOpObserver(defaultCollector.storeOp)
	})
	srv := &http.Server{Handler: NewHandler(defaultCollector), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithFields(logrus.Fields{"addr": ln.Addr().String()}).WithError(err).Error("metrics listener stopped")
		}
	}()
	log.WithFields(logrus.Fields{"addr": ln.Addr().String(), "remote": cfg.AllowRemote}).
		Info("serving Prometheus metrics on /metrics and health on /healthz")
	return handler4, nil
}

// handler4 passes every request on untouched: counting is done by a
// dhcpserver observer after the chain, so the stanza's position never
// hides a packet another plugin stopped.
func handler4(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) { return resp, false }

// NewHandler returns the HTTP mux serving /metrics and /healthz from c.
func NewHandler(c *Collector) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", c.MetricsHandler())
	mux.HandleFunc("/healthz", c.serveHealth)
	return mux
}
