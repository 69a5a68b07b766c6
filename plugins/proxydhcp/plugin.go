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
//	    - proxydhcp: answer=pxe keep=209 on-new=/usr/local/lib/rpinetboot/new-node on-new-url=http://127.0.0.1:8080/hook
//
// See README.md for what each option means.
package proxydhcp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/classify"
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
	answerRPi = "rpi" // only replies rpipxe marked (the rpi-pxe class)
	answerPXE = "pxe" // also any client whose option 60 starts with PXEClient
)

// usage ends every argument error so the fix is in the message.
const usage = "usage: proxydhcp: [answer=rpi|pxe] [keep=CODE ...] [oui=aa:bb:cc ...] [" + events.Usage + "]"

func setup4(args ...string) (handler.Handler4, error) {
	p, err := parseArgs(args...)
	if err != nil {
		return nil, fmt.Errorf("proxydhcp: %w", err)
	}
	ev := p.notify.Config()
	log.WithFields(logrus.Fields{"answer": p.answer, "keep": fmt.Sprint(p.keepList()), "on_new": ev.Exec, "on_new_url": ev.URL}).
		Info("loaded; answering netboot clients only, never with an address")
	return p.handle, nil
}

// parseArgs turns the stanza's arguments into a ready plugin.
func parseArgs(args ...string) (*proxy, error) {
	p := newProxy()
	var ec events.Config
	var ouis []string
	for _, a := range args {
		if ok, err := events.ParseArg(&ec, a); ok {
			if err != nil {
				return nil, fmt.Errorf("%w; %s", err, usage)
			}
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("argument %q: want key=value; %s", a, usage)
		}
		switch k {
		case "answer":
			if v != answerRPi && v != answerPXE {
				return nil, fmt.Errorf("answer=%s: want rpi (Raspberry Pi netboot only) or pxe (any PXEClient)", v)
			}
			p.answer = v
		case "keep":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 254 {
				return nil, fmt.Errorf("keep=%s: want a DHCP option code between 1 and 254", v)
			}
			if addressOptions[uint8(n)] {
				return nil, fmt.Errorf("keep=%s: option %d describes an address lease; a proxy must not send it", v, n)
			}
			p.keep[uint8(n)] = true
		case "oui":
			ouis = append(ouis, v)
		default:
			return nil, fmt.Errorf("argument %q: unknown key %q; %s", a, k, usage)
		}
	}
	if ouis != nil {
		p.cls.OUIs = nil
		for _, s := range ouis {
			o, err := classify.ParseOUI(s)
			if err != nil {
				return nil, fmt.Errorf("oui=%s: %w", s, err)
			}
			p.cls.OUIs = append(p.cls.OUIs, o)
		}
	}
	p.notify = events.New(ec, log.WithField("source", "proxydhcp"))
	return p, nil
}
