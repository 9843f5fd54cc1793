// Command fillstore fills a new cdrgw SQLite store with deliveries for the
// console's page-load test (e2e TestBrowserPageLoad) and prints what it made
// as JSON. The test builds and runs it without the race detector: under it
// modernc.org/sqlite is some twenty times slower, too slow for 100,000
// deliveries.
//
//	fillstore -n 100000 -webhooks sink,crm PATH
//
// It stores n/len(webhooks) queue.ended events, each delivered to every
// webhook, through the store's Accept in batches; then it sets statuses,
// creation times and attempts with SQL, as the gateway would have left them:
// creation times spread over the last 48 hours in order, 1 in 20 deliveries
// dead after three attempts (503), 1 in 25 failed (404), the rest delivered
// at the first attempt (200). No delivery is left pending.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/sqlite"
)

// Filled is the JSON summary printed on success.
type Filled struct {
	Deliveries int    `json:"deliveries"`
	Events     int    `json:"events"`
	Attempts   int    `json:"attempts"`
	Millis     int64  `json:"millis"`
	DeepCursor string `json:"deep_cursor"` // pages after a delivery near the oldest
	DeadID     string `json:"dead_id"`     // a dead delivery with three attempts
	EventID    string `json:"event_id"`    // an event in the middle
	Caller     string `json:"caller"`      // its caller number
	CallID     string `json:"call_id"`     // its call id
	Since      string `json:"since"`       // a one-hour range 24 h ago, as the filter form sends it
	Until      string `json:"until"`
}

func main() {
	n := flag.Int("n", 100_000, "deliveries to store")
	hooks := flag.String("webhooks", "sink,crm", "comma-separated webhook names")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fillstore [-n N] [-webhooks A,B] PATH")
		os.Exit(2)
	}
	f, err := fill(context.Background(), flag.Arg(0), *n, strings.Split(*hooks, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fillstore:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(f); err != nil {
		fmt.Fprintln(os.Stderr, "fillstore:", err)
		os.Exit(1)
	}
}

func fill(ctx context.Context, path string, n int, webhooks []string) (Filled, error) {
	t0 := time.Now()
	if _, err := os.Stat(path); err == nil {
		return Filled{}, fmt.Errorf("%s: exists; fillstore makes a new store", path)
	}
	sample, ok := mapping.SampleEvent(cdr.TypeQueueEnded).Record.(*cdr.Queue)
	if !ok {
		return Filled{}, errors.New("the queue.ended sample record is not a *cdr.Queue")
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return Filled{}, err
	}
	events := n / len(webhooks)
	now := time.Now()
	f := Filled{Events: events}
	const batch = 5000
	for lo := 0; lo < events; lo += batch {
		var b []store.NewEvent
		for i := lo; i < min(lo+batch, events); i++ {
			q := *sample
			q.CallID = fmt.Sprintf("fill-%06d", i)
			q.ID = "teams:queue:" + q.CallID
			q.Caller.Number = fmt.Sprintf("+1444%07d", i)
			ev := cdr.NewEvent(cdr.TypeQueueEnded, now.Add(time.Duration(i-events)*time.Second), q.Source, &q)
			ne := store.NewEvent{Event: ev}
			for _, w := range webhooks {
				ne.Deliveries = append(ne.Deliveries, store.NewDelivery{ID: delivery.NewID(now), Webhook: w, Key: q.CallID})
			}
			b = append(b, ne)
			if i == events/2 {
				f.EventID, f.Caller, f.CallID = ev.ID, q.Caller.Number, q.CallID
			}
		}
		if _, err := st.Accept(ctx, b); err != nil {
			st.Close()
			return f, fmt.Errorf("accept events %d to %d: %w", lo, lo+len(b)-1, err)
		}
	}
	if err := st.Close(); err != nil {
		return f, err
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return f, err
	}
	defer db.Close()
	span := (48 * time.Hour).Microseconds()
	created := `?1 - (?3 - seq) * ?2 / ?3`
	for _, s := range []struct {
		q    string
		args []any
	}{
		{`UPDATE deliveries SET
			status = CASE WHEN seq % 20 = 0 THEN 'dead' WHEN seq % 25 = 1 THEN 'failed' ELSE 'delivered' END,
			attempts = CASE WHEN seq % 20 = 0 THEN 3 ELSE 1 END,
			last_error = CASE WHEN seq % 20 = 0 THEN 'status 503' WHEN seq % 25 = 1 THEN 'status 404' ELSE '' END,
			created_at = ` + created + `, next_attempt_at = ` + created + `, updated_at = ` + created + ` + 2000000`,
			[]any{now.UnixMicro(), span, int64(n)}},
		{`INSERT INTO attempts (delivery_id, webhook, n, at, manual, request, response, latency_ms, error)
			SELECT d.id, d.webhook, k.n, d.created_at + (k.n - 1) * 1000000 + 20000, 0,
				json_object('method', 'POST', 'url', 'http://127.0.0.1:9/' || d.webhook,
					'headers', json_object('Content-Type', 'application/json'), 'body', '{"id":"' || d.event_id || '"}'),
				CASE d.status WHEN 'delivered' THEN '{"status":200,"body":"ok"}' WHEN 'failed' THEN '{"status":404,"body":"no such call"}'
					ELSE '{"status":503,"body":"busy"}' END,
				20 + (d.seq * 7) % 300, d.last_error
			FROM deliveries d JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) k ON k.n <= d.attempts
			ORDER BY d.seq, k.n`, nil},
		{`PRAGMA wal_checkpoint(TRUNCATE)`, nil},
	} {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			return f, fmt.Errorf("%w in\n%s", err, s.q)
		}
	}
	var deep int64
	for _, q := range []struct {
		q    string
		dest any
	}{
		{`SELECT count(*) FROM deliveries`, &f.Deliveries},
		{`SELECT count(*) FROM attempts`, &f.Attempts},
		{`SELECT id FROM deliveries WHERE status = 'dead' ORDER BY seq LIMIT 1 OFFSET 100`, &f.DeadID},
		{`SELECT seq FROM deliveries ORDER BY seq LIMIT 1 OFFSET 1000`, &deep},
	} {
		if err := db.QueryRowContext(ctx, q.q).Scan(q.dest); err != nil {
			return f, fmt.Errorf("%s: %w", q.q, err)
		}
	}
	if f.Deliveries != events*len(webhooks) {
		return f, fmt.Errorf("%d deliveries stored, want %d", f.Deliveries, events*len(webhooks))
	}
	f.DeepCursor = store.EncodeCursor(deep)
	mid := now.Add(-24 * time.Hour).UTC()
	f.Since, f.Until = mid.Format("2006-01-02T15:04"), mid.Add(time.Hour).Format("2006-01-02T15:04")
	f.Millis = time.Since(t0).Milliseconds()
	return f, nil
}
