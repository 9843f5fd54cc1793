package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
)

// Claim sends its planner settings and the claim in one batch without
// BEGIN/COMMIT: PostgreSQL must run the batch as one implicit transaction,
// so that the transaction-local settings hold for the statements after them
// in the batch and are gone once it ends.
func TestClaimBatchIsOneTransaction(t *testing.T) {
	t.Parallel()
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var b pgx.Batch
	b.Queue(`SELECT set_config('enable_sort', 'off', true), set_config('synchronous_commit', 'off', true)`)
	b.Queue(`SELECT current_setting('enable_sort'), current_setting('synchronous_commit'), txid_current()`)
	b.Queue(`SELECT txid_current()`)
	br := conn.SendBatch(t.Context(), &b)
	if _, err := br.Exec(); err != nil {
		t.Fatal(err)
	}
	var sort, sync string
	var tx1, tx2 int64
	if err := br.QueryRow().Scan(&sort, &sync, &tx1); err != nil {
		t.Fatal(err)
	}
	if err := br.QueryRow().Scan(&tx2); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if sort != "off" || sync != "off" {
		t.Fatalf("inside the batch: enable_sort %q, synchronous_commit %q; want both off", sort, sync)
	}
	if tx1 != tx2 {
		t.Fatalf("the batch ran in transactions %d and %d, want one", tx1, tx2)
	}
	if err := conn.QueryRow(t.Context(), `SELECT current_setting('enable_sort')`).Scan(&sort); err != nil {
		t.Fatal(err)
	}
	if sort != "on" {
		t.Fatalf("after the batch: enable_sort %q, want on again", sort)
	}
}
