package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

// listEventsQuery returns the SQL and arguments ListEvents runs for f. Each
// filter has an index on (column, seq) (migrations/0003_console.sql), read
// backwards from the cursor, so a page costs its own rows, not the table.
func listEventsQuery(f store.EventFilter) (string, []any, error) {
	cursor, err := store.DecodeCursor(f.Cursor)
	if err != nil {
		return "", nil, err
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.CallerNumber != "" {
		add("caller_number = $%d", f.CallerNumber)
	}
	if f.CallID != "" {
		add("call_id = $%d", f.CallID)
	}
	if f.Type != "" {
		add("type = $%d", string(f.Type))
	}
	if f.Source != "" {
		add("source_name = $%d", f.Source)
	}
	if !f.Since.IsZero() {
		add("received_at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("received_at < $%d", f.Until)
	}
	if cursor > 0 {
		add("seq < $%d", cursor)
	}
	q := `SELECT seq, id, type, time, source_kind, source_name, record_id, call_id, caller_number, received_at FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.PageLimit()+1)
	q += fmt.Sprintf(` ORDER BY seq DESC LIMIT $%d`, len(args))
	return q, args, nil
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]store.EventSummary, string, error) {
	q, args, err := listEventsQuery(f)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list events: %w", err)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list events: %w", err)
	}
	defer rows.Close()
	limit := f.PageLimit()
	var (
		es   []store.EventSummary
		more bool
	)
	for rows.Next() {
		if len(es) == limit {
			more = true
			break
		}
		var (
			e   store.EventSummary
			typ string
		)
		if err := rows.Scan(&e.Seq, &e.ID, &typ, &e.Time, &e.SourceKind, &e.SourceName, &e.RecordID, &e.CallID, &e.CallerNumber, &e.ReceivedAt); err != nil {
			return nil, "", fmt.Errorf("postgres: list events: %w", err)
		}
		e.Type, e.Time, e.ReceivedAt = cdr.Type(typ), e.Time.UTC(), e.ReceivedAt.UTC()
		es = append(es, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("postgres: list events: %w", err)
	}
	if !more {
		return es, "", nil
	}
	return es, store.EncodeCursor(es[len(es)-1].Seq), nil
}

// outcomesQuery returns the SQL and arguments Outcomes runs: attempts in
// [since, until) counted per webhook and bucket number. It reads
// attempts_webhook_at only: the recursive part finds each webhook with one
// index descent (a loose index scan), then each webhook's time range is
// one index range (LATERAL: a join would estimate the webhooks at a
// hundred and read the whole table).
func outcomesQuery(since, until time.Time, bucket time.Duration) (string, []any) {
	return `WITH RECURSIVE w(webhook) AS (
			(SELECT webhook FROM attempts ORDER BY webhook LIMIT 1)
			UNION ALL
			SELECT (SELECT a.webhook FROM attempts a WHERE a.webhook > w.webhook ORDER BY a.webhook LIMIT 1) FROM w WHERE w.webhook IS NOT NULL)
		SELECT w.webhook, c.b, c.ok, c.n FROM w CROSS JOIN LATERAL (
			SELECT floor(extract(epoch FROM a.at - $1::timestamptz) * 1000000 / $3::bigint)::bigint AS b,
				count(*) FILTER (WHERE a.error = '' AND (a.response->>'status')::int BETWEEN 200 AND 299) AS ok, count(*) AS n
			FROM attempts a WHERE a.webhook = w.webhook AND a.at >= $1::timestamptz AND a.at < $2::timestamptz
			GROUP BY 1) c`,
		[]any{since, until, bucket.Microseconds()}
}

// Outcomes implements store.Store.
func (s *Store) Outcomes(ctx context.Context, since, until time.Time, bucket time.Duration) (map[string][]store.OutcomeBucket, error) {
	since, until = since.Truncate(time.Microsecond).UTC(), until.Truncate(time.Microsecond).UTC()
	n, err := store.OutcomeBuckets(since, until, bucket)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	out := map[string][]store.OutcomeBucket{}
	if n == 0 {
		return out, nil
	}
	// The planner cannot know how many webhooks there are and assumes a
	// hundred, a cost that turns JIT compilation on (tens to hundreds of
	// ms for a query that runs in a few): jit off for this query. The
	// setting and the query go in one batch, which PostgreSQL runs as one
	// implicit transaction, so the setting ends with it.
	q, args := outcomesQuery(since, until, bucket)
	var b pgx.Batch
	b.Queue(`SELECT set_config('jit', 'off', true)`)
	b.Queue(q, args...)
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("postgres: outcomes: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("postgres: outcomes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			webhook      string
			b, ok, total int64
		)
		if err := rows.Scan(&webhook, &b, &ok, &total); err != nil {
			return nil, fmt.Errorf("postgres: outcomes: %w", err)
		}
		if b < 0 || b >= int64(n) {
			return nil, fmt.Errorf("postgres: outcomes: webhook %q: bucket %d out of range [0, %d)", webhook, b, n)
		}
		bs := out[webhook]
		if bs == nil {
			bs = store.NewOutcomeBuckets(since, bucket, n)
			out[webhook] = bs
		}
		bs[b].OK += int(ok)
		bs[b].Failed += int(total - ok)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: outcomes: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("postgres: outcomes: %w", err)
	}
	return out, nil
}
