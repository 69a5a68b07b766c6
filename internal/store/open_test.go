package store

import (
	"strings"
	"testing"
)

func FuzzSQLitePath(f *testing.F) {
	for _, s := range []string{"/var/lib/rpinetboot/nodes.db", "sqlite:/x.db", "sqlite:///x.db", "postgres://u@h/db", "", "sqlite:", "rel/a.db", "a://b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		path, err := sqlitePath(dsn)
		if err == nil && path == "" {
			t.Fatalf("sqlitePath(%q) = empty path, no error", dsn)
		}
		if err == nil && strings.HasPrefix(dsn, "postgres://") {
			t.Fatalf("sqlitePath(%q) accepted a postgres DSN", dsn)
		}
	})
}
