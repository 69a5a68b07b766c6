// Package classify is the `classify` stanza: the one place that says what
// counts as a Raspberry Pi, a U-Boot board or a PXE client this server
// boots. The packet loop computes every request's facts once from it
// (internal/classify), before the chain, and rpipxe, modelboot, macpin,
// proxydhcp and metrics all read those facts. Without the stanza the
// built-in defaults apply.
//
// Example configuration (first in the list, where a reader looks for it):
//
//	server4:
//	  plugins:
//	    - classify: oui=b8:27:eb oui=dc:a6:32 vci=^walt\.node\.(?P<model>.+)$ pxe-arch=11 remember=30s
//	    - server_id: 192.168.50.1
//	    - rpipxe:
//
// See README.md for what each option means.
package classify

import (
	"sync/atomic"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/classify"
)

var log = logger.GetLogger("plugins/classify")

// Plugin is the classify plugin registration for CoreDHCP.
var Plugin = plugins.Plugin{
	Name:   "classify",
	Setup4: setup4,
}

// configured notices a second stanza in one process (the last one wins;
// `rpinetctl config check` refuses it).
var configured atomic.Bool

// CheckArgs reports what is wrong with a stanza's arguments, for
// `rpinetctl config check`.
func CheckArgs(a ...string) error {
	_, err := classify.ParseArgs(a...)
	return err
}

func setup4(a ...string) (handler.Handler4, error) {
	cfg, err := classify.ParseArgs(a...)
	if err != nil {
		return nil, err
	}
	if !configured.CompareAndSwap(false, true) {
		log.Warn("classify given more than once; the last stanza classifies for every plugin")
	}
	classify.Configure(cfg)
	log.WithFields(logrus.Fields{"ouis": len(cfg.OUIs), "vci_patterns": len(cfg.UBootVCI), "pxe_arches": cfg.PXEArches, "remember": cfg.Remember}).Info("loaded")
	return handle, nil
}

// handle passes every request on: the facts are computed by the packet
// loop before the chain, from the configuration set at setup.
func handle(_, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) { return resp, false }
