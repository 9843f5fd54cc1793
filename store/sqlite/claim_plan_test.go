package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/sqlite"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// queryPlan returns the EXPLAIN QUERY PLAN of the claim query, one detail per
// line.
func queryPlan(t *testing.T, db *sql.DB, one bool) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+sqlite.ClaimQuery(one), int64(1), "[]", 10, "crm")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A claim of one webhook searches deliveries_due_webhook by webhook and due
// time and needs no sort, so another webhook's due backlog is never visited;
// a claim of every webhook stays on deliveries_due. Checked with and without
// statistics (ANALYZE), on a table where one webhook has a large backlog.
func TestClaimPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdrgw.db")
	s := openAt(t, path)
	var batch []store.NewEvent
	for i := range 2000 {
		webhook := "hang"
		if i%100 == 0 {
			webhook = "crm"
		}
		key := fmt.Sprint("c", i)
		batch = append(batch, store.NewEvent{Event: storetest.Event(i, key), Deliveries: []store.NewDelivery{
			{ID: fmt.Sprint("d", i), Webhook: webhook, Key: key, NotBefore: storetest.T0.Add(time.Duration(i) * time.Second)}}})
	}
	if _, err := s.Accept(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stats := range []bool{false, true} {
		if stats {
			if _, err := db.ExecContext(t.Context(), "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			one        bool
			want, deny string
		}{
			{true, "SEARCH d USING INDEX deliveries_due_webhook (webhook=? AND next_attempt_at<?)", "deliveries_due "},
			{false, "USING INDEX deliveries_due (next_attempt_at<?)", "deliveries_due_webhook"},
		}
		for _, tc := range tests {
			plan := queryPlan(t, db, tc.one)
			if !strings.Contains(plan, tc.want) || strings.Contains(plan, tc.deny) || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("stats %v, one webhook %v: plan does not contain %q (or contains %q or a sort):\n%s", stats, tc.one, tc.want, tc.deny, plan)
			}
		}
	}
}
