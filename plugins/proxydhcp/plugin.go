// Package proxydhcp turns rpinetboot's coredhcp into a proxyDHCP server that
// runs beside a DHCP server it does not replace (a corporate DHCP, a home
// router, Kea, ISC dhcpd), like dnsmasq's `dhcp-range=<net>,proxy`. The
// existing server hands out addresses; this one answers netboot clients only,
// with an OFFER that carries no address (yiaddr 0.0.0.0) but the boot answer
// the earlier plugins built: option 60 "PXEClient", option 43, the server
// identifier, next-server (siaddr, option 66) and the boot file. Everyone
// else gets silence: never an address, never a NAK.
//
// Example configuration (it must be the last plugin):
//
//	server4:
//	  listen: ["%eth0", "%eth0:4011"]
//	  plugins:
//	    - server_id: 192.168.50.2
//	    - rpipxe:
//	    - modelboot: /etc/rpinetboot/models.yml
//	    - proxydhcp:
//	    # or, all options:
//	    - proxydhcp: answer=netboot keep=209 on-new=/usr/local/lib/rpinetboot/new-node on-new-url=http://127.0.0.1:8080/hook
//
// See README.md for what each option means.
package proxydhcp

import (
	"fmt"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/internal/events"
)

var log = logger.GetLogger("plugins/proxydhcp")

// Plugin is the proxydhcp plugin registration for CoreDHCP.
var Plugin = plugins.Plugin{
	Name:   "proxydhcp",
	Setup4: setup4,
}

// The values of answer=.
const (
	answerRPi     = "rpi"     // Raspberry Pi ROM/EEPROM netboot only (the rpi-pxe class)
	answerNetboot = "netboot" // every netboot client the classification recognises
	answerPXE     = "pxe"     // also any client whose option 60 starts with PXEClient
)

func setup4(a ...string) (handler.Handler4, error) {
	p, err := parseArgs(a...)
	if err != nil {
		return nil, err
	}
	ev := p.notify.Config()
	log.WithFields(logrus.Fields{"answer": p.answer, "keep": fmt.Sprint(p.keepList()), "on_new": ev.Exec, "on_new_url": ev.URL}).
		Info("loaded; answering netboot clients only, never with an address")
	return p.handle, nil
}

// CheckArgs reports what is wrong with a stanza's arguments, without side
// effects, for `rpinetctl config check`.
func CheckArgs(a ...string) error {
	_, err := parseArgs(a...)
	return err
}

// parseArgs turns the stanza's arguments into a ready plugin.
func parseArgs(a ...string) (*proxy, error) {
	p := newProxy()
	var ec events.Config
	spec := args.Spec{
		Plugin: "proxydhcp",
		Options: []args.Option{
			{Key: "answer", Value: "rpi|netboot|pxe", Once: true, Set: func(v string) (err error) {
				p.answer, err = args.OneOf(v, answerRPi, answerNetboot, answerPXE)
				return err
			}},
			{Key: "keep", Value: "CODE", Set: func(v string) error {
				n, err := args.Int(v, 1, 254)
				if err != nil {
					return fmt.Errorf("want a DHCP option code: %w", err)
				}
				if addressOptions[uint8(n)] {
					return fmt.Errorf("option %d describes an address lease; a proxy must not send it", n)
				}
				p.keep[uint8(n)] = true
				return nil
			}},
			{Key: "oui", Value: "moved", Hidden: true, Set: func(v string) error {
				return fmt.Errorf("oui= is set once for every plugin in the classify stanza: put `- classify: oui=%s` first in the plugin list", v)
			}},
		},
		Fallback:      func(arg string) (bool, error) { return events.ParseArg(&ec, arg) },
		FallbackUsage: events.Usage,
	}
	if err := spec.Parse(a); err != nil {
		return nil, err
	}
	p.notify = events.New(ec, log.WithField("source", "proxydhcp"))
	return p, nil
}
