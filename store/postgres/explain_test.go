package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// fillConsole fills the store at conn with the console fixture (see
// storetest.ConsoleRows) received up to the database's now, analyzes the
// tables and returns that now.
func fillConsole(t testing.TB, conn *pgx.Conn) time.Time {
	t.Helper()
	start := time.Now()
	var now time.Time
	if err := conn.QueryRow(t.Context(), `SELECT date_trunc('second', now())`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at)
			SELECT 'e' || i, (ARRAY['call.ended', 'queue.ended', 'ivr.ended'])[i % 3 + 1], $1::timestamptz - (` + fmt.Sprint(storetest.ConsoleRows) + ` - i) * interval '8 s' - interval '1 min',
				'ari', 'pbx' || (i % 3), 'r' || i, 'call-' || (i / 2), '+4930' || (i % 5000), '{}', $1::timestamptz - (` + fmt.Sprint(storetest.ConsoleRows) + ` - i) * interval '8 s'
			FROM generate_series(1, ` + fmt.Sprint(storetest.ConsoleRows) + `) i ORDER BY i`,
		`INSERT INTO deliveries (id, webhook, event_id, event_type, key, status, attempts, next_attempt_at, created_at, updated_at)
			SELECT 'd' || e.seq, (ARRAY['crm', 'erp', 'bi', 'slow'])[e.seq % 4 + 1], e.id, e.type, e.call_id,
				CASE WHEN e.seq % 100 < 90 THEN 'delivered' WHEN e.seq % 100 < 94 THEN 'failed' WHEN e.seq % 100 < 97 THEN 'dead' ELSE 'pending' END,
				1, e.received_at + interval '1 min', e.received_at, e.received_at
			FROM events e ORDER BY e.seq`,
		`INSERT INTO attempts (delivery_id, webhook, n, at, manual, request, response, latency_ms, error)
			SELECT d.id, d.webhook, n, d.created_at + n * interval '2 s', false, '{"method":"POST","url":"http://127.0.0.1:9/"}',
				CASE WHEN d.status = 'delivered' AND n = 1 THEN '{"status":200}'::json WHEN d.status = 'pending' THEN NULL ELSE '{"status":500}'::json END,
				20 + d.seq % 80, CASE WHEN d.status = 'pending' THEN 'dial tcp: connection refused' ELSE '' END
			FROM deliveries d CROSS JOIN generate_series(1, 4) n
			WHERE n = 1 OR (d.status <> 'delivered' AND n <= 4)
			ORDER BY d.seq, n`,
		`ANALYZE events`, `ANALYZE deliveries`, `ANALYZE attempts`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{now}
		}
		if _, err := conn.Exec(t.Context(), q, args...); err != nil {
			t.Fatalf("fill: %v\n%s", err, q)
		}
	}
	t.Logf("filled %d events and deliveries in %v", storetest.ConsoleRows, time.Since(start).Round(time.Millisecond))
	return now
}

// recorder is a pgx tracer that keeps the SQL and arguments of every
// query, batched ones included.
type recorder struct {
	mu      sync.Mutex
	queries []query
}

type query struct {
	sql  string
	args []any
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, query{data.SQL, data.Args})
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *recorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, query{data.SQL, data.Args})
}

func (r *recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// take returns the queries recorded since the last call.
func (r *recorder) take() []query {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queries
	r.queries = nil
	return q
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

// seqScans returns the tables of plan that are read by a Seq Scan and
// appear in tables.
func seqScans(n planNode, tables map[string]bool) []string {
	var found []string
	if n.NodeType == "Seq Scan" && tables[n.Relation] {
		found = append(found, n.Relation)
	}
	for _, c := range n.Plans {
		found = append(found, seqScans(c, tables)...)
	}
	return found
}

// Every query the web console runs, on 100,000 deliveries with statistics,
// reads deliveries, events and attempts through an index: no plan has a Seq
// Scan on them, with custom plans and with the generic plans PostgreSQL may
// switch to for prepared statements (pgx prepares every query). The
// queries are recorded from the store's own methods by a pgx tracer.
func TestConsoleQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	s := openDSN(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// A real event and delivery for the lookups, beside the generated ones.
	ev := storetest.Event(1, "call-real")
	if _, err := s.Accept(t.Context(), []store.NewEvent{{Event: ev, Deliveries: []store.NewDelivery{{ID: "d-real", Webhook: "crm", Key: "call-real"}}}}); err != nil {
		t.Fatal(err)
	}
	now := fillConsole(t, conn)

	rec := &recorder{}
	ts, err := postgres.Traced(t.Context(), s, dsn, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ctx := t.Context()
	day := 24 * time.Hour
	cursor := store.EncodeCursor(storetest.ConsoleRows / 2)
	calls := map[string]func() error{}
	for name, f := range storetest.ConsoleDeliveryFilters(now) {
		for _, c := range []string{"", cursor} {
			f := f
			f.Cursor = c
			calls[fmt.Sprintf("ListDeliveries %s cursor %q", name, c)] = func() error { _, _, err := ts.ListDeliveries(ctx, f); return err }
		}
	}
	for name, f := range storetest.ConsoleEventFilters(now) {
		for _, c := range []string{"", cursor} {
			f := f
			f.Cursor = c
			calls[fmt.Sprintf("ListEvents %s cursor %q", name, c)] = func() error { _, _, err := ts.ListEvents(ctx, f); return err }
		}
	}
	calls["GetDelivery"] = func() error { _, _, err := ts.GetDelivery(ctx, "d-real"); return err }
	calls["GetDelivery generated"] = func() error { _, _, err := ts.GetDelivery(ctx, "d4242"); return err }
	calls["GetEvent"] = func() error { _, err := ts.GetEvent(ctx, ev.ID); return err }
	calls["RecentAttempts"] = func() error { _, err := ts.RecentAttempts(ctx, "erp", 100); return err }
	calls["Outcomes 24h"] = func() error { _, err := ts.Outcomes(ctx, now.Add(-day), now, time.Hour); return err }
	calls["Outcomes 1h"] = func() error { _, err := ts.Outcomes(ctx, now.Add(-time.Hour), now, time.Minute); return err }

	tables := map[string]bool{"deliveries": true, "events": true, "attempts": true}
	for name, call := range calls {
		start := time.Now()
		if err := call(); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		took := time.Since(start)
		qs := rec.take()
		if len(qs) == 0 {
			t.Errorf("%s: no query recorded", name)
		}
		for _, q := range qs {
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				plan := explain(t, conn, mode, q)
				var root []struct {
					Plan planNode `json:"Plan"`
				}
				if err := json.Unmarshal([]byte(plan), &root); err != nil || len(root) != 1 {
					t.Fatalf("%s: EXPLAIN output %q: %v", name, plan, err)
				}
				if scans := seqScans(root[0].Plan, tables); len(scans) > 0 {
					t.Errorf("%s (%s): Seq Scan on %v\nquery: %s\nargs: %v\nplan: %s", name, mode, scans, q.sql, q.args, plan)
				}
			}
		}
		t.Logf("%s: %v", name, took.Round(10*time.Microsecond))
	}
}

// explain returns EXPLAIN (FORMAT JSON) of q under the plan_cache_mode
// mode. The query is prepared and explained through EXECUTE, so that
// force_generic_plan shows the generic plan (an EXPLAIN with parameters
// would always be planned with their values).
func explain(t *testing.T, conn *pgx.Conn, mode string, q query) string {
	t.Helper()
	ctx := t.Context()
	for _, stmt := range []string{"SET plan_cache_mode = " + mode, "PREPARE console_q AS " + q.sql} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), "DEALLOCATE console_q"); err != nil {
			t.Fatal(err)
		}
	}()
	// EXECUTE is a utility statement: its values go in as literals.
	params := make([]string, len(q.args))
	for i, a := range q.args {
		params[i] = literal(t, a)
	}
	execute := "EXPLAIN (FORMAT JSON) EXECUTE console_q"
	if len(params) > 0 {
		execute += "(" + strings.Join(params, ", ") + ")"
	}
	var plan string
	if err := conn.QueryRow(ctx, execute).Scan(&plan); err != nil {
		t.Fatalf("EXPLAIN %s: %v", q.sql, err)
	}
	return plan
}

func openDSN(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// literal returns v as an SQL literal of unknown type (coerced to the
// parameter's type by EXECUTE).
func literal(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case time.Time:
		return "'" + v.Format("2006-01-02 15:04:05.999999Z07:00") + "'"
	case int, int64, int32:
		return fmt.Sprint(v)
	}
	t.Fatalf("no literal for %T %v", v, v)
	return ""
}
