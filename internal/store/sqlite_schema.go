package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations turn schema version i into i+1; PRAGMA user_version records how
// many have run. Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: pins and declined addresses. MAC and IP are canonical text (what an
	// admin types into the sqlite3 shell); times are Unix milliseconds.
	`CREATE TABLE pins (
		mac        TEXT    NOT NULL UNIQUE,
		ip         TEXT    NOT NULL UNIQUE,
		first_seen INTEGER NOT NULL,
		last_seen  INTEGER NOT NULL,
		model      TEXT    NOT NULL DEFAULT '',
		serial     TEXT    NOT NULL DEFAULT '',
		hostname   TEXT    NOT NULL DEFAULT '',
		source     TEXT    NOT NULL
	) STRICT;
	CREATE TABLE declined (
		ip  TEXT    NOT NULL PRIMARY KEY,
		mac TEXT    NOT NULL,
		at  INTEGER NOT NULL
	) STRICT;`,
}

// schemaVersion is the version this binary writes and reads.
var schemaVersion = len(migrations)

// migrate brings the schema up to schemaVersion in one transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", classify(err))
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate: read version: %w", classify(err))
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade rpinetboot", v, schemaVersion)
	}
	if v == schemaVersion {
		return nil
	}
	for i := v; i < schemaVersion; i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, classify(err))
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("migrate: set version: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", classify(err))
	}
	return nil
}

// checkVersion refuses a read-only open of a file whose schema this binary
// cannot read (never created, older and not yet migrated, or newer).
func checkVersion(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", classify(err))
	}
	switch {
	case v == 0:
		return fmt.Errorf("not an rpinetboot store (schema version 0): start coredhcp with the macpin plugin once to create it")
	case v < schemaVersion:
		return fmt.Errorf("schema version %d is older than %d: start coredhcp (macpin) once to migrate it", v, schemaVersion)
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade rpinetboot", v, schemaVersion)
	}
	return nil
}
