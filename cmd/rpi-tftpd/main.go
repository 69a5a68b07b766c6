// Command rpi-tftpd is the rpinetboot TFTP daemon: it serves the firmware
// trees and per-board generated files described by the `rpi-tftpd:` section
// of the config file coredhcp also reads (see tftpd/README.md).
package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coredhcp/coredhcp/logger"
	"github.com/rpinetboot/rpinetboot/internal/loglevel"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/tftpd"
	flag "github.com/spf13/pflag"
)

// The flags mirror coredhcp's so both daemons are run and logged alike.
var (
	flagConfig      = flag.StringP("conf", "c", "/etc/rpinetboot/config.yml", "configuration file (its rpi-tftpd: section)")
	flagLogLevel    = flag.StringP("loglevel", "L", "info", "log level: none, debug, info, warning, error, fatal")
	flagLogFile     = flag.StringP("logfile", "l", "", "log file to append to, in addition to stdout/stderr")
	flagLogNoStdout = flag.BoolP("nostdout", "N", false, "disable logging to stdout/stderr")
	flagCheck       = flag.Bool("check", false, "validate the configuration and exit")
)

func main() {
	flag.Parse()
	log := logger.GetLogger("rpi-tftpd")
	if err := loglevel.Set(log.Logger, *flagLogLevel); err != nil {
		log.Fatal(err)
	}
	if *flagLogFile != "" {
		logger.WithFile(log, *flagLogFile)
	}
	if *flagLogNoStdout {
		logger.WithNoStdOutErr(log)
	}

	cfg, err := tftpd.LoadConfig(*flagConfig)
	if err != nil {
		log.Fatalf("load configuration: %v", err)
	}
	opt := tftpd.Options{Log: log}
	if cfg.Store != "" {
		dsn := cfg.Store
		opt.OpenStore = func() (tftpd.NodeSource, error) {
			return store.Open(dsn, store.Options{ReadOnly: true})
		}
		// A missing store is normal (coredhcp creates it on its first start)
		// and is retried while serving; a corrupt one never heals by itself,
		// so refuse to start, as coredhcp does, instead of serving every
		// board the default tree.
		if s, err := opt.OpenStore(); errors.Is(err, store.ErrCorrupt) {
			log.Fatalf("refusing to start: %v", err)
		} else if err == nil {
			if c, ok := s.(interface{ Close() error }); ok {
				c.Close()
			}
		}
	}
	srv, err := tftpd.New(cfg, opt)
	if err != nil {
		log.Fatalf("start: %v", err)
	}
	if *flagCheck {
		log.WithField("config", *flagConfig).Info("configuration OK")
		return
	}
	if cfg.Metrics != "" {
		ln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			log.Fatalf("metrics listener %s: %v", cfg.Metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", srv.MetricsHandler())
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.WithField("error", err).Error("metrics listener stopped")
			}
		}()
		log.WithField("addr", ln.Addr().String()).Info("serving Prometheus metrics on /metrics")
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		log.WithField("signal", s.String()).Info("shutting down")
		srv.Shutdown()
	}()
	if err := srv.ListenAndServe(); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
