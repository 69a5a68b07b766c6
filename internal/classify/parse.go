package classify

import (
	"fmt"
	"net"
	"regexp"
)

// ParseOUI reads one `aa:bb:cc` OUI token (also `aa-bb-cc`, any case).
func ParseOUI(s string) (net.HardwareAddr, error) {
	if len(s) != 8 || (s[2] != ':' && s[2] != '-') || s[5] != s[2] {
		return nil, fmt.Errorf("OUI %q: want three hex bytes like b8:27:eb", s)
	}
	o := make(net.HardwareAddr, 3)
	for i := range o {
		var v byte
		for _, ch := range []byte(s[3*i : 3*i+2]) {
			var d byte
			switch {
			case ch >= '0' && ch <= '9':
				d = ch - '0'
			case ch >= 'a' && ch <= 'f':
				d = ch - 'a' + 10
			case ch >= 'A' && ch <= 'F':
				d = ch - 'A' + 10
			default:
				return nil, fmt.Errorf("OUI %q: want three hex bytes like b8:27:eb", s)
			}
			v = v<<4 | d
		}
		o[i] = v
	}
	return o, nil
}

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
