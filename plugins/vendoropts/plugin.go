// Package vendoropts adds vendor-encapsulated options (option 43) to replies
// for the clients of one vendor class, chosen by option 60 and/or MAC OUI.
// Each stanza is one vendor class; use several stanzas for several classes.
//
// Example configuration (the Raspberry Pi boot menu, as rpipxe sends it):
//
//	server4:
//	  plugins:
//	    - vendoropts: vendor-prefix=PXEClient oui=b8:27:eb reply-vendor=PXEClient sub=6:u8:3 sub=10:u8:0,text:PXE sub=9:u16:0,u8:17,text:Raspberry%20Pi%20Boot
//	    - vendoropts: vendor=ACME-phone sub=1:ip:192.168.50.5 sub=2:text:provisioning end=no
//	    - vendoropts: file=/etc/rpinetboot/acme-options.yml
//
// See README.md for the token syntax and the file format.
package vendoropts

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"
)

var log = logger.GetLogger("plugins/vendoropts")

// Plugin is the vendoropts plugin registration for CoreDHCP.
var Plugin = plugins.Plugin{
	Name:   "vendoropts",
	Setup4: setup4,
}

// class is one configured stanza: who matches and what they get.
type class struct {
	vendors     []string           // option 60 exact matches
	prefixes    []string           // option 60 prefix matches
	ouis        []net.HardwareAddr // MAC prefixes
	replyVendor string             // option 60 to set in the reply, "" for none
	opt43       []byte             // encoded option 43
	name        string             // what logs call this stanza
}

func setup4(args ...string) (handler.Handler4, error) {
	c, err := parseArgs(args)
	if err != nil {
		return nil, err
	}
	log.WithFields(logrus.Fields{"class": c.name, "option43": fmt.Sprintf("% x", c.opt43), "reply_vendor": c.replyVendor}).Info("loaded")
	return c.handle, nil
}

// matches reports whether req belongs to the class: every kind of matcher
// given must hold (vendor AND oui); several values of one kind are
// alternatives.
func (c *class) matches(req *dhcpv4.DHCPv4) bool {
	if len(c.vendors)+len(c.prefixes) > 0 {
		v, ok := req.Options[dhcpv4.OptionClassIdentifier.Code()]
		if !ok {
			return false
		}
		vc := string(bytes.TrimRight(v, "\x00"))
		hit := false
		for _, s := range c.vendors {
			hit = hit || vc == s
		}
		for _, s := range c.prefixes {
			hit = hit || strings.HasPrefix(vc, s)
		}
		if !hit {
			return false
		}
	}
	if len(c.ouis) > 0 {
		mac := req.ClientHWAddr
		if len(mac) != 6 {
			return false
		}
		hit := false
		for _, o := range c.ouis {
			hit = hit || bytes.Equal(mac[:3], o)
		}
		if !hit {
			return false
		}
	}
	return true
}

// handle sets option 43 (and option 60 if configured) for matching clients.
func (c *class) handle(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil || !c.matches(req) {
		return resp, false
	}
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, c.opt43))
	if c.replyVendor != "" {
		resp.UpdateOption(dhcpv4.OptClassIdentifier(c.replyVendor))
	}
	log.WithFields(logrus.Fields{"class": c.name, "mac": req.ClientHWAddr.String()}).Debug("vendor options added")
	return resp, false
}
