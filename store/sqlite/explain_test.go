package sqlite_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/sqlite"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// fillConsole fills the database at path with the console fixture (see
// storetest.ConsoleRows) of n events received up to now over the same ~9
// days (a smaller n spaces them out).
func fillConsole(t testing.TB, path string, now time.Time, n int) {
	t.Helper()
	start := time.Now()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const sec = int64(time.Second / time.Microsecond)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?2)
		INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at, seq)
			SELECT 'e' || i, CASE i % 3 WHEN 0 THEN 'call.ended' WHEN 1 THEN 'queue.ended' ELSE 'ivr.ended' END, ?1 - (?2 - i) * ?4 * ?3 - 60 * ?3,
				'ari', 'pbx' || (i % 3), 'r' || i, 'call-' || (i / 2), '+4930' || (i % 5000), '{}', ?1 - (?2 - i) * ?4 * ?3,
				(SELECT coalesce(max(seq), 0) FROM events) + i
			FROM g`,
		`INSERT INTO deliveries (id, webhook, event_id, event_type, key, status, attempts, next_attempt_at, created_at, updated_at)
			SELECT 'd' || e.seq, CASE e.seq % 4 WHEN 0 THEN 'crm' WHEN 1 THEN 'erp' WHEN 2 THEN 'bi' ELSE 'slow' END, e.id, e.type, e.call_id,
				CASE WHEN e.seq % 100 < 90 THEN 'delivered' WHEN e.seq % 100 < 94 THEN 'failed' WHEN e.seq % 100 < 97 THEN 'dead' ELSE 'pending' END,
				1, e.received_at + 60 * ?3, e.received_at, e.received_at
			FROM events e WHERE e.id LIKE 'e%' ORDER BY e.seq`,
		`WITH n(n) AS (VALUES (1), (2), (3), (4))
		INSERT INTO attempts (delivery_id, webhook, n, at, manual, request, response, latency_ms, error)
			SELECT d.id, d.webhook, n.n, d.created_at + n.n * 2 * ?3, 0, '{"method":"POST","url":"http://127.0.0.1:9/"}',
				CASE WHEN d.status = 'delivered' AND n.n = 1 THEN '{"status":200}' WHEN d.status = 'pending' THEN NULL ELSE '{"status":500}' END,
				20 + d.seq % 80, CASE WHEN d.status = 'pending' THEN 'dial tcp: connection refused' ELSE '' END
			FROM deliveries d, n WHERE n.n = 1 OR d.status <> 'delivered' ORDER BY d.seq, n.n`,
	} {
		if _, err := tx.ExecContext(t.Context(), q, now.UnixMicro(), n, sec, 8*storetest.ConsoleRows/n); err != nil {
			t.Fatalf("fill: %v\n%s", err, q)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %d events and deliveries in %v", n, time.Since(start).Round(time.Millisecond))
}

// recorder keeps the SQL and arguments of every query run through a
// tracingConn.
type recorder struct {
	mu      sync.Mutex
	queries []query
}

type query struct {
	sql  string
	args []any
}

func (r *recorder) take() []query {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queries
	r.queries = nil
	return q
}

// tracingConnector opens connections of the sqlite driver that report
// their queries to rec.
type tracingConnector struct {
	dsn string
	drv driver.Driver
	rec *recorder
}

func (c tracingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return tracingConn{conn, c.rec}, nil
}

func (c tracingConnector) Driver() driver.Driver { return c.drv }

type tracingConn struct {
	driver.Conn
	rec *recorder
}

func (c tracingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	c.rec.mu.Lock()
	c.rec.queries = append(c.rec.queries, query{q, vals})
	c.rec.mu.Unlock()
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

// fullScan matches an EXPLAIN QUERY PLAN detail that reads a whole table
// or index: a SCAN (SQLite reports a SEARCH when it uses an index range).
var fullScan = regexp.MustCompile(`^SCAN (\S+)`)

// pagingOrder are the SCANs that walk a table in seq order (deliveries by
// rowid, which is seq; events by events_seq): with no sort, ORDER BY seq
// DESC LIMIT stops after a page.
var pagingOrder = map[string]bool{"SCAN d": true, "SCAN events USING INDEX events_seq": true}

// badScans returns the details of plan that read all of deliveries, events
// or attempts, other than a pagingOrder walk with no sort.
func badScans(plan []string, aliases map[string]string) []string {
	sorts := false
	for _, d := range plan {
		if strings.Contains(d, "USE TEMP B-TREE FOR ORDER BY") {
			sorts = true
		}
	}
	var bad []string
	for _, d := range plan {
		m := fullScan.FindStringSubmatch(d)
		if m == nil {
			continue
		}
		_, ok := aliases[m[1]]
		if !ok {
			continue
		}
		if !sorts && pagingOrder[d] {
			continue
		}
		bad = append(bad, d)
	}
	return bad
}

// queryPlanOf returns the EXPLAIN QUERY PLAN details of q.
func queryPlanOf(t *testing.T, db *sql.DB, q query) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.sql, q.args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: %v", q.sql, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// Every query the web console runs, on 100,000 deliveries (a twentieth under
// the race detector), reads
// deliveries, events and attempts through an index (or deliveries in seq
// order, stopping after a page), with and without statistics (ANALYZE).
// The queries are recorded from the store's own methods.
func TestConsoleQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cdrgw.db")
	s := openAt(t, path)
	ev := storetest.Event(1, "call-real")
	if _, err := s.Accept(t.Context(), []store.NewEvent{{Event: ev, Deliveries: []store.NewDelivery{{ID: "d-real", Webhook: "crm", Key: "call-real"}}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	// Under the race detector the fill of 100,000 rows takes minutes: the
	// plans are checked on a twentieth (statistics of that size), and without
	// it on the full fixture.
	rows := storetest.ConsoleRows
	if raceEnabled {
		rows /= 20
	}
	fillConsole(t, path, now, rows)

	drvDB, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer drvDB.Close()
	rec := &recorder{}
	traced := sql.OpenDB(tracingConnector{dsn: "file:" + path + "?_pragma=query_only(1)", drv: drvDB.Driver(), rec: rec})
	defer traced.Close()
	ts := sqlite.Traced(s, traced)

	ctx := t.Context()
	day := 24 * time.Hour
	cursor := store.EncodeCursor(int64(rows / 2))
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
	calls["GetEvent"] = func() error { _, err := ts.GetEvent(ctx, ev.ID); return err }
	calls["RecentAttempts"] = func() error { _, err := ts.RecentAttempts(ctx, "erp", 100); return err }
	calls["Outcomes 24h"] = func() error { _, err := ts.Outcomes(ctx, now.Add(-day), now, time.Hour); return err }

	aliases := map[string]string{"d": "deliveries", "deliveries": "deliveries", "events": "events", "e": "events", "attempts": "attempts", "a": "attempts"}
	for _, stats := range []bool{false, true} {
		if stats {
			if _, err := drvDB.ExecContext(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
			// New connections read the statistics.
			traced.SetMaxIdleConns(0)
			traced.SetMaxIdleConns(2)
		}
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
				plan := queryPlanOf(t, drvDB, q)
				if bad := badScans(plan, aliases); len(bad) > 0 {
					t.Errorf("statistics %v, %s: full scan %q\nquery: %s\nargs: %v\nplan:\n%s", stats, name, bad, q.sql, q.args, strings.Join(plan, "\n"))
				}
			}
			t.Logf("statistics %v, %s: %v", stats, name, took.Round(10*time.Microsecond))
		}
	}
}
