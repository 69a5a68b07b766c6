package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a statement waits for another process's write lock
// (rpinetctl and coredhcp share the file) before failing.
const busyTimeout = 5 * time.Second

// readerConns bounds the read pool: each modernc connection carries its own
// page cache, and reads are short.
const readerConns = 4

// SQLite is the embedded Store: one file in WAL mode, one writer connection in
// this process (group commit happens above it, in macpin), readers that never
// wait for the writer, synchronous=FULL so a commit survives power loss.
type SQLite struct {
	path     string
	readOnly bool
	w        *sql.DB // the writer, a single connection; nil when read-only
	r        *sql.DB // readers, mode=ro
	probe    *sql.DB // one connection whose PRAGMA data_version is polled
	ck       *sql.DB // the checkpointer's own connection; nil when read-only
	ckStop   chan struct{}
	ckDone   chan struct{}
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (and, unless opts.ReadOnly, creates and migrates) the
// SQLite store at path. A file that is not a healthy database is refused with
// an error wrapping ErrCorrupt.
func OpenSQLite(path string, opts Options) (*SQLite, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s := &SQLite{path: abs, readOnly: opts.ReadOnly}
	if err := s.open(); err != nil {
		s.close(false)
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	return s, nil
}

func (s *SQLite) open() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := os.Stat(s.path)
	switch {
	case err == nil && st.IsDir():
		return errors.New("is a directory, want a database file")
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	case err != nil && s.readOnly:
		return fmt.Errorf("read-only open of a missing file (coredhcp's macpin plugin creates it): %w", err)
	case err != nil:
		if _, derr := os.Stat(filepath.Dir(s.path)); derr != nil {
			return fmt.Errorf("cannot create the database: %w", derr)
		}
	}

	if !s.readOnly {
		// fdatasync is as durable as fsync for a commit (data and file size
		// reach the disk) and skips the timestamp journal write: measured 2.5-4x
		// more durable pins per second. Distribution builds of SQLite use it
		// too; this transpiled one needs the process-wide switch.
		_, _ = sqlite.Fdatasync(true)
		s.w, err = sql.Open("sqlite", fileURI(s.path, false))
		if err != nil {
			return err
		}
		s.w.SetMaxOpenConns(1)
		s.w.SetMaxIdleConns(1)
		s.w.SetConnMaxLifetime(0)
		s.w.SetConnMaxIdleTime(0)
		if err := checkIntegrity(ctx, s.w, "quick_check"); err != nil {
			return err
		}
		var mode string
		if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
			return fmt.Errorf("switch to WAL: %w", classify(err))
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("switch to WAL: journal mode is still %q", mode)
		}
		// Keep -wal and -shm when the writer closes: a reader with only
		// group read access (rpi-tftpd under its own user) can open a WAL
		// database whose -shm exists, but cannot create one.
		if err := persistWAL(ctx, s.w); err != nil {
			return err
		}
		if err := migrate(ctx, s.w); err != nil {
			return err
		}
		s.probe = s.w
		// Commits never checkpoint; the checkpointer goroutine does.
		if _, err := s.w.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
			return fmt.Errorf("wal_autocheckpoint: %w", classify(err))
		}
		s.ck, err = sql.Open("sqlite", fileURI(s.path, false))
		if err != nil {
			return err
		}
		s.ck.SetMaxOpenConns(1)
		s.ck.SetMaxIdleConns(1)
		s.ckStop, s.ckDone = make(chan struct{}), make(chan struct{})
		go s.checkpointer(s.ck, s.ckStop, s.ckDone)
	}

	s.r, err = sql.Open("sqlite", fileURI(s.path, true))
	if err != nil {
		return err
	}
	s.r.SetMaxOpenConns(readerConns)
	s.r.SetMaxIdleConns(readerConns)
	if s.readOnly {
		if err := checkIntegrity(ctx, s.r, "quick_check"); err != nil {
			return err
		}
		if err := checkVersion(ctx, s.r); err != nil {
			return err
		}
		s.probe, err = sql.Open("sqlite", fileURI(s.path, true))
		if err != nil {
			return err
		}
		s.probe.SetMaxOpenConns(1)
		s.probe.SetMaxIdleConns(1)
	}
	return nil
}

// persistWAL sets SQLITE_FCNTL_PERSIST_WAL on the writer's connection.
func persistWAL(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("persist WAL: %w", classify(err))
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		fc, ok := dc.(sqlite.FileControl)
		if !ok {
			return errors.New("persist WAL: the driver has no file control")
		}
		if _, err := fc.FileControlPersistWAL("main", 1); err != nil {
			return fmt.Errorf("persist WAL: %w", err)
		}
		return nil
	})
}

// fileURI builds the driver DSN: a file: URI so SQLite honours mode=ro, with
// the per-connection PRAGMAs every pooled connection must carry.
func fileURI(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	if readOnly {
		q.Set("mode", "ro")
	} else {
		// FULL: in WAL mode NORMAL may lose the last commits on power loss,
		// and an OFFER must never leave before its pin is on disk.
		q.Add("_pragma", "synchronous(FULL)")
		// IMMEDIATE: take the write lock at BEGIN, so a conflicting writer
		// waits on busy_timeout instead of failing mid-transaction.
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// checkIntegrity runs an integrity PRAGMA and refuses anything but "ok".
func checkIntegrity(ctx context.Context, db *sql.DB, pragma string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return fmt.Errorf("%s: %w", pragma, classify(err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("%s: %w", pragma, classify(err))
		}
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", pragma, classify(err))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s: %w", pragma, strings.Join(problems, "; "), ErrCorrupt)
	}
	return nil
}

// IntegrityCheck runs SQLite's full PRAGMA integrity_check; nil means "ok".
func (s *SQLite) IntegrityCheck(ctx context.Context) error {
	if err := checkIntegrity(ctx, s.r, "integrity_check"); err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// classify maps driver errors callers branch on to the package's sentinels.
func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%v: %w", err, ErrCorrupt)
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("%v: %w", err, ErrReadOnly)
	}
	return err
}

// Path is the absolute path of the database file.
func (s *SQLite) Path() string { return s.path }

// DataVersion implements Store.DataVersion with PRAGMA data_version on one
// fixed connection (the writer's, so its own commits do not count).
func (s *SQLite) DataVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.probe.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("store %s: data_version: %w", s.path, classify(err))
	}
	return v, nil
}

// Close releases the connections; a checkpoint folds the WAL into the file.
func (s *SQLite) Close() error { return s.close(true) }

// close releases the connections; checkpoint is false after a failed open,
// so a refused (perhaps corrupt) file is never written to.
func (s *SQLite) close(checkpoint bool) error {
	if s.ckStop != nil {
		close(s.ckStop)
		<-s.ckDone
		s.ckStop = nil
	}
	var errs []error
	dbs := []*sql.DB{s.ck, s.w, s.r}
	if s.probe != s.w {
		dbs = append(dbs, s.probe)
	}
	for _, db := range dbs {
		if db == nil {
			continue
		}
		if db == s.w && checkpoint {
			// Best effort: leaves a compact file behind for backups and readers.
			_, _ = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		}
		if err := db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// writer returns the writer pool or ErrReadOnly.
func (s *SQLite) writer() (*sql.DB, error) {
	if s.w == nil {
		return nil, fmt.Errorf("store %s: %w", s.path, ErrReadOnly)
	}
	return s.w, nil
}
