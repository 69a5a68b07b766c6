// Command coredhcp is CoreDHCP with every upstream plugin plus the rpinetboot
// plugins (classify, rpipxe, vendoropts, modelboot, macpin, proxydhcp,
// metrics) compiled in, so an existing coredhcp configuration keeps working
// and gains Raspberry Pi netboot stanzas. The list is internal/pluginreg.
package main

import (
	"fmt"
	"os"

	"github.com/coredhcp/coredhcp/config"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/rpinetboot/rpinetboot/internal/dhcpserver"
	"github.com/rpinetboot/rpinetboot/internal/loglevel"
	"github.com/rpinetboot/rpinetboot/internal/pluginreg"
	flag "github.com/spf13/pflag"
)

// The flags are upstream's, so scripts and units written for coredhcp keep working.
var (
	flagLogFile     = flag.StringP("logfile", "l", "", "Name of the log file to append to. Default: stdout/stderr only")
	flagLogNoStdout = flag.BoolP("nostdout", "N", false, "Disable logging to stdout/stderr")
	flagLogLevel    = flag.StringP("loglevel", "L", "info", "Log level: none, debug, info, warning, error, fatal")
	flagConfig      = flag.StringP("conf", "c", "", "Use this configuration file instead of the default location")
	flagPlugins     = flag.BoolP("plugins", "P", false, "list plugins")
)

// Ours: the DHCPv4 loop bounds its handlers instead of one goroutine per packet.
var flagMaxInflight = flag.Int("max-inflight", dhcpserver.DefaultMaxInflight,
	"DHCPv4 requests handled at once when a configured plugin may block (range, sleep); more are dropped (clients retry)")

func main() {
	flag.Parse()
	if *flagPlugins {
		for _, n := range pluginreg.Names() {
			fmt.Println(n)
		}
		return
	}

	log := logger.GetLogger("main")
	if err := loglevel.Set(log.Logger, *flagLogLevel); err != nil {
		log.Fatal(err)
	}
	if *flagLogFile != "" {
		logger.WithFile(log, *flagLogFile)
	}
	if *flagLogNoStdout {
		logger.WithNoStdOutErr(log)
	}

	if *flagMaxInflight < 1 {
		log.Fatalf("--max-inflight %d: want a positive number of requests", *flagMaxInflight)
	}
	cfg, err := config.Load(*flagConfig)
	if err != nil {
		log.Fatalf("load configuration: %v", err)
	}
	if err := pluginreg.Register(); err != nil {
		log.Fatal(err)
	}
	// Our DHCPv4 loop (storm-proof, passes DECLINE to the plugins); a
	// server6 section still runs on upstream's server.
	srv, err := dhcpserver.Start(cfg, dhcpserver.Options{MaxInflight: *flagMaxInflight, NonBlocking: pluginreg.NonBlocking()})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		log.Error(err)
		os.Exit(1)
	}
}
