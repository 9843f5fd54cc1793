package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// Events stored before migration 0003 get sequence numbers in the order
// they were stored, and events stored after it come after them.
func TestMigrationNumbersExistingEvents(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var schema string
	if err := conn.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema); err != nil || schema == "" || schema == "public" {
		t.Fatalf("current schema %q: %v", schema, err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`}
	for i, name := range []string{"0001_init.sql", "0002_claim_by_webhook.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b), fmt.Sprintf(`INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')`, i+1, name))
	}
	old := []string{"evt_z", "evt_a", "evt_m"} // stored in this order, not by id
	for _, id := range old {
		stmts = append(stmts, `INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at)
			VALUES ('`+id+`', 'call.ended', now(), 'teams', 'teams', 'r', 'c', '+1', '{}', now())`)
	}
	for _, q := range stmts {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}

	s := openDSN(t, dsn)
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
