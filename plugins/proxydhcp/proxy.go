package proxydhcp

import (
	"net"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/events"
	"github.com/rpinetboot/rpinetboot/internal/loglimit"
)

// bootOptions are what a proxy answer carries (PXE spec 2.1, "proxyDHCP
// offer"): message type, server identifier, the PXE class and menu, TFTP
// server and boot file, and the client's machine id echoed back.
var bootOptions = map[uint8]bool{
	uint8(dhcpv4.OptionDHCPMessageType):           true,
	uint8(dhcpv4.OptionServerIdentifier):          true,
	uint8(dhcpv4.OptionClassIdentifier):           true,
	uint8(dhcpv4.OptionVendorSpecificInformation): true,
	uint8(dhcpv4.OptionTFTPServerName):            true,
	uint8(dhcpv4.OptionBootfileName):              true,
	uint8(dhcpv4.OptionClientMachineIdentifier):   true,
}

// addressOptions describe a lease: the address server's business, so keep=
// refuses them (they would contradict or duplicate its answer).
var addressOptions = map[uint8]bool{
	uint8(dhcpv4.OptionSubnetMask):           true,
	uint8(dhcpv4.OptionRouter):               true,
	uint8(dhcpv4.OptionDomainNameServer):     true,
	uint8(dhcpv4.OptionBroadcastAddress):     true,
	uint8(dhcpv4.OptionRequestedIPAddress):   true,
	uint8(dhcpv4.OptionIPAddressLeaseTime):   true,
	uint8(dhcpv4.OptionRenewTimeValue):       true,
	uint8(dhcpv4.OptionRebindingTimeValue):   true,
	uint8(dhcpv4.OptionClasslessStaticRoute): true,
}

// pxeSkipDiscovery is option 43 for a generic PXE client when no earlier
// plugin set one: discovery control 8 = "boot file given, download it, no
// boot server discovery", what dnsmasq sends in proxy mode with dhcp-boot.
var pxeSkipDiscovery = []byte{6, 1, 8, 255}

// maxLogged bounds the once-per-MAC info log memory.
const maxLogged = 1 << 16

// proxy is one configured proxydhcp stanza.
type proxy struct {
	answer string
	keep   map[uint8]bool
	notify *events.Notifier

	mu     sync.Mutex
	logged map[string]struct{}
	warn   *loglimit.Limiter
}

func newProxy() *proxy {
	return &proxy{answer: answerRPi, keep: map[uint8]bool{}, logged: map[string]struct{}{}, warn: loglimit.New(1, time.Minute, 1)}
}

func (p *proxy) keepList() []int {
	var l []int
	for c := range p.keep {
		l = append(l, int(c))
	}
	slices.Sort(l)
	return l
}

// handle makes resp a proxy answer for netboot clients and drops the rest.
func (p *proxy) handle(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return nil, true
	}
	mt := req.MessageType()
	mac := req.ClientHWAddr.String()
	silent := func(why string) (*dhcpv4.DHCPv4, bool) {
		log.WithFields(logrus.Fields{"mac": mac, "type": mt.String(), "why": why}).Debug("no proxy answer")
		return nil, true
	}
	var reply dhcpv4.MessageType
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		reply = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
		reply = dhcpv4.MessageTypeAck
	default:
		return silent("message type a proxy never answers")
	}
	r := classify.Of(req)
	if !p.netboot(r) {
		return silent("not a netboot client")
	}
	sid := resp.ServerIdentifier().To4()
	if sid == nil || sid.IsUnspecified() {
		p.warnNoServerID()
		return silent("no server identifier")
	}
	if reply == dhcpv4.MessageTypeAck {
		// A REQUEST naming another server selects that server's address
		// OFFER; one naming none, without ciaddr, is an INIT-REBOOT for an
		// address we never gave. Only a request to us (option 54, or the
		// PXE boot-server REQUEST on port 4011 with ciaddr) is ours.
		asked := req.ServerIdentifier().To4()
		switch {
		case asked != nil && !asked.Equal(sid):
			return silent("REQUEST for another server")
		case asked == nil && (req.ClientIPAddr == nil || req.ClientIPAddr.IsUnspecified()):
			return silent("REQUEST without server identifier or ciaddr")
		}
	}
	p.strip(req, resp, reply)
	p.seen(req, r, resp)
	return resp, true
}

// netboot reports whether the request gets a proxy answer, by the
// request's classification and answer=.
func (p *proxy) netboot(r classify.Facts) bool {
	switch p.answer {
	case answerNetboot:
		return r.Netboot
	case answerPXE:
		return r.Netboot || r.PXE
	}
	return r.RPiPXE
}

// strip reduces resp to a proxy answer: no address, no lease, only the boot
// options (plus keep=), whatever earlier plugins added.
func (p *proxy) strip(req, resp *dhcpv4.DHCPv4, reply dhcpv4.MessageType) {
	resp.YourIPAddr = net.IPv4zero.To4()
	for code := range resp.Options {
		if !bootOptions[code] && !p.keep[code] {
			delete(resp.Options, code)
		}
	}
	resp.UpdateOption(dhcpv4.OptMessageType(reply))
	resp.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	if !resp.Options.Has(dhcpv4.OptionVendorSpecificInformation) {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeSkipDiscovery))
	}
	if g := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(g) == 17 && g[0] == 0 {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, g))
	} else {
		delete(resp.Options, uint8(dhcpv4.OptionClientMachineIdentifier))
	}
}

// seen logs the first proxy answer to a board at info (later ones at debug)
// and fires the new-node event, which the notifier runs in the background.
func (p *proxy) seen(req *dhcpv4.DHCPv4, r classify.Facts, resp *dhcpv4.DHCPv4) {
	mac := req.ClientHWAddr.String()
	ip := ""
	if c := req.ClientIPAddr.To4(); c != nil && !c.IsUnspecified() {
		ip = c.String()
	}
	model := r.KnownModel()
	p.mu.Lock()
	_, old := p.logged[mac]
	if !old && len(p.logged) < maxLogged {
		p.logged[mac] = struct{}{}
	}
	p.mu.Unlock()
	f := logrus.Fields{"mac": mac, "type": resp.MessageType().String(), "model": model, "serial": r.Serial,
		"next_server": resp.ServerIPAddr.String(), "file": resp.BootFileName}
	if old {
		log.WithFields(f).Debug("proxy boot answer sent")
	} else {
		log.WithFields(f).Info("proxy boot answer sent")
	}
	p.notify.Fire(events.Event{Source: "proxydhcp", MAC: mac, IP: ip, Model: model, Serial: r.Serial, Hostname: r.Hostname})
}

// warnNoServerID explains the misconfiguration at most once a minute.
func (p *proxy) warnNoServerID() {
	if ok, _ := p.warn.Allow("", "no server identifier"); ok {
		log.Error("no server identifier in the reply: put `server_id: <this server's address>` before proxydhcp; netboot clients get no answer")
	}
}
