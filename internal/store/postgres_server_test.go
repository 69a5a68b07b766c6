//go:build integration

package store

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rpinetboot/rpinetboot/internal/pgserver"
)

// TestPostgresServer covers what only a real server shows: authentication
// failures without the password in the message, versioned migrations,
// concurrent first starts, and refusals of foreign or newer schemas.
func TestPostgresServer(t *testing.T) {
	srv := pgserver.Start(t)
	ctx := context.Background()

	t.Run("wrong password", func(t *testing.T) {
		dsn := strings.Replace(srv.DSN("postgres"), "rpinetboot@", "rpinetboot:wrongpass@", 1)
		dsn = strings.Replace(dsn, "password_file="+strings.ReplaceAll(srv.PasswordFile, "/", "%2F"), "x=1", 1)
		_, err := Open(dsn, Options{})
		if err == nil || strings.Contains(err.Error(), "wrongpass") || !strings.Contains(err.Error(), "xxxxx") {
			t.Fatalf("open with a wrong password: %v; want a failure that names the DSN redacted", err)
		}
		t.Logf("%v", err)
	})

	t.Run("password from PGPASSWORD", func(t *testing.T) {
		pw, _ := os.ReadFile(srv.PasswordFile)
		t.Setenv("PGPASSWORD", strings.TrimSpace(string(pw)))
		dsn := strings.Replace(srv.NewDatabase(t), "password_file="+strings.ReplaceAll(srv.PasswordFile, "/", "%2F"), "x=1", 1)
		dsn = strings.Replace(dsn, "&x=1", "", 1)
		s, err := Open(dsn, Options{})
		if err != nil {
			t.Fatalf("open %s with PGPASSWORD: %v", dsn, err)
		}
		s.Close()
	})

	t.Run("migrations are versioned and run once", func(t *testing.T) {
		dsn := srv.NewDatabase(t)
		name := dbName(dsn)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs { // four servers starting at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(dsn, Options{})
				if err == nil {
					err = s.Pin(ctx, node(i, i))
					s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent first open: %v", err)
			}
		}
		c, err := srv.Connect(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var rows, maxV int
		if err := c.QueryRow(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &maxV); err != nil {
			t.Fatal(err)
		}
		if rows != pgSchemaVersion || maxV != pgSchemaVersion {
			t.Errorf("schema_migrations has %d rows up to %d, want %d", rows, maxV, pgSchemaVersion)
		}
		if _, err := c.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES (99)"); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{false, true} {
			if _, err := Open(dsn, Options{ReadOnly: ro}); err == nil || !strings.Contains(err.Error(), "newer") {
				t.Errorf("open (read-only %v) of a newer schema: %v", ro, err)
			}
		}
	})

	t.Run("read-only open of an empty database", func(t *testing.T) {
		dsn := srv.NewDatabase(t)
		if _, err := Open(dsn, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not an rpinetboot store") {
			t.Errorf("read-only open of an empty database: %v", err)
		}
		c, err := srv.Connect(ctx, dbName(dsn))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var tables int
		c.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables)
		if tables != 0 {
			t.Errorf("read-only open created %d tables", tables)
		}
	})

	t.Run("commits must be durable", func(t *testing.T) {
		dsn := srv.NewDatabase(t)
		if err := srv.Exec(ctx, "postgres", "ALTER DATABASE "+dbName(dsn)+" SET synchronous_commit = off"); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dsn, Options{}); err == nil || !strings.Contains(err.Error(), "synchronous_commit is off") {
			t.Fatalf("open with synchronous_commit=off: %v, want a refusal", err)
		}
		s, err := Open(dsn+"&synchronous_commit=on", Options{})
		if err != nil {
			t.Fatalf("open with synchronous_commit=on in the DSN: %v", err)
		}
		s.Close()
	})

	t.Run("database down", func(t *testing.T) {
		dsn := strings.Replace(srv.DSN("postgres"), "%2Fsock", "%2Fnowhere", 1)
		_, err := Open(dsn, Options{})
		if err == nil || !strings.Contains(err.Error(), "connect") {
			t.Errorf("open of an unreachable server: %v", err)
		}
	})
}

func dbName(dsn string) string {
	_, rest, _ := strings.Cut(dsn, "@/")
	name, _, _ := strings.Cut(rest, "?")
	return name
}
