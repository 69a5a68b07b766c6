// Package rpipxe answers Raspberry Pi ROM/EEPROM netboot requests (Pi 3B+,
// Pi 4/400/CM4, Pi 5/500/CM5) with the two options the boards insist on:
// option 60 "PXEClient" and option 43 carrying the "Raspberry Pi Boot" menu.
// Every other client passes through untouched.
//
// Example configuration (no arguments needed):
//
//	server4:
//	  plugins:
//	    - server_id: 192.168.50.1
//	    - rpipxe:
//	    # or, all options:
//	    - rpipxe: form=menu oui=b8:27:eb oui=dc:a6:32 menu-file=/etc/rpinetboot/menu.txt remember=30s
//
// See README.md for what each option means.
package rpipxe

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/classify"
)

var log = logger.GetLogger("plugins/rpipxe")

// Plugin is the rpipxe plugin registration for CoreDHCP.
var Plugin = plugins.Plugin{
	Name:   "rpipxe",
	Setup4: setup4,
}

// defaultRemember covers a board's DISCOVER→REQUEST gap with a wide margin
// while staying shorter than a Linux boot, whose own DHCP client must not
// get the PXE answer.
const defaultRemember = 30 * time.Second

// rememberCap bounds the MAC memory per generation (two generations live).
const rememberCap = 16384

// pxe is one configured rpipxe stanza; no package-level state, so several
// stanzas (e.g. per listener) cannot interfere.
type pxe struct {
	cls    *classify.Config
	opt43  []byte
	form   string
	recent *recent
	now    func() time.Time
}

func setup4(args ...string) (handler.Handler4, error) {
	p, err := parseArgs(args...)
	if err != nil {
		return nil, fmt.Errorf("rpipxe: %w", err)
	}
	log.WithFields(logrus.Fields{"form": p.form, "ouis": len(p.cls.OUIs), "option43": fmt.Sprintf("% x", p.opt43)}).Info("loaded")
	return p.handle, nil
}

// parseArgs turns the stanza's arguments into a ready plugin.
func parseArgs(args ...string) (*pxe, error) {
	cls := classify.Default()
	form, text := "menu", bootText
	remember := defaultRemember
	var ouis []net.HardwareAddr
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("argument %q: want key=value (form=, oui=, menu-file=, remember=)", a)
		}
		switch k {
		case "form":
			if _, known := forms[v]; !known {
				return nil, fmt.Errorf("form=%s: want menu, string or string3", v)
			}
			form = v
		case "oui":
			o, err := classify.ParseOUI(v)
			if err != nil {
				return nil, fmt.Errorf("oui=%s: %w", v, err)
			}
			ouis = append(ouis, o)
		case "menu-file":
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("menu-file=%s: %w", v, err)
			}
			text = strings.TrimRight(string(b), "\r\n")
		case "remember":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("remember=%s: want a duration like 30s (0 turns the memory off)", v)
			}
			remember = d
		default:
			return nil, fmt.Errorf("argument %q: unknown key %q (want form, oui, menu-file or remember)", a, k)
		}
	}
	if ouis != nil {
		cls.OUIs = ouis
	}
	opt43, err := forms[form](text)
	if err != nil {
		return nil, fmt.Errorf("form=%s: %w", form, err)
	}
	return &pxe{cls: cls, opt43: opt43, form: form, recent: newRecent(remember, rememberCap), now: time.Now}, nil
}

// handle adds options 60 and 43 to replies for Raspberry Pi netboot clients.
func (p *pxe) handle(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	r := p.cls.Classify(req)
	mac := req.ClientHWAddr
	if r.Opt97Ignored != "" || r.ArchIgnored != "" {
		log.WithFields(logrus.Fields{"mac": mac.String(), "option97": r.Opt97Ignored, "option93": r.ArchIgnored}).Debug("odd option in request")
	}
	mt := req.MessageType()
	now := p.now()
	match, fresh := r.RPiPXE, false
	switch {
	case r.RPiPXE && (mt == dhcpv4.MessageTypeDiscover || mt == dhcpv4.MessageTypeRequest):
		fresh = !p.recent.seen(mac, now)
		p.recent.remember(mac, now)
	case mt == dhcpv4.MessageTypeRequest && !req.Options.Has(dhcpv4.OptionClassIdentifier) && p.recent.seen(mac, now):
		// The Pi 4 EEPROM REQUEST drops option 60 and older EEPROMs send
		// no RPi4 magic in option 97: recognise the board by its DISCOVER.
		match = true
	}
	if !match {
		return resp, false
	}
	resp.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, p.opt43))
	fields := logrus.Fields{"mac": mac.String(), "type": mt.String(), "model": r.Model, "serial": r.Serial, "family": r.Family}
	if fresh && mt == dhcpv4.MessageTypeDiscover {
		log.WithFields(fields).Info("Raspberry Pi netboot request answered")
	} else {
		log.WithFields(fields).Debug("Raspberry Pi netboot request answered")
	}
	return resp, false
}
