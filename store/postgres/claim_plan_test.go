package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
)

// A claim of one webhook reads deliveries_due_webhook by webhook and due
// time, so another webhook's due backlog is never visited; a claim of every
// webhook stays on deliveries_due. Checked on a young table (no statistics)
// and after ANALYZE, with custom and generic plans (pgx prepares statements,
// and PostgreSQL may switch to a generic plan after five executions), under
// the planner settings Claim sets.
func TestClaimPlan(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// 20,000 due deliveries of a hanging webhook, one in a hundred of crm.
	for _, q := range []string{
		`INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at)
			SELECT 'e' || i, 'queue.ended', now(), 'teams', 'teams', 'r' || i, 'c' || i, '', '{}', now() FROM generate_series(1, 20000) i`,
		`INSERT INTO deliveries (id, webhook, event_id, event_type, key, status, next_attempt_at, created_at, updated_at)
			SELECT 'd' || i, CASE WHEN i % 100 = 0 THEN 'crm' ELSE 'hang' END, 'e' || i, 'queue.ended', 'c' || i, 'pending',
				now() - (20000 - i) * interval '1 second', now(), now()
			FROM generate_series(1, 20000) i`,
		`SET enable_bitmapscan = off`, `SET enable_sort = off`, `SET jit = off`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, stats := range []bool{false, true} {
		if stats {
			if _, err := conn.Exec(t.Context(), `ANALYZE deliveries`); err != nil {
				t.Fatal(err)
			}
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			if _, err := conn.Exec(t.Context(), "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				one, after bool
				want, deny string
			}{
				{true, false, "Index Scan using deliveries_due_webhook on deliveries", "deliveries_due on"},
				{false, false, "Index Scan using deliveries_due on deliveries", "deliveries_due_webhook"},
				// From a cursor, the index range starts at the cursor: the
				// rows before it are not read at all.
				{true, true, "AND (ROW(next_attempt_at, seq) > ROW(", "deliveries_due on"},
			}
			for _, tc := range tests {
				args := []any{"w", now.Add(time.Minute), now, []string{}, 10}
				if tc.one {
					args = append(args, "crm")
				}
				if tc.after {
					args = append(args, now.Add(-time.Hour), int64(100))
				}
				rows, err := conn.Query(t.Context(), "EXPLAIN "+postgres.ClaimQuery(tc.one, tc.after), args...)
				if err != nil {
					t.Fatal(err)
				}
				plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				text := strings.Join(plan, "\n")
				// The ordering check looks up a webhook and key.
				const ordering = "deliveries_pending_key on deliveries p"
				if tc.after && !slices.ContainsFunc(plan, func(l string) bool {
					return strings.Contains(l, "Index Cond: ((webhook = ") && strings.Contains(l, tc.want)
				}) {
					t.Errorf("stats %v, %s: the cursor is not an index condition of deliveries_due_webhook:\n%s", stats, mode, text)
				}
				if !strings.Contains(text, tc.want) || !strings.Contains(text, ordering) || strings.Contains(text, tc.deny) || strings.Contains(text, "Seq Scan") {
					t.Errorf("stats %v, %s, one webhook %v, after %v: plan does not contain %q and %q (or contains %q or a Seq Scan):\n%s", stats, mode, tc.one, tc.after, tc.want, ordering, tc.deny, text)
				}
			}
		}
	}
}
