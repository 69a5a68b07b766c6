package store

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// passwordFileParam names the DSN query parameter that points at a file
// holding the password, so the password itself never appears in config.yml,
// in `ps` output or in logs. It is ours, not libpq's: it is removed before
// the DSN reaches the driver.
const passwordFileParam = "password_file"

// IsPostgresDSN says whether dsn names the PostgreSQL backend
// (postgres://… or postgresql://…).
func IsPostgresDSN(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	return scheme == "postgres" || scheme == "postgresql"
}

// Redact returns dsn fit for logs and error messages: a password in a URL's
// userinfo, and the value of any password-like keyword (password=,
// sslpassword=, in a URL's query in any case, or in a libpq keyword=value
// string, quoted or not), become "xxxxx". password_file names only a path
// and is kept. Anything else is returned unchanged.
func Redact(dsn string) string {
	if !IsPostgresDSN(dsn) {
		return redactKeywords(dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Opaque != "" {
		// Unparsable, or "postgres:user:pw@host" without the slashes: do not
		// risk echoing a password that may be inside.
		scheme, _, _ := strings.Cut(dsn, ":")
		return scheme + "://(unparsable DSN)"
	}
	q := u.Query()
	redacted := false
	for k := range q {
		if secretKey(k) {
			q.Set(k, "xxxxx")
			redacted = true
		}
	}
	if redacted {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// secretKey reports whether a DSN keyword carries a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	return k != passwordFileParam && (k == "password" || k == "sslpassword" || strings.HasSuffix(k, "password"))
}

// keywordValue matches one libpq keyword=value pair whose keyword names a
// secret: the value is a quoted string (with \' escapes) or runs to the
// next space.
var keywordValue = regexp.MustCompile(`(?i)\b([a-z_]*password)\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s]*)`)

// redactKeywords hides the secrets of a libpq keyword=value string.
func redactKeywords(s string) string {
	return keywordValue.ReplaceAllStringFunc(s, func(m string) string {
		k, _, _ := strings.Cut(m, "=")
		if !secretKey(strings.TrimSpace(k)) {
			return m
		}
		return strings.TrimSpace(k) + "=xxxxx"
	})
}

// pgDSN is a PostgreSQL DSN split into what the driver gets and what we log.
type pgDSN struct {
	conn     string // for pgx: password_file resolved into the userinfo
	redacted string // for logs
}

// parsePostgresDSN checks a postgres:// DSN and resolves password_file. A
// password may also come from the standard PGPASSWORD or PGPASSFILE
// environment variables, which pgx reads itself.
func parsePostgresDSN(dsn string) (pgDSN, error) {
	red := Redact(dsn)
	u, err := url.Parse(dsn)
	if err != nil {
		return pgDSN{}, fmt.Errorf("store DSN %s: not a URL like postgres://user@host/db", red)
	}
	if u.Opaque != "" {
		return pgDSN{}, fmt.Errorf("store DSN %s: want postgres://user@host/db (with //)", red)
	}
	if strings.Trim(u.Path, "/") == "" {
		return pgDSN{}, fmt.Errorf("store DSN %s: names no database: want postgres://user@host/DATABASE", red)
	}
	q := u.Query()
	if q.Has(passwordFileParam) {
		path := q.Get(passwordFileParam)
		if path == "" {
			return pgDSN{}, fmt.Errorf("store DSN %s: %s is empty, want a file path", red, passwordFileParam)
		}
		if _, has := u.User.Password(); has || q.Has("password") {
			return pgDSN{}, fmt.Errorf("store DSN %s: both a password and %s given; keep only %s", red, passwordFileParam, passwordFileParam)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return pgDSN{}, fmt.Errorf("store DSN %s: read %s: %w", red, passwordFileParam, err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return pgDSN{}, fmt.Errorf("store DSN %s: password file %s is empty", red, path)
		}
		user := ""
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, pw)
		q.Del(passwordFileParam)
		u.RawQuery = q.Encode()
	}
	return pgDSN{conn: u.String(), redacted: red}, nil
}
