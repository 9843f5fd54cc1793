package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

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
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.CallerNumber != "" {
		add("caller_number = ?", f.CallerNumber)
	}
	if f.CallID != "" {
		add("call_id = ?", f.CallID)
	}
	if f.Type != "" {
		add("type = ?", string(f.Type))
	}
	if f.Source != "" {
		add("source_name = ?", f.Source)
	}
	if !f.Since.IsZero() {
		add("received_at >= ?", us(f.Since))
	}
	if !f.Until.IsZero() {
		add("received_at < ?", us(f.Until))
	}
	if cursor > 0 {
		add("seq < ?", cursor)
	}
	q := `SELECT seq, id, type, time, source_kind, source_name, record_id, call_id, caller_number, received_at FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, f.PageLimit()+1)
	return q, args, nil
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]store.EventSummary, string, error) {
	q, args, err := listEventsQuery(f)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list events: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list events: %w", err)
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
			e              store.EventSummary
			typ            string
			at, receivedAt int64
		)
		if err := rows.Scan(&e.Seq, &e.ID, &typ, &at, &e.SourceKind, &e.SourceName, &e.RecordID, &e.CallID, &e.CallerNumber, &receivedAt); err != nil {
			return nil, "", fmt.Errorf("sqlite: list events: %w", err)
		}
		e.Type, e.Time, e.ReceivedAt = cdr.Type(typ), fromUS(at), fromUS(receivedAt)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: list events: %w", err)
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
// one index range.
func outcomesQuery(since, until time.Time, bucket time.Duration) (string, []any) {
	return `WITH RECURSIVE w(webhook) AS (
			SELECT min(webhook) FROM attempts
			UNION ALL
			SELECT (SELECT min(a.webhook) FROM attempts a WHERE a.webhook > w.webhook) FROM w WHERE w.webhook IS NOT NULL)
		SELECT a.webhook, (a.at - ?1) / ?3 AS b,
			sum(CASE WHEN a.error = '' AND json_extract(a.response, '$.status') BETWEEN 200 AND 299 THEN 1 ELSE 0 END), count(*)
		FROM w JOIN attempts a ON a.webhook = w.webhook
		WHERE a.at >= ?1 AND a.at < ?2
		GROUP BY a.webhook, b`,
		[]any{us(since), us(until), bucket.Microseconds()}
}

// Outcomes implements store.Store.
func (s *Store) Outcomes(ctx context.Context, since, until time.Time, bucket time.Duration) (map[string][]store.OutcomeBucket, error) {
	since, until = since.Truncate(time.Microsecond).UTC(), until.Truncate(time.Microsecond).UTC()
	n, err := store.OutcomeBuckets(since, until, bucket)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	out := map[string][]store.OutcomeBucket{}
	if n == 0 {
		return out, nil
	}
	q, args := outcomesQuery(since, until, bucket)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outcomes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			webhook      string
			b, ok, total int64
		)
		if err := rows.Scan(&webhook, &b, &ok, &total); err != nil {
			return nil, fmt.Errorf("sqlite: outcomes: %w", err)
		}
		if b < 0 || b >= int64(n) {
			return nil, fmt.Errorf("sqlite: outcomes: webhook %q: bucket %d out of range [0, %d)", webhook, b, n)
		}
		bs := out[webhook]
		if bs == nil {
			bs = store.NewOutcomeBuckets(since, bucket, n)
			out[webhook] = bs
		}
		bs[b].OK += int(ok)
		bs[b].Failed += int(total - ok)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: outcomes: %w", err)
	}
	return out, nil
}
