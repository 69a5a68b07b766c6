package store

import (
	"context"
	"database/sql"
	"fmt"
)

// pgMigrations turn schema version i into i+1; the schema_migrations table
// records each one applied. Append only: never edit a migration that has shipped.
var pgMigrations = []string{
	// 1: pins, declined addresses and the change counter. IPs are inet so
	// they sort and compare as addresses in psql; MACs are canonical text.
	// rpinetboot_changes is one row, bumped by every write transaction that
	// changes pins or declined addresses: its update is transactional, so a
	// peer that sees the new value also sees the rows, and its row lock
	// serializes writers, so two servers' batches never deadlock on each
	// other's unique-index entries.
	`CREATE TABLE pins (
		mac        text        NOT NULL UNIQUE,
		ip         inet        NOT NULL UNIQUE CHECK (family(ip) = 4 AND masklen(ip) = 32),
		first_seen timestamptz NOT NULL,
		last_seen  timestamptz NOT NULL,
		model      text        NOT NULL DEFAULT '',
		serial     text        NOT NULL DEFAULT '',
		hostname   text        NOT NULL DEFAULT '',
		source     text        NOT NULL
	);
	CREATE TABLE declined (
		ip  inet        NOT NULL PRIMARY KEY,
		mac text        NOT NULL,
		at  timestamptz NOT NULL
	);
	CREATE TABLE rpinetboot_changes (
		one boolean PRIMARY KEY DEFAULT true CHECK (one),
		n   bigint  NOT NULL
	);
	INSERT INTO rpinetboot_changes (one, n) VALUES (true, 0);`,
}

// pgSchemaVersion is the version this binary writes and reads.
var pgSchemaVersion = len(pgMigrations)

// pgMigrateLock is the advisory lock key taken while migrating, so two
// servers starting at once do not both create the tables ("rpinetbo").
const pgMigrateLock = 0x7270696e6574626f

// pgMigrate brings the schema up to pgSchemaVersion in one transaction,
// holding an advisory lock so concurrent starts wait for each other.
func pgMigrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", pgClassify(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgMigrateLock)); err != nil {
		return fmt.Errorf("migrate: lock: %w", pgClassify(err))
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", pgClassify(err))
	}
	v, err := pgVersion(ctx, tx)
	if err != nil {
		return err
	}
	if v > pgSchemaVersion {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade rpinetboot", v, pgSchemaVersion)
	}
	for i := v; i < pgSchemaVersion; i++ {
		if _, err := tx.ExecContext(ctx, pgMigrations[i]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, pgClassify(err))
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", i+1); err != nil {
			return fmt.Errorf("migrate to version %d: record: %w", i+1, pgClassify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", pgClassify(err))
	}
	return nil
}

// pgVersion reads the highest applied migration (0 for a fresh database).
func pgVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", pgClassify(err))
	}
	return v, nil
}

// pgCheckVersion refuses a read-only open of a database whose schema this
// binary cannot read.
func pgCheckVersion(ctx context.Context, db *sql.DB) error {
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("read schema version: %w", pgClassify(err))
	}
	if !exists {
		return fmt.Errorf("not an rpinetboot store (no schema_migrations table): start coredhcp with the macpin plugin once to create it")
	}
	v, err := pgVersion(ctx, db)
	if err != nil {
		return err
	}
	switch {
	case v < pgSchemaVersion:
		return fmt.Errorf("schema version %d is older than %d: start coredhcp (macpin) once to migrate it", v, pgSchemaVersion)
	case v > pgSchemaVersion:
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade rpinetboot", v, pgSchemaVersion)
	}
	return nil
}
