// Package modelboot tells each netbooting board what to load, per model,
// from models.yml: the boot file and TFTP server for Raspberry Pi ROM/EEPROM
// clients, the stage-2 script for U-Boot clients. Other clients pass
// through untouched.
//
// Example configuration:
//
//	server4:
//	  plugins:
//	    - server_id: 192.168.50.1
//	    - rpipxe:
//	    - modelboot: /etc/rpinetboot/models.yml
//	    # or, all options:
//	    - modelboot: /etc/rpinetboot/models.yml opt67=always log-unknown=off oui=b8:27:eb
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
	cls         *classify.Config
	opt67Always bool
	unknown     *onceSet // nil when log-unknown=off
}

func setup4(args ...string) (handler.Handler4, error) {
	b, err := parseArgs(args...)
	if err != nil {
		return nil, fmt.Errorf("modelboot: %w", err)
	}
	log.WithFields(logrus.Fields{"models": len(b.table.Models), "opt67_always": b.opt67Always}).Info("loaded")
	return b.handle, nil
}

func parseArgs(args ...string) (*boot, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("first argument: want the path of models.yml")
	}
	t, err := models.Load(args[0])
	if err != nil {
		if _, statErr := os.Stat(args[0]); os.IsNotExist(statErr) && strings.Contains(args[0], "=") {
			return nil, fmt.Errorf("first argument %q: want the path of models.yml before the options", args[0])
		}
		return nil, err
	}
	if err := checkTFTPServers(t); err != nil {
		return nil, fmt.Errorf("%s: %w", args[0], err)
	}
	b := &boot{table: t, cls: classify.Default(), unknown: newOnceSet(maxUnknownNames)}
	var ouis []net.HardwareAddr
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("argument %q: want key=value (opt67=, log-unknown=, oui=)", a)
		}
		switch k {
		case "opt67":
			switch v {
			case "always":
				b.opt67Always = true
			case "requested":
				b.opt67Always = false
			default:
				return nil, fmt.Errorf("opt67=%s: want always or requested", v)
			}
		case "log-unknown":
			switch v {
			case "once":
			case "off":
				b.unknown = nil
			default:
				return nil, fmt.Errorf("log-unknown=%s: want once or off", v)
			}
		case "oui":
			o, err := classify.ParseOUI(v)
			if err != nil {
				return nil, fmt.Errorf("oui=%s: %w", v, err)
			}
			ouis = append(ouis, o)
		default:
			return nil, fmt.Errorf("argument %q: unknown key %q (want opt67, log-unknown or oui)", a, k)
		}
	}
	if ouis != nil {
		b.cls.OUIs = ouis
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
	r := b.cls.Classify(req)
	// rpipxe, earlier in the chain, may have recognised a board that
	// classification alone cannot (a REQUEST remembered by MAC); its
	// option 60 "PXEClient" in the reply says so.
	rpi := r.RPiPXE || (string(resp.Options.Get(dhcpv4.OptionClassIdentifier)) == "PXEClient" &&
		resp.Options.Has(dhcpv4.OptionVendorSpecificInformation))
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
