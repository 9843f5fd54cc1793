package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/sqlite"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// The WAL is copied into the database file in the background, without a
// commit reaching SQLite's automatic checkpoint: the database file grows
// while the store is open and idle.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdrgw.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	size := func(p string) int64 {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Wait for the checkpoint of the migrations, then write a few hundred
	// pages: far fewer than the writer's automatic checkpoint.
	time.Sleep(3 * sqlite.CheckpointInterval)
	before := size(path)
	var batch []store.NewEvent
	for i := range 500 {
		ev := storetest.Event(i, fmt.Sprint("ckpt-", i))
		batch = append(batch, store.NewEvent{Event: ev, Deliveries: []store.NewDelivery{{ID: fmt.Sprintf("d%04d", i), Webhook: "w", Key: ev.Record.Key()}}})
	}
	if _, err := s.Accept(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	if wal := size(path + "-wal"); wal == 0 {
		t.Fatal("nothing in the WAL after the accept")
	}
	deadline := time.Now().Add(5 * time.Second)
	for size(path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 5 s after the write: the WAL was not checkpointed", before)
		}
		time.Sleep(sqlite.CheckpointInterval / 2)
	}
	// Close stops the checkpointer and may be called again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
}
