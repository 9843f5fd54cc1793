package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// Events stored before migration 0003 get sequence numbers in the order
// they were stored, and events stored after it come after them.
func TestMigrationNumbersExistingEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdrgw.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`}
	for i, name := range []string{"0001_init.sql", "0002_claim_by_webhook.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b), fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', 0)`, i+1, name))
	}
	old := []string{"evt_z", "evt_a", "evt_m"} // stored in this order, not by id
	for i, id := range old {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at)
			VALUES ('%s', 'call.ended', 1, 'teams', 'teams', 'r', 'c', '+1', '{}', %d)`, id, i+1))
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	db.Close()

	s := openAt(t, path)
	ev := storetest.Event(1, "c1")
	if _, err := s.Accept(t.Context(), []store.NewEvent{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	es, _, err := s.ListEvents(t.Context(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var seqs []int64
	for _, e := range es {
		ids, seqs = append(ids, e.ID), append(seqs, e.Seq)
	}
	if want := []string{ev.ID, "evt_m", "evt_a", "evt_z"}; !slices.Equal(ids, want) {
		t.Fatalf("events after the migration: %v (seq %v), want %v", ids, seqs, want)
	}
	if want := []int64{4, 3, 2, 1}; !slices.Equal(seqs, want) {
		t.Fatalf("seqs after the migration: %v, want %v", seqs, want)
	}
}
