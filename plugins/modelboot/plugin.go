// Package modelboot tells each netbooting board what to load, per model,
// from models.yml: the boot file and TFTP server for Raspberry Pi ROM/EEPROM
// clients, the stage-2 script for U-Boot clients. Which clients are which,
// and their model, is the request's classification (the `classify`
// stanza). Other clients pass through untouched.
//
// Example configuration:
//
//	server4:
//	  plugins:
//	    - server_id: 192.168.50.1
//	    - rpipxe:
//	    - modelboot: /etc/rpinetboot/models.yml
//	    # or, all options:
//	    - modelboot: /etc/rpinetboot/models.yml opt67=always log-unknown=off
//
// See README.md for what each option means.
package modelboot

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/models"
)

var log = logger.GetLogger("plugins/modelboot")

// Plugin is the modelboot plugin registration for CoreDHCP.
var Plugin = plugins.Plugin{
	Name:   "modelboot",
	Setup4: setup4,
}

// boot is one configured modelboot stanza.
type boot struct {
	table       *models.Table
	opt67Always bool
	unknown     *onceSet // nil when log-unknown=off
}

func setup4(a ...string) (handler.Handler4, error) {
	b, err := parseArgs(a...)
	if err != nil {
		return nil, err
	}
	log.WithFields(logrus.Fields{"models": len(b.table.Models), "opt67_always": b.opt67Always}).Info("loaded")
	return b.handle, nil
}

// CheckArgs reports what is wrong with a stanza's arguments (models.yml
// included); it only reads files, so `rpinetctl config check` runs it.
func CheckArgs(a ...string) error {
	_, err := parseArgs(a...)
	return err
}

func parseArgs(a ...string) (*boot, error) {
	b := &boot{unknown: newOnceSet(maxUnknownNames)}
	spec := args.Spec{
		Plugin: "modelboot",
		Positional: []args.Positional{{Name: "models.yml", Set: func(v string) error {
			t, err := models.Load(v)
			if err != nil {
				if _, statErr := os.Stat(v); os.IsNotExist(statErr) && strings.Contains(v, "=") {
					return fmt.Errorf("want the path of models.yml before the options")
				}
				return err
			}
			if err := checkTFTPServers(t); err != nil {
				return err
			}
			b.table = t
			return nil
		}}},
		Options: []args.Option{
			{Key: "opt67", Value: "requested|always", Once: true, Set: func(v string) error {
				mode, err := args.OneOf(v, "requested", "always")
				b.opt67Always = mode == "always"
				return err
			}},
			{Key: "log-unknown", Value: "once|off", Once: true, Set: func(v string) error {
				mode, err := args.OneOf(v, "once", "off")
				if mode == "off" {
					b.unknown = nil
				}
				return err
			}},
			{Key: "oui", Value: "moved", Hidden: true, Set: func(v string) error {
				return fmt.Errorf("oui= is set once for every plugin in the classify stanza: put `- classify: oui=%s` first in the plugin list", v)
			}},
		},
	}
	if err := spec.Parse(a); err != nil {
		return nil, err
	}
	return b, nil
}

// checkTFTPServers refuses tftp_server values the boards cannot use: the
// Pi bootloaders have no DNS resolver and siaddr is an address.
func checkTFTPServers(t *models.Table) error {
	check := func(name, s string) error {
		if s != "" && net.ParseIP(s).To4() == nil {
			return fmt.Errorf("%s: tftp_server %q: want an IPv4 address", name, s)
		}
		return nil
	}
	if err := check("default", t.Default.TFTPServer); err != nil {
		return err
	}
	for _, name := range t.Names() {
		if err := check("model "+name, t.Models[name].TFTPServer); err != nil {
			return err
		}
	}
	return nil
}

// handle fills the boot file and TFTP server for Pi ROM/EEPROM and U-Boot clients.
func (b *boot) handle(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	r := classify.Of(req)
	rpi := r.RPiPXE
	if !rpi && !r.UBoot {
		return resp, false
	}
	e, known := b.table.Lookup(r.Model)
	if !known && b.unknown != nil {
		if first, full := b.unknown.add(r.Model); first {
			log.WithFields(logrus.Fields{"model": r.Model, "mac": req.ClientHWAddr.String(), "vendor_class": r.VendorClass}).
				Info("model has no entry in models.yml, using the default entry (logged once per model)")
		} else if full {
			log.WithField("limit", maxUnknownNames).Warn("too many unknown model names; no longer logging new ones")
		}
	}
	file := e.Bootfile
	if !rpi {
		file = e.Stage2 // U-Boot loads the file field from siaddr and sources it
	}
	if file != "" {
		resp.BootFileName = file
		if b.opt67Always || req.IsOptionRequested(dhcpv4.OptionBootfileName) {
			resp.UpdateOption(dhcpv4.OptBootFileName(file))
		}
	}
	if ip := net.ParseIP(e.TFTPServer).To4(); ip != nil {
		resp.ServerIPAddr = ip
		if rpi { // U-Boot ignores option 66; the Pi EEPROM reads it
			resp.UpdateOption(dhcpv4.OptTFTPServerName(ip.String()))
		}
	}
	fields := logrus.Fields{"mac": req.ClientHWAddr.String(), "model": r.Model, "file": file, "next_server": resp.ServerIPAddr.String()}
	if r.UBoot && !rpi && req.MessageType() == dhcpv4.MessageTypeDiscover {
		log.WithFields(fields).Info("U-Boot client offered its stage-2 script")
	} else {
		log.WithFields(fields).Debug("boot file set")
	}
	return resp, false
}
