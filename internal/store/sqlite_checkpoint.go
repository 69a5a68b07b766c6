package store

import (
	"context"
	"database/sql"
	"time"
)

// checkpointEvery is how often the WAL is folded into the database file.
// SQLite's default does it inside whichever commit crosses 1,000 WAL pages:
// that commit then writes and fsyncs the whole checkpoint, and every OFFER
// waiting on it leaves late and in one burst. Done here, on a connection of
// its own, a checkpoint runs beside the commits instead of inside one.
const checkpointEvery = time.Second

// checkpointer runs PASSIVE checkpoints on ck until stop closes; PASSIVE
// never waits for readers or the writer, it copies what it can.
func (s *SQLite) checkpointer(ck *sql.DB, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), busyTimeout)
			// An error (disk full, a busy lock) is retried next tick; the
			// WAL keeps every commit safe meanwhile.
			_, _ = ck.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			cancel()
		}
	}
}
