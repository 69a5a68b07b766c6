package macpin

import (
	"strings"
	"testing"
)

// FuzzParseArgs feeds stanza text (split on white space as coredhcp does) to
// the parser: it must never panic, and what it accepts must be usable.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"/var/lib/rpinetboot/nodes.db 192.168.50.100 192.168.50.250 1h",
		"nodes.db 10.0.0.1 10.0.0.9 30m range=10.0.1.1-10.0.1.9 reserve=dc:a6:32:01:02:03=10.0.0.5=pi5 maxpending=10",
		"nodes.db 10.0.0.9 10.0.0.1 1h",
		"nodes.db 10.0.0.1 10.0.0.9 1h reserve=a=b=c=d range=-",
		"x 0.0.0.0 255.255.255.255 1ns",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stanza string) {
		if strings.Contains(stanza, "reservations=") {
			return // no file system access from fuzzing
		}
		cfg, err := ParseArgs(strings.Fields(stanza)...)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "macpin: ") {
				t.Fatalf("error without the plugin name: %v", err)
			}
			return
		}
		total := 0
		for _, r := range cfg.Ranges {
			if r.Last.Less(r.First) {
				t.Fatalf("accepted inverted range %s", r)
			}
			total += r.Size()
		}
		if total > maxPoolSize || cfg.LeaseTime < 1e9 || cfg.MaxPending < 1 {
			t.Fatalf("accepted %+v", cfg)
		}
		newPool(cfg.Ranges) // must not blow up
	})
}

// FuzzParseReservations checks the reservations file parser never panics and
// returns only Ethernet MACs with IPv4 addresses.
func FuzzParseReservations(f *testing.F) {
	for _, s := range []string{
		"dc:a6:32:01:02:03 192.168.50.10 pi-1\n# comment\n\n",
		"DC-A6-32-01-02-03\t10.0.0.1\n",
		"dc:a6:32:01:02:03 10.0.0.1 a b\n",
		"00:00:00:00:00:00:00:00 10.0.0.1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseReservations(data)
		if err != nil {
			return
		}
		for _, r := range rs {
			if len(r.MAC) != 6 || !r.IP.Is4() {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}
