package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Commits leave checkpointing to the background checkpointer (so no OFFER
// waits behind one), yet the WAL still reaches the database file while the
// store is open: a backup copy of nodes.db is never hours stale.
func TestCheckpointRunsBesideCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.db")
	s := openT(t, path, Options{})
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for b := 0; b < 40; b++ {
		batch := make([]Node, 50)
		for i := range batch {
			batch[i] = node(b*50+i, b*50+i)
		}
		if err := s.Pin(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * checkpointEvery)
	for {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > before.Size()+64<<10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (was %d) %v after 2,000 pins: nothing checkpointed", st.Size(), before.Size(), 5*checkpointEvery)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
