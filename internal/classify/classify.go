// Package classify computes, once per DHCPv4 request, the facts every
// rpinetboot plugin acts on: is the client a Raspberry Pi netbooting, a
// U-Boot, a PXE or HTTP boot client of an architecture this server boots;
// which model and serial; its host name if it is a valid one; whether the
// request came through a relay and which link it selects. The packet loop
// computes them before the plugin chain (Begin/Of/End), so the rpipxe,
// modelboot, macpin, proxydhcp and metrics plugins all read the same
// answer from one configuration (the `classify` stanza) and never infer it
// from what an earlier plugin wrote into the reply. rpi-tftpd and rpinetctl
// use the pure parts (Config.Classify, DecodeOpt97, SanitizeModel).
package classify

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"regexp"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/rpinetboot/rpinetboot/internal/args"
)

// Unknown is the model of a client classification could not name
// (models.yml keys use the same names as the known ones).
const Unknown = "unknown"

// pi3ROMVendorClass is the option 60 the Pi 3B+ ROM (and a 3B with the OTP
// boot bit) sends; nothing else on the wire tells the two apart.
const pi3ROMVendorClass = "PXEClient:Arch:00000:UNDI:002001"

// Facts is what classification learnt about one request.
type Facts struct {
	PiOUI bool // the MAC is in the configured Raspberry Pi OUI list
	PXE   bool // option 60 starts with "PXEClient"
	// HTTPClient: option 60 starts with "HTTPClient" (UEFI HTTP boot).
	HTTPClient bool
	IPXE       bool // option 77 (user class) says "iPXE"
	UBoot      bool // option 60 matched a U-Boot bootp_vci pattern
	// RPiPXE is the "rpi-pxe" class: a Raspberry Pi ROM/EEPROM that wants
	// the Raspberry Pi boot answer (option 60 PXEClient + option 43).
	RPiPXE bool
	// Remembered: RPiPXE because this MAC's DISCOVER was, moments ago (the
	// Pi 4 EEPROM's REQUEST carries no option 60).
	Remembered bool
	// Netboot: a client this server boots: RPiPXE, UBoot, or a PXE/HTTP
	// boot client of a configured architecture (Config.PXEArches). A bare
	// "PXEClient" string alone is not enough.
	Netboot     bool
	VendorClass string // option 60 as sent, trailing NULs dropped ("" if absent)
	Arch        int    // option 93 first arch, -1 if absent or malformed
	Family      string // option 97 magic, e.g. "RPi4", "RPi5", or ""
	Revision    uint32 // option 97 board revision (0 if absent)
	Serial      string // 8 lower-case hex digits, or ""
	Model       string // e.g. "rpi-3-b-plus", "rpi-4-b", "rpi-5-b", or Unknown
	// Hostname is option 12 when it is a valid RFC 1123 host name, else "".
	Hostname string
	// HostnameRefused: option 12 was sent but is not a valid host name; it
	// is never stored, templated or shown.
	HostnameRefused bool
	Relayed         bool // giaddr is set: the request came through a relay agent
	// LinkAddr selects the client's subnet, as ISC dhcpd and Kea do: option
	// 82 sub-option 5 (link selection), else option 118 (subnet
	// selection), else giaddr. Invalid for a request received directly.
	LinkAddr     netip.Addr
	Opt97Ignored string // why option 97 gave no facts ("" if it did or was absent); for debug logs
	ArchIgnored  string // why option 93 was unusable ("" if fine or absent); for debug logs
}

// Class names the kind of client in one word, for logs and metric labels:
// rpi-pxe, uboot, pxe (a configured PXE/HTTP architecture), pi (a Pi MAC
// not netbooting) or other.
func (f Facts) Class() string {
	switch {
	case f.RPiPXE:
		return "rpi-pxe"
	case f.UBoot:
		return "uboot"
	case f.Netboot:
		return "pxe"
	case f.PiOUI:
		return "pi"
	}
	return "other"
}

// KnownModel is Model, or "" when it is Unknown (the form the store keeps).
func (f Facts) KnownModel() string {
	if f.Model == Unknown {
		return ""
	}
	return f.Model
}

// defaultConfig serves a nil *Config so a forgotten setup cannot panic.
var defaultConfig = Default()

