// Package rpipxe answers Raspberry Pi ROM/EEPROM netboot requests (Pi 3B+,
// Pi 4/400/CM4, Pi 5/500/CM5) with the two options the boards insist on:
// option 60 "PXEClient" and option 43 carrying the "Raspberry Pi Boot" menu.
// Every other client passes through untouched. Which clients are such
// boards is the request's classification (the `classify` stanza).
//
// Example configuration (no arguments needed):
//
//	server4:
//	  plugins:
//	    - server_id: 192.168.50.1
//	    - rpipxe:
//	    # or, all options:
//	    - rpipxe: form=menu menu-file=/etc/rpinetboot/menu.txt
//
// See README.md for what each option means.
package rpipxe

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/loglimit"
)

var log = logger.GetLogger("plugins/rpipxe")

// Plugin is the rpipxe plugin registration for CoreDHCP.
var Plugin = plugins.Plugin{
	Name:   "rpipxe",
	Setup4: setup4,
}

// answeredLog logs a board's first answer at info, its retransmits and
// REQUESTs within the hour at debug, for up to this many boards at once.
const answeredLogBoards = 16384

// pxe is one configured rpipxe stanza; no package-level state, so several
// stanzas (e.g. per listener) cannot interfere.
type pxe struct {
	opt43    []byte
	form     string
	answered *loglimit.Limiter
}

func setup4(a ...string) (handler.Handler4, error) {
	p, err := parseArgs(a...)
	if err != nil {
		return nil, err
	}
	log.WithFields(logrus.Fields{"form": p.form, "option43": fmt.Sprintf("% x", p.opt43)}).Info("loaded")
	return p.handle, nil
}

// CheckArgs reports what is wrong with a stanza's arguments; it has no
// side effect but reading menu-file, so `rpinetctl config check` runs it.
func CheckArgs(a ...string) error {
	_, err := parseArgs(a...)
	return err
}

// parseArgs turns the stanza's arguments into a ready plugin.
func parseArgs(a ...string) (*pxe, error) {
	form, text := "menu", bootText
	spec := args.Spec{
		Plugin: "rpipxe",
		Options: []args.Option{
			{Key: "form", Value: "menu|string|string3", Once: true, Set: func(v string) (err error) {
				form, err = args.OneOf(v, "menu", "string", "string3")
				return err
			}},
			{Key: "menu-file", Value: "/path", Once: true, Set: func(v string) error {
				b, err := os.ReadFile(v)
				if err != nil {
					return err
				}
				text = strings.TrimRight(string(b), "\r\n")
				return nil
			}},
			{Key: "oui", Value: "moved", Hidden: true, Set: movedToClassify("oui")},
			{Key: "remember", Value: "moved", Hidden: true, Set: movedToClassify("remember")},
		},
	}
	if err := spec.Parse(a); err != nil {
		return nil, err
	}
	opt43, err := forms[form](text)
	if err != nil {
		return nil, fmt.Errorf("rpipxe: form=%s: %w", form, err)
	}
	return &pxe{opt43: opt43, form: form, answered: loglimit.New(1, time.Hour, answeredLogBoards)}, nil
}

// movedToClassify refuses an option that now belongs to the one
// classification of the process, with the line to write instead.
func movedToClassify(key string) func(string) error {
	return func(v string) error {
		return fmt.Errorf("%s= is set once for every plugin in the classify stanza: put `- classify: %s=%s` first in the plugin list", key, key, v)
	}
}

// handle adds options 60 and 43 to replies for Raspberry Pi netboot clients.
func (p *pxe) handle(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	r := classify.Of(req)
	mac := req.ClientHWAddr
	if r.Opt97Ignored != "" || r.ArchIgnored != "" {
		log.WithFields(logrus.Fields{"mac": mac.String(), "option97": r.Opt97Ignored, "option93": r.ArchIgnored}).Debug("odd option in request")
	}
	if !r.RPiPXE {
		return resp, false
	}
	resp.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, p.opt43))
	mt := req.MessageType()
	fields := logrus.Fields{"mac": mac.String(), "type": mt.String(), "model": r.Model, "serial": r.Serial, "family": r.Family}
	if first, _ := p.answered.Allow(string(mac), ""); first && mt == dhcpv4.MessageTypeDiscover {
		log.WithFields(fields).Info("Raspberry Pi netboot request answered")
	} else {
		log.WithFields(fields).Debug("Raspberry Pi netboot request answered")
	}
	return resp, false
}
