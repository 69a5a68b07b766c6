package classify

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/args"
)

// Config holds the knobs of classification: which MACs are Raspberry Pis,
// which option 60 strings are U-Boot, which PXE architectures this server
// boots. One Config serves the whole process (the `classify` stanza), so
// every plugin agrees on what a board is. The zero value is not useful; use
// Default or ParseArgs.
type Config struct {
	OUIs []net.HardwareAddr // 3-byte prefixes
	// UBootVCI are tried in order against option 60; a match means U-Boot,
	// and a named group "model" (if present and non-empty) names the model.
	UBootVCI []*regexp.Regexp
	// PXEArches are the option 93 architectures whose generic PXE or HTTP
	// boot clients (PXEClient/HTTPClient vendor class, not a Raspberry Pi
	// ROM) count as netboot clients. Empty: none does, so a bare
	// "PXEClient" string from a laptop is never taken for a board.
	PXEArches []int
	// Remember is how long a Raspberry Pi netboot DISCOVER marks its MAC,
	// so the board's REQUEST (the Pi 4 EEPROM drops option 60 there) is
	// still recognised; 0 turns the memory off.
	Remember time.Duration
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

// DefaultRemember covers a board's DISCOVER→REQUEST gap with a wide margin
// while staying shorter than a Linux boot, whose own DHCP client must not
// get the netboot answer.
const DefaultRemember = 30 * time.Second

// Default returns the built-in configuration (the seven known Pi OUIs, the
// walt.node.<model>, rpi-<model> and U-Boot.<arch> bootp_vci styles, no
// generic PXE architecture, a 30 s memory).
func Default() *Config {
	c := &Config{Remember: DefaultRemember}
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

// ParseOUI reads one `aa:bb:cc` OUI token (also `aa-bb-cc`, any case).
func ParseOUI(s string) (net.HardwareAddr, error) { return args.OUI(s) }

// ParseVCIPattern compiles a bootp_vci regexp; a group named "model", if
// any, names the board model. The pattern is anchored as written: add ^ and
// $ yourself to match the whole option 60.
func ParseVCIPattern(s string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("bootp_vci pattern %q: %w", s, err)
	}
	return re, nil
}

// maxPXEArch is the largest option 93 code (a 16-bit number).
const maxPXEArch = 0xffff

// ParseArgs reads the `classify` stanza:
//
//	classify: [oui=aa:bb:cc ...] [vci=REGEXP ...] [pxe-arch=N[,N...]] [remember=30s]
//
// oui= and vci= replace the built-in lists when given (repeat them for
// several); pxe-arch= adds architectures.
func ParseArgs(a ...string) (*Config, error) {
	c := Default()
	var ouis []net.HardwareAddr
	var vcis []*regexp.Regexp
	spec := args.Spec{
		Plugin: "classify",
		Options: []args.Option{
			{Key: "oui", Value: "aa:bb:cc", Set: func(v string) error {
				o, err := ParseOUI(v)
				ouis = append(ouis, o)
				return err
			}},
			{Key: "vci", Value: "REGEXP", Set: func(v string) error {
				re, err := ParseVCIPattern(v)
				vcis = append(vcis, re)
				return err
			}},
			{Key: "pxe-arch", Value: "N[,N...]", Set: func(v string) error {
				for _, f := range strings.Split(v, ",") {
					n, err := strconv.ParseUint(f, 0, 16)
					if err != nil || n > maxPXEArch {
						return fmt.Errorf("%q is not an option 93 architecture (0..65535, e.g. 11 for ARM64 UEFI)", f)
					}
					c.PXEArches = append(c.PXEArches, int(n))
				}
				return nil
			}},
			{Key: "remember", Value: "30s", Once: true, Set: func(v string) (err error) {
				c.Remember, err = args.Duration(v, 0, 24*time.Hour)
				return err
			}},
		},
	}
	if err := spec.Parse(a); err != nil {
		return nil, err
	}
	if ouis != nil {
		c.OUIs = ouis
	}
	if vcis != nil {
		c.UBootVCI = vcis
	}
	return c, nil
}

// pxeArch reports whether arch is one of the configured PXE architectures.
func (c *Config) pxeArch(arch int) bool {
	for _, a := range c.PXEArches {
		if a == arch {
			return true
		}
	}
	return false
}
