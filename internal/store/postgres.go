package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgConnectTimeout bounds one connection attempt when the DSN sets no
// connect_timeout: an unreachable database must fail a DISCOVER's pin in
// seconds (the board retries), not hang it.
const pgConnectTimeout = 3 * time.Second

// pgConns bounds the connections one process holds: writes are serialized
// by the change counter anyway, reads are short.
const pgConns = 8

// Postgres is the Store shared by several coredhcp servers (active/active),
// their rpi-tftpd daemons and rpinetctl. UNIQUE(mac) and UNIQUE(ip) make two
// servers' pins exclusive; a committed transaction is durable on the server
// (synchronous_commit as the database is configured, on by default).
type Postgres struct {
	dsn      string // redacted, for messages
	readOnly bool
	db       *sql.DB
	// own counts committed write transactions of this handle, so
	// DataVersion can leave them out (the Store contract).
	own atomic.Int64
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to the database named by a postgres:// DSN and,
// unless opts.ReadOnly, creates or migrates the schema. The password comes
// from a password_file=PATH query parameter, PGPASSWORD or PGPASSFILE; it is
// never part of an error message.
func OpenPostgres(dsn string, opts Options) (*Postgres, error) {
	cfg, d, err := pgConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "rpinetboot"
	if opts.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	s := &Postgres{dsn: d.redacted, readOnly: opts.ReadOnly, db: stdlib.OpenDB(*cfg)}
	s.db.SetMaxOpenConns(pgConns)
	s.db.SetMaxIdleConns(pgConns)
	// Idle connections die with a database restart; recycling them keeps
	// the first requests after an outage from tripping over dead ones.
	s.db.SetConnMaxIdleTime(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store %s: connect: %w", s.dsn, pgClassify(err))
	}
	if opts.ReadOnly {
		err = pgCheckVersion(ctx, s.db)
	} else if err = pgCheckDurable(ctx, s.db); err == nil {
		err = pgMigrate(ctx, s.db)
	}
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store %s: %w", s.dsn, err)
	}
	return s, nil
}

// pgConfig turns a store DSN into the driver's configuration, without
// connecting.
func pgConfig(dsn string) (*pgx.ConnConfig, pgDSN, error) {
	d, err := parsePostgresDSN(dsn)
	if err != nil {
		return nil, d, err
	}
	cfg, err := pgx.ParseConfig(d.conn)
	if err != nil {
		// pgx's parse errors may quote the DSN; do not pass them on.
		return nil, d, fmt.Errorf("store %s: invalid PostgreSQL DSN (check host, port and parameters)", d.redacted)
	}
	return cfg, d, nil
}

// pgCheckDurable refuses a session whose commits return before they are on
// disk: with synchronous_commit=off a pin could be lost after its OFFER left,
// and the Pi 3B+ ROM would then share its address with the next board.
func pgCheckDurable(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&mode); err != nil {
		return fmt.Errorf("read synchronous_commit: %w", pgClassify(err))
	}
	if mode == "off" {
		return errors.New("synchronous_commit is off, so a pin could be lost after its OFFER: " +
			"turn it on for this role or database, or add synchronous_commit=on to the DSN")
	}
	return nil
}

// CheckPostgresDSN validates a postgres:// DSN and reads its password_file
// without connecting, for `rpinetctl config check`. Errors name the DSN redacted.
func CheckPostgresDSN(dsn string) error {
	_, _, err := pgConfig(dsn)
	return err
}

// String is the redacted DSN.
func (s *Postgres) String() string { return s.dsn }

// DataVersion implements Store.DataVersion: the shared change counter minus
// this handle's own committed writes, so it moves exactly when another
// server or rpinetctl has committed a pin change.
func (s *Postgres) DataVersion(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT n FROM rpinetboot_changes").Scan(&n); err != nil {
		return 0, fmt.Errorf("store %s: data version: %w", s.dsn, pgClassify(err))
	}
	return n - s.own.Load(), nil
}

// Close releases the connections.
func (s *Postgres) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.dsn, err)
	}
	return nil
}

// PostgreSQL error codes callers branch on.
const (
	pgUniqueViolation      = "23505"
	pgCardinalityViolation = "21000" // ON CONFLICT DO UPDATE hit one row twice: one MAC twice in a batch
	pgReadOnlyTransaction  = "25006"
)

// pgClassify maps driver errors callers branch on to the package's sentinels.
func pgClassify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgReadOnlyTransaction {
		return fmt.Errorf("%v: %w", err, ErrReadOnly)
	}
	return err
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// writer returns the pool or ErrReadOnly.
func (s *Postgres) writer() (*sql.DB, error) {
	if s.readOnly {
		return nil, fmt.Errorf("store %s: %w", s.dsn, ErrReadOnly)
	}
	return s.db, nil
}

// writeTx runs fn in a transaction that first bumps the change counter
// (taking its row lock, which serializes writers across servers) and, if it
// commits, counts it as this handle's own.
func (s *Postgres) writeTx(ctx context.Context, what string, bump bool, fn func(*sql.Tx) error) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", what, pgClassify(err))
	}
	defer tx.Rollback()
	lock := "SELECT n FROM rpinetboot_changes FOR UPDATE"
	if bump {
		lock = "UPDATE rpinetboot_changes SET n = n + 1"
	}
	if _, err := tx.ExecContext(ctx, lock); err != nil {
		return fmt.Errorf("%s: %w", what, pgClassify(err))
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, pgClassify(err))
	}
	if bump {
		s.own.Add(1)
	}
	return nil
}
