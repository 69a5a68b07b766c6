package rpipxe

import "fmt"

// bootText is what the Pi firmware compares the menu text against.
const bootText = "Raspberry Pi Boot"

// forms builds option 43 for each form= choice from the menu text.
var forms = map[string]func(string) ([]byte, error){
	"menu":    menuForm,
	"string":  func(s string) ([]byte, error) { return stringForm(s) },
	"string3": func(s string) ([]byte, error) { return stringForm(s + "   ") },
}

// menuForm encodes the PXE sub-options dnsmasq sends for
// pxe-service=0,"TEXT": discovery control 3 (no broadcast/multicast boot
// server discovery), a menu prompt with timeout 0 and text "PXE", one boot
// menu item of type 0 with TEXT, end.
func menuForm(text string) ([]byte, error) {
	if err := checkText(text, 255-15); err != nil {
		return nil, err
	}
	b := []byte{6, 1, 3, 10, 4, 0, 'P', 'X', 'E', 9, byte(3 + len(text)), 0, 0, byte(len(text))}
	b = append(b, text...)
	return append(b, 255), nil
}

// stringForm is ISC's `option vendor-encapsulated-options "TEXT";`.
func stringForm(text string) ([]byte, error) {
	if err := checkText(text, 255); err != nil {
		return nil, err
	}
	return []byte(text), nil
}

// checkText keeps the menu text printable and within one option.
func checkText(s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("menu text is %d bytes, want 1 to %d", len(s), max)
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("menu text %q: want printable ASCII on one line", s)
		}
	}
	return nil
}
