package events

import "testing"

// FuzzParseArg: any stanza argument yields a config or an error, never a panic.
func FuzzParseArg(f *testing.F) {
	for _, s := range []string{"on-new=/bin/true", "on-new-url=http://127.0.0.1:1/x", "on-new-timeout=1s",
		"on-new-retries=3", "on-new-backoff=2s", "on-new-url=http://[::1", "on-new-retries=99999999999999999999", "x=y", "on-new"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		var c Config
		ok, err := ParseArg(&c, arg)
		if !ok && err != nil {
			t.Fatalf("%q: error %v for an argument reported as not ours", arg, err)
		}
		if err == nil && c.Attempts < 0 {
			t.Fatalf("%q: negative attempts", arg)
		}
	})
}
