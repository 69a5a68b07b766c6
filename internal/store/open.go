package store

import (
	"fmt"
	"strings"
)

// Open opens the store named by dsn: a file path or "sqlite:PATH" (also
// "sqlite://PATH") selects the embedded SQLite backend, "postgres://…" (or
// "postgresql://…") the shared PostgreSQL backend. Other schemes are refused
// with an error naming the scheme.
func Open(dsn string, opts Options) (Store, error) {
	if IsPostgresDSN(dsn) {
		s, err := OpenPostgres(dsn, opts)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	path, err := sqlitePath(dsn)
	if err != nil {
		return nil, err
	}
	s, err := OpenSQLite(path, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// sqlitePath extracts the SQLite file path from dsn, or explains why dsn does
// not name one.
func sqlitePath(dsn string) (string, error) {
	if strings.TrimSpace(dsn) == "" {
		return "", fmt.Errorf("store DSN is empty: want a file path or sqlite:PATH")
	}
	if rest, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		rest = strings.TrimPrefix(rest, "//")
		if rest == "" {
			return "", fmt.Errorf("store DSN %q has no path: want sqlite:PATH", dsn)
		}
		return rest, nil
	}
	if i := strings.Index(dsn, "://"); i > 0 && !strings.ContainsAny(dsn[:i], "/.") {
		return "", fmt.Errorf("store DSN %q: unsupported scheme %q (supported: a file path, sqlite:PATH or postgres://user@host/db)", dsn, dsn[:i])
	}
	return dsn, nil
}
