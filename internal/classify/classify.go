// Package classify decides, from one DHCPv4 request, whether the client is a
// Raspberry Pi netbooting and which model it is. Pure functions: the DHCP
// plugins, rpi-tftpd and rpinetctl all call it.
package classify

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Model names produced by classification (models.yml keys use the same names).
const (
	Unknown = "unknown"
)

// Result is what classification learnt about one request.
type Result struct {
	PiOUI       bool   // the MAC is in the configured Raspberry Pi OUI list
	PXE         bool   // option 60 starts with "PXEClient"
	UBoot       bool   // option 60 matched a U-Boot bootp_vci pattern
	RPiPXE      bool   // the "rpi-pxe" class: the request wants the Raspberry Pi boot answer
	VendorClass string // option 60 as sent ("" if absent)
	Arch        int    // option 93 first arch, -1 if absent or malformed
	Family      string // option 97 magic, e.g. "RPi4", "RPi5", or ""
	Revision    uint32 // option 97 board revision (0 if absent)
	Serial      string // 8 lower-case hex digits, or ""
	Model       string // e.g. "rpi-3-b-plus", "rpi-4-b", "rpi-5-b", or Unknown
}

// Config holds the knobs of classification. The zero value is not useful; use Default.
type Config struct {
	OUIs []net.HardwareAddr // 3-byte prefixes
}

// Default returns the built-in configuration (the seven known Pi OUIs, the
// walt.node.<model> and rpi-<model> bootp_vci styles).
func Default() *Config { return &Config{} }

// Classify inspects req; it never panics, whatever the options hold.
func (c *Config) Classify(req *dhcpv4.DHCPv4) Result {
	return Result{Arch: -1, Model: Unknown}
}
