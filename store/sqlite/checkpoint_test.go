package sqlite_test

import (
	"encoding/binary"
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

// walFrames reads the number of frames in the WAL since it last started
// over (mxFrame, at byte 16 of the wal-index header in the -shm file, in
// the machine's byte order; https://sqlite.org/walformat.html).
func walFrames(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], 16); err != nil {
		t.Fatal(err)
	}
	return binary.NativeEndian.Uint32(b[:])
}

// Under a steady flow of commits the WAL starts over after every
// background checkpoint, instead of growing until the writer's automatic
// checkpoint copies it inside a commit (8,000 pages, a stall of every write
// for as long as that takes). Without the checkpoint on the writer
// connection the WAL reaches that size here.
func TestCheckpointRestartsWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdrgw.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const (
		rate = 500 // commits per second, each one event with two deliveries
		run  = 4 * time.Second
	)
	var peak, restarts, last uint32
	start := time.Now()
	for i := 0; time.Since(start) < run; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		ev := storetest.Event(i, fmt.Sprint("wal-", i))
		ds := []store.NewDelivery{
			{ID: fmt.Sprintf("a%06d", i), Webhook: "a", Key: ev.Record.Key()},
			{ID: fmt.Sprintf("b%06d", i), Webhook: "b", Key: ev.Record.Key()},
		}
		if _, err := s.Accept(t.Context(), []store.NewEvent{{Event: ev, Deliveries: ds}}); err != nil {
			t.Fatal(err)
		}
		n := walFrames(t, path)
		if n < last {
			restarts++
		}
		last, peak = n, max(peak, n)
	}
	t.Logf("WAL peak %d frames, started over %d times in %v", peak, restarts, run)
	if want := uint32(run / sqlite.CheckpointInterval / 2); restarts < want {
		t.Fatalf("the WAL started over %d times in %v (peak %d frames), want at least %d (one per checkpoint interval of %v, halved)",
			restarts, run, peak, want, sqlite.CheckpointInterval)
	}
	if peak >= 8000 {
		t.Fatalf("the WAL reached %d frames: the writer's automatic checkpoint (8,000) copied it", peak)
	}
}
