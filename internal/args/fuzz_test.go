package args

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary argument lists through a Spec using every value
// parser: nothing may panic, and an accepted value must round-trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/db 10.0.0.1 range=10.0.0.1-10.0.0.9", "x mac=dc:a6:32:1:2:3 oui=B8-27-EB", "x d=30s n=7 b=yes", "x loud", "x net=10.0.0.0/8 ips=1.2.3.4,5.6.7.8", "x ==", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s := &Spec{
			Plugin:     "fuzz",
			Positional: []Positional{{Name: "first", Set: func(string) error { return nil }}},
			Options: []Option{
				{Key: "range", Set: func(v string) error {
					r, err := ParseRange(v)
					if err == nil && (r.Size() < 1 || !r.Contains(r.First) || !r.Contains(r.Last)) {
						t.Fatalf("range %q accepted as %v", v, r)
					}
					return err
				}},
				{Key: "mac", Set: func(v string) error {
					m, err := MAC(v)
					if err == nil && len(m) != 6 {
						t.Fatalf("MAC %q accepted with %d bytes", v, len(m))
					}
					return err
				}},
				{Key: "oui", Set: func(v string) error { _, err := OUI(v); return err }},
				{Key: "d", Set: func(v string) error { _, err := Duration(v, 0, time.Hour); return err }},
				{Key: "n", Set: func(v string) error { _, err := Int(v, -5, 5); return err }},
				{Key: "b", Set: func(v string) error { _, err := Bool(v); return err }},
				{Key: "net", Set: func(v string) error { _, err := Prefix(v); return err }},
				{Key: "ips", Set: func(v string) error { _, err := IPv4List(v); return err }},
				{Key: "host", Set: func(v string) error {
					if ValidHostname(v) && strings.ContainsAny(v, "\n\r\x00\x1b;$`'\" ") {
						t.Fatalf("host name %q with a metacharacter accepted", v)
					}
					return nil
				}},
			},
			Flags: map[string]func() error{"loud": func() error { return nil }},
		}
		err := s.Parse(strings.Fields(line))
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz: ") {
			t.Fatalf("error %q does not name the plugin", err)
		}
	})
}
