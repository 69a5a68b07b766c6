// Package classify decides, from one DHCPv4 request, whether the client is a
// Raspberry Pi netbooting and which model it is. Pure functions: the DHCP
// plugins, rpi-tftpd and rpinetctl all call it.
package classify

import (
	"bytes"
	"encoding/binary"
	"net"
	"regexp"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Model names produced by classification (models.yml keys use the same names).
const (
	Unknown = "unknown"
)

// pi3ROMVendorClass is the option 60 the Pi 3B+ ROM (and a 3B with the OTP
// boot bit) sends; nothing else on the wire tells the two apart.
const pi3ROMVendorClass = "PXEClient:Arch:00000:UNDI:002001"

// Result is what classification learnt about one request.
type Result struct {
	PiOUI        bool   // the MAC is in the configured Raspberry Pi OUI list
	PXE          bool   // option 60 starts with "PXEClient"
	UBoot        bool   // option 60 matched a U-Boot bootp_vci pattern
	RPiPXE       bool   // the "rpi-pxe" class: the request wants the Raspberry Pi boot answer
	VendorClass  string // option 60 as sent, trailing NULs dropped ("" if absent)
	Arch         int    // option 93 first arch, -1 if absent or malformed
	Family       string // option 97 magic, e.g. "RPi4", "RPi5", or ""
	Revision     uint32 // option 97 board revision (0 if absent)
	Serial       string // 8 lower-case hex digits, or ""
	Model        string // e.g. "rpi-3-b-plus", "rpi-4-b", "rpi-5-b", or Unknown
	Opt97Ignored string // why option 97 gave no facts ("" if it did or was absent); for debug logs
	ArchIgnored  string // why option 93 was unusable ("" if fine or absent); for debug logs
}

// Config holds the knobs of classification. The zero value is not useful; use Default.
type Config struct {
	OUIs []net.HardwareAddr // 3-byte prefixes
	// UBootVCI are tried in order against option 60; a match means U-Boot,
	// and a named group "model" (if present and non-empty) names the model.
	UBootVCI []*regexp.Regexp
}

// DefaultOUIs are the Raspberry Pi MAC prefixes seen in the field.
var DefaultOUIs = []string{"b8:27:eb", "dc:a6:32", "e4:5f:01", "28:cd:c1", "d8:3a:dd", "2c:cf:67", "88:a2:9e"}

// DefaultUBootVCI are the bootp_vci styles understood out of the box:
// WalT's walt.node.<model>, a bare rpi-<model>, and U-Boot's own default
// U-Boot.armv7 / U-Boot.armv8 (U-Boot, model unknown).
var DefaultUBootVCI = []string{
	`^walt\.node\.(?P<model>.+)$`,
	`^(?P<model>rpi-.+)$`,
	`^U-Boot(\..*)?$`,
}

// Default returns the built-in configuration (the seven known Pi OUIs, the
// walt.node.<model>, rpi-<model> and U-Boot.<arch> bootp_vci styles).
func Default() *Config {
	c := &Config{}
	for _, s := range DefaultOUIs {
		if o, err := ParseOUI(s); err == nil {
			c.OUIs = append(c.OUIs, o)
		}
	}
	for _, s := range DefaultUBootVCI {
		c.UBootVCI = append(c.UBootVCI, regexp.MustCompile(s))
	}
	return c
}

// defaultConfig serves a nil *Config so a forgotten setup cannot panic.
var defaultConfig = Default()

// Classify inspects req; it never panics, whatever the options hold.
func (c *Config) Classify(req *dhcpv4.DHCPv4) Result {
	r := Result{Arch: -1, Model: Unknown}
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
	if has60 && !r.PXE {
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
	return r
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