// Classify inspects req alone (no memory of earlier requests); it never
// panics, whatever the options hold.
func (c *Config) Classify(req *dhcpv4.DHCPv4) Facts {
	r := Facts{Arch: -1, Model: Unknown}
	if req == nil {
		return r
	}
	if c == nil {
		c = defaultConfig
	}
	mac := req.ClientHWAddr
	r.PiOUI = c.IsPiMAC(mac)

	opt60, has60 := req.Options[dhcpv4.OptionClassIdentifier.Code()]
	r.VendorClass = string(bytes.TrimRight(opt60, "\x00"))
	r.PXE = strings.HasPrefix(r.VendorClass, "PXEClient")
	r.HTTPClient = strings.HasPrefix(r.VendorClass, "HTTPClient")
	r.IPXE = userClassIPXE(req.Options[dhcpv4.OptionUserClassInformation.Code()])

	if b, ok := req.Options[dhcpv4.OptionClientSystemArchitectureType.Code()]; ok {
		if len(b) < 2 || len(b)%2 != 0 {
			r.ArchIgnored = "option 93 length is not a positive multiple of 2"
		} else {
			r.Arch = int(binary.BigEndian.Uint16(b))
		}
	}

	var g GUID
	if b, ok := req.Options[dhcpv4.OptionClientMachineIdentifier.Code()]; ok {
		g = DecodeOpt97(b, mac)
		r.Opt97Ignored = g.Ignored
		r.Family, r.Revision, r.Serial = g.Family, g.Revision, g.Serial
	}

	var vciModel string
	if has60 && !r.PXE && !r.HTTPClient {
		r.UBoot, vciModel = c.matchUBoot(r.VendorClass)
	}

	// The arch test keeps UEFI PXE clients (U-Boot's EFI fallback sends
	// PXEClient:Arch:00011 from a Pi MAC) out of the Pi ROM answer; the ROM
	// and EEPROM always send arch 0.
	archOK := r.Arch <= 0
	switch {
	case r.PiOUI && r.PXE && archOK:
		r.RPiPXE = true
	case r.PiOUI && !has60 && archOK && (g.Family == "RPi4" || g.Family == "RPi5"):
		r.RPiPXE = true
	}
	r.Netboot = r.RPiPXE || r.UBoot || ((r.PXE || r.HTTPClient) && r.Arch >= 0 && c.pxeArch(r.Arch))

	switch {
	case r.UBoot:
		if vciModel != "" {
			r.Model = vciModel
		}
	case r.Revision != 0 && ModelFromRevision(r.Revision) != "":
		r.Model = ModelFromRevision(r.Revision)
	case g.Family == "RPi5":
		r.Model = "rpi-5-b"
	case g.Family == "RPi4":
		r.Model = "rpi-4-b"
	case r.VendorClass == pi3ROMVendorClass && hasPrefix(mac, "\xb8\x27\xeb"):
		r.Model = "rpi-3-b-plus"
	}

	if h, ok := req.Options[dhcpv4.OptionHostName.Code()]; ok {
		name := string(bytes.TrimRight(h, "\x00"))
		if args.ValidHostname(name) {
			r.Hostname = name
		} else {
			r.HostnameRefused = true
		}
	}
	r.Relayed, r.LinkAddr = linkSelection(req)
	return r
}

// userClassIPXE reports whether option 77 names iPXE, in either the RFC 3004
// form (length-prefixed strings) or the plain string iPXE sends.
func userClassIPXE(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if string(bytes.TrimRight(b, "\x00")) == "iPXE" {
		return true
	}
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || 1+n > len(b) {
			return false
		}
		if string(b[1:1+n]) == "iPXE" {
			return true
		}
		b = b[1+n:]
	}
	return false
}

// IsPiMAC reports whether mac starts with one of the configured OUIs.
func (c *Config) IsPiMAC(mac net.HardwareAddr) bool {
	if c == nil {
		c = defaultConfig
	}
	if len(mac) != 6 {
		return false
	}
	for _, o := range c.OUIs {
		if len(o) == 3 && bytes.Equal(mac[:3], o) {
			return true
		}
	}
	return false
}

func hasPrefix(mac net.HardwareAddr, p string) bool {
	return len(mac) == 6 && string(mac[:3]) == p
}

// matchUBoot returns whether vci is a U-Boot bootp_vci and the sanitised
// model it names ("" when it names none or an unusable one).
func (c *Config) matchUBoot(vci string) (bool, string) {
	for _, re := range c.UBootVCI {
		if re == nil {
			continue
		}
		m := re.FindStringSubmatch(vci)
		if m == nil {
			continue
		}
		if i := re.SubexpIndex("model"); i >= 0 && i < len(m) {
			return true, SanitizeModel(m[i])
		}
		return true, ""
	}
	return false, ""
}

// validModel is the shape models.yml accepts, so a model name is safe as a
// path component and a template value.
var validModel = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// SanitizeModel lower-cases s and returns it if it is a usable model name
// ([a-z0-9._-], at most 64, starting with a letter or digit), else "".
// Names are dropped rather than repaired: a repaired name could collide
// with a real model.
func SanitizeModel(s string) string {
	s = strings.ToLower(s)
	if !validModel.MatchString(s) {
		return ""
	}
	return s
}
