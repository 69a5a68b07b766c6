package metrics

import (
	"strings"
	"testing"
)

// FuzzParseArgs: any stanza text gives a config or a metrics: error, and
// never a remote listener that was not asked for.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9467", "0.0.0.0:9467 allow-remote", "[::1]:1", ":9467", "localhost:http", "a b c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Fields(s)
		c, err := ParseArgs(args...)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "metrics: ") {
				t.Fatalf("error %q does not name the plugin", err)
			}
			return
		}
		if c.AllowRemote != (len(args) == 2) {
			t.Fatalf("%q: allow-remote %v without asking", s, c.AllowRemote)
		}
	})
}
