package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://dhcp:s3cret@db.lab/rpinetboot", "postgres://dhcp:xxxxx@db.lab/rpinetboot"},
		{"postgresql://dhcp@db.lab/rpinetboot?password_file=/etc/rpinetboot/pgpass", "postgresql://dhcp@db.lab/rpinetboot?password_file=/etc/rpinetboot/pgpass"},
		{"postgres://db.lab/rpinetboot?password=s3cret&sslmode=require", "postgres://db.lab/rpinetboot?password=xxxxx&sslmode=require"},
		{"/var/lib/rpinetboot/nodes.db", "/var/lib/rpinetboot/nodes.db"},
		{"postgres://u:s3cret@[::1/x", "postgres://(unparsable DSN)"},
		{"postgres:u:s3cret@db.lab/x", "postgres://(unparsable DSN)"},
		{"postgres://db.lab/x?PASSWORD=s3cret", "postgres://db.lab/x?PASSWORD=xxxxx"},
		{"postgres://db.lab/x?sslpassword=s3cret&sslmode=verify-full", "postgres://db.lab/x?sslmode=verify-full&sslpassword=xxxxx"},
		{"host=db.lab user=dhcp password=s3cret dbname=x", "host=db.lab user=dhcp password=xxxxx dbname=x"},
		{"host=db.lab password = 's3 cr\\'et' dbname=x", "host=db.lab password=xxxxx dbname=x"},
		{"host=db.lab Password=s3cret", "host=db.lab Password=xxxxx"},
		{"password_file=/etc/pw host=x", "password_file=/etc/pw host=x"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzRedact: a password written into a DSN, in the userinfo or as
// password=, never reaches Redact's output or a DSN error message: both are
// the same whatever the password is.
func FuzzRedact(f *testing.F) {
	f.Add("dhcp", "s3cret", "db.lab:5432", "rpinetboot")
	f.Add("", "hunter22", "", "x")
	f.Add("u", "pass", "h:notaport", "")
	f.Fuzz(func(t *testing.T, user, pw, host, db string) {
		if pw == "" || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" ||
			strings.ContainsAny(user+host+db, "?#&%") || strings.ContainsAny(user+host, "/@") || strings.Contains(user, ":") {
			return // only plain passwords in well-formed places
		}
		other := "Z" + pw
		for _, form := range []func(string) string{
			func(p string) string { return "postgres://" + user + ":" + p + "@" + host + "/" + db },
			func(p string) string { return "postgresql://" + user + "@" + host + "/" + db + "?password=" + p },
			func(p string) string { return "postgres:" + user + ":" + p + "@" + host + "/" + db },
			func(p string) string { return "host=" + host + " user=" + user + " password=" + p + " dbname=" + db },
			func(p string) string { return "postgresql://" + user + "@" + host + "/" + db + "?Password=" + p },
		} {
			dsn, alt := form(pw), form(other)
			if Redact(dsn) != Redact(alt) {
				t.Fatalf("Redact(%q) = %q depends on the password (with another: %q)", dsn, Redact(dsn), Redact(alt))
			}
			for _, suffix := range []string{"", "&connect_timeout=nope"} {
				_, _, e1 := pgConfig(dsn + suffix)
				_, _, e2 := pgConfig(alt + suffix)
				if fmt.Sprint(e1) != fmt.Sprint(e2) {
					t.Fatalf("pgConfig(%q) error %v depends on the password (with another: %v)", dsn+suffix, e1, e2)
				}
			}
		}
	})
}

func TestPostgresDSN(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)

	d, err := parsePostgresDSN("postgres://dhcp@db.lab:5433/rpinetboot?sslmode=require&password_file=" + pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.conn != "postgres://dhcp:s3cret@db.lab:5433/rpinetboot?sslmode=require" {
		t.Errorf("driver DSN = %q: want the file's password in the userinfo and password_file gone", d.conn)
	}
	if strings.Contains(d.redacted, "s3cret") {
		t.Errorf("redacted DSN %q holds the password", d.redacted)
	}
	for dsn, want := range map[string]string{
		"postgres://db.lab":                       "names no database",
		"postgres:rpinetboot":                     "with //",
		"postgres://dhcp@db.lab/x?password_file=": "is empty",
		"postgres://dhcp@db.lab/x?password_file=" + filepath.Join(dir, "gone"):   "no such file",
		"postgres://dhcp@db.lab/x?password_file=" + empty:                        "is empty",
		"postgres://dhcp:inline@db.lab/x?password_file=" + pwFile:                "both a password and password_file",
		"postgres://dhcp@db.lab/x?password=inline&password_file=" + pwFile:       "both a password and password_file",
		"postgres://dhcp:inline@db.lab:notaport/x":                               "not a URL",
		"postgres://dhcp:inline@db.lab/x?connect_timeout=soon&sslmode=require":   "invalid PostgreSQL DSN",
		"postgresql://dhcp:inline@db.lab/x?sslmode=no-such-mode&password=inline": "invalid PostgreSQL DSN",
	} {
		_, err := OpenPostgres(dsn, Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenPostgres(%q) = %v, want an error saying %q", dsn, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "inline") {
			t.Errorf("error %q shows the password", err)
		}
	}
	for _, dsn := range []string{"postgres://h/db", "postgresql://h/db", "POSTGRES://h/db", "postgres:///db?host=/run/postgresql"} {
		if !IsPostgresDSN(dsn) {
			t.Errorf("IsPostgresDSN(%q) = false", dsn)
		}
	}
	for _, dsn := range []string{"/var/lib/nodes.db", "sqlite:/x.db", "postgres.db", "mysql://h/db"} {
		if IsPostgresDSN(dsn) {
			t.Errorf("IsPostgresDSN(%q) = true", dsn)
		}
	}
}
