// Package sqlite is the embedded store: one SQLite file in WAL mode, written
// through a single connection and read through a small pool. It is the
// default store of cdrgw; it serves one gateway process.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/internal/group"
	"github.com/cdrgw/cdrgw/store/internal/migrate"
	"github.com/cdrgw/cdrgw/store/internal/row"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of store.Store.
type Store struct {
	w   *sql.DB // the one writer connection
	r   *sql.DB // readers (the writer itself for :memory:)
	now func() time.Time

	group *group.Committer // combines concurrent Accepts

	ckpt     *sql.DB       // checkpoints the WAL in the background; nil for :memory:
	ckptStop chan struct{} // closed by Close
	ckptDone chan struct{} // closed when the checkpointer has returned
	stopOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// pragmas configure every connection. wal_autocheckpoint(8000): a commit
// checkpoints only when the WAL has grown past 8,000 pages (SQLite's default
// is 1,000), which happens only when the background checkpointer falls
// behind (see checkpointer).
const pragmas = "_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(8000)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(on)&_txlock=immediate"

// Open opens (creating if needed) the SQLite database at path and applies
// the migrations. The path ":memory:" gives a private in-memory database.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: path: is required")
	}
	s := &Store{now: time.Now}
	s.group = group.New(s.acceptTx)
	if path == ":memory:" {
		db, err := sql.Open("sqlite", "file::memory:?"+pragmas)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open :memory:: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.w, s.r = db, db
	} else {
		dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
		w, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxIdleTime(0)
		r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
		}
		r.SetMaxOpenConns(4)
		r.SetMaxIdleConns(4)
		s.w, s.r = w, r
		ckpt, err := sql.Open("sqlite", dsn)
		if err != nil {
			w.Close()
			r.Close()
			return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
		}
		ckpt.SetMaxOpenConns(1)
		ckpt.SetMaxIdleConns(1)
		ckpt.SetConnMaxIdleTime(0)
		s.ckpt = ckpt
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.ckpt != nil {
		s.ckptStop, s.ckptDone = make(chan struct{}), make(chan struct{})
		go s.checkpointer()
	}
	return s, nil
}

// checkpointInterval is how often the background checkpointer copies the
// WAL into the database file.
const checkpointInterval = 250 * time.Millisecond

// checkpointer copies the WAL into the database file every
// checkpointInterval until Close. SQLite would otherwise do it inside the
// commit that takes the WAL past 1,000 pages, on the one writer connection:
// with deliveries written several thousand times a second that was a
// checkpoint every few hundred milliseconds, each copying pages that the
// next rewrites (measured: 10-25% less CPU per delivery and more deliveries
// per second with this).
//
// Each round runs two PASSIVE checkpoints (they never wait for a lock).
// The first, on the checkpointer's own connection, copies the bulk while
// the writer goes on. Under a steady flow of commits it never catches up
// (frames are added while it copies), and SQLite starts the WAL over from
// its beginning only when a write transaction begins with the whole WAL
// copied; the WAL would then grow until the writer's automatic checkpoint
// (see pragmas) copied the rest inside a commit: measured at 500 events/s, a
// 10 ms stall of every write every half second, which made the p99 latency.
// The second, on the writer connection between two of its transactions,
// copies only what was committed during the first (about 1.5 ms, its
// syncs included) and leaves nothing behind, so the next write starts the
// WAL over.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	failed := false
	for {
		select {
		case <-s.ckptStop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := s.ckpt.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		if err == nil {
			_, err = s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
		cancel()
		// A failure is not fatal (the writer's automatic checkpoint still
		// bounds the WAL); it is logged once until checkpoints work again.
		if err != nil && !failed {
			slog.Warn("sqlite: background WAL checkpoint failed; the writer checkpoints instead", "err", err)
		}
		failed = err != nil
	}
}

// Close implements store.Store.
func (s *Store) Close() error {
	var err error
	if s.ckpt != nil {
		s.stopOnce.Do(func() {
			if s.ckptStop != nil {
				close(s.ckptStop)
				<-s.ckptDone
			}
		})
		err = s.ckpt.Close()
	}
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Migrate implements store.Store.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, us(s.now())); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

func us(t time.Time) int64 { return t.UnixMicro() }

func fromUS(v int64) time.Time { return time.UnixMicro(v).UTC() }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Accept implements store.Store. Concurrent calls are committed together
// (see store/internal/group); each batch stays in one transaction.
func (s *Store) Accept(ctx context.Context, batch []store.NewEvent) ([]bool, error) {
	return s.group.Accept(ctx, batch)
}

// acceptTx stores batch in one transaction.
func (s *Store) acceptTx(ctx context.Context, batch []store.NewEvent) ([]bool, error) {
	evs := make([]row.EventRow, len(batch))
	for i := range batch {
		r, err := row.MakeEventRow(&batch[i].Event)
		if err != nil {
			return nil, fmt.Errorf("sqlite: accept: %w", err)
		}
		for j := range batch[i].Deliveries {
			if err := row.CheckNewDelivery(r.ID, &batch[i].Deliveries[j]); err != nil {
				return nil, fmt.Errorf("sqlite: accept: %w", err)
			}
		}
		evs[i] = r
	}
	now := us(s.now())
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: accept: %w", err)
	}
	defer tx.Rollback()
	// seq: one more than the largest (events_seq); see migrations/0003_console.sql.
	insEv, err := tx.PrepareContext(ctx, `INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM events)) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: accept: %w", err)
	}
	defer insEv.Close()
	var insDel, debUpd *sql.Stmt
	fresh := make([]bool, len(batch))
	for i, ne := range batch {
		e := &evs[i]
		res, err := insEv.ExecContext(ctx, e.ID, e.Type, us(e.Time), e.SourceKind, e.SourceName, e.RecordID, e.CallID, e.CallerNumber, e.Body, now)
		if err != nil {
			return nil, fmt.Errorf("sqlite: accept: insert event %q: %w", e.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("sqlite: accept: insert event %q: %w", e.ID, err)
		}
		fresh[i] = n == 1
		if !fresh[i] && !ne.Force {
			continue
		}
		for _, d := range ne.Deliveries {
			next := now
			if !d.NotBefore.IsZero() {
				next = us(d.NotBefore)
			}
			if d.Debounce {
				if debUpd == nil {
					if debUpd, err = tx.PrepareContext(ctx, `UPDATE deliveries SET event_id = ?, next_attempt_at = ?, updated_at = ?
						WHERE seq = (SELECT seq FROM deliveries WHERE webhook = ? AND key = ? AND status = 'pending'
							AND event_type = ? AND debounce = 1 AND attempts = 0 AND lease_owner IS NULL ORDER BY seq DESC LIMIT 1)`); err != nil {
						return nil, fmt.Errorf("sqlite: accept: %w", err)
					}
					defer debUpd.Close()
				}
				res, err := debUpd.ExecContext(ctx, e.ID, next, now, d.Webhook, d.Key, e.Type)
				if err != nil {
					return nil, fmt.Errorf("sqlite: accept: debounce delivery %q of event %q: %w", d.ID, e.ID, err)
				}
				if n, err := res.RowsAffected(); err == nil && n > 0 {
					continue
				}
			}
			if insDel == nil {
				if insDel, err = tx.PrepareContext(ctx, `INSERT INTO deliveries (id, webhook, event_id, event_type, key, status, next_attempt_at, created_at, updated_at, ordered, debounce)
					VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`); err != nil {
					return nil, fmt.Errorf("sqlite: accept: %w", err)
				}
				defer insDel.Close()
			}
			if _, err := insDel.ExecContext(ctx, d.ID, d.Webhook, e.ID, e.Type, d.Key, next, now, now, b2i(d.Ordered), b2i(d.Debounce)); err != nil {
				return nil, fmt.Errorf("sqlite: accept: insert delivery %q of event %q: %w", d.ID, e.ID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: accept: commit: %w", err)
	}
	return fresh, nil
}

const deliveryCols = `d.seq, d.id, d.webhook, d.event_id, d.event_type, d.key, d.status, d.attempts, d.next_attempt_at, d.created_at, d.updated_at, d.last_error, d.ordered, d.debounce, d.lease_owner, d.lease_until`

type scanner interface{ Scan(dest ...any) error }

func scanDelivery(sc scanner, extra ...any) (store.Delivery, int64, error) {
	var (
		d                          store.Delivery
		seq, next, created, updted int64
		ordered, debounce          int
		owner                      sql.NullString
		until                      sql.NullInt64
		typ, status                string
	)
	dest := append([]any{&seq, &d.ID, &d.Webhook, &d.EventID, &typ, &d.Key, &status, &d.Attempts, &next, &created, &updted, &d.LastError, &ordered, &debounce, &owner, &until}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return d, 0, err
	}
	d.EventType, d.Status = cdr.Type(typ), store.Status(status)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromUS(next), fromUS(created), fromUS(updted)
	d.Ordered, d.Debounce = ordered != 0, debounce != 0
	d.LeaseOwner = owner.String
	if until.Valid {
		d.LeaseUntil = fromUS(until.Int64)
	}
	return d, seq, nil
}

// claimQuery returns the claim's SELECT; its arguments are ?1 now, ?2 the
// excluded webhooks (JSON array), ?3 the limit and, for a claim of one
// webhook (one, true), ?4 the webhook.
//
// INDEXED BY: without statistics SQLite picks deliveries_status_seq for
// status = 'pending', which visits every pending row (leased ones included)
// and sorts them on each claim: claims slow down as the backlog grows
// (quadratic overall). The partial due indexes yield rows in claim order and
// hold only pending ones. A claim of one webhook (one, true) goes through
// deliveries_due_webhook, which holds that webhook's rows together: on
// deliveries_due it would step over every due row of the other webhooks,
// and a hanging endpoint's backlog would slow every other webhook's claims.
func claimQuery(one bool) string {
	index, webhook := "deliveries_due", ""
	if one {
		index, webhook = "deliveries_due_webhook", "AND d.webhook = ?4"
	}
	return `SELECT ` + deliveryCols + `, e.body FROM deliveries d INDEXED BY ` + index + ` JOIN events e ON e.id = d.event_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND (d.lease_until IS NULL OR d.lease_until <= ?1)
		AND d.webhook NOT IN (SELECT value FROM json_each(?2)) ` + webhook + `
		AND (d.ordered = 0 OR NOT EXISTS (SELECT 1 FROM deliveries p INDEXED BY deliveries_pending_key WHERE p.webhook = d.webhook AND p.key = d.key AND p.status = 'pending' AND p.seq < d.seq))
		ORDER BY d.next_attempt_at, d.seq LIMIT ?3`
}

// Claim implements store.Store.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Owner == "" {
		return nil, errors.New("sqlite: claim: owner: is required")
	}
	limit := max(p.Limit, 1)
	exclude, err := jsonArray(p.Exclude)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	now := us(p.Now)
	until := us(p.Now.Add(p.Lease))
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	defer tx.Rollback()
	args := []any{now, exclude, limit}
	if p.Webhook != "" {
		args = append(args, p.Webhook)
	}
	rows, err := tx.QueryContext(ctx, claimQuery(p.Webhook != ""), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	var (
		jobs   []store.Job
		seqs   []int64
		bodies [][]byte
	)
	for rows.Next() {
		var body []byte
		d, seq, err := scanDelivery(rows, &body)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		d.LeaseOwner, d.LeaseUntil, d.NextAttemptAt = p.Owner, fromUS(until), fromUS(until)
		jobs = append(jobs, store.Job{Delivery: d, Lease: p.Owner})
		seqs = append(seqs, seq)
		bodies = append(bodies, body)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	ids, err := jsonArray(seqs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_owner = ?1, lease_until = ?2, next_attempt_at = ?2 WHERE seq IN (SELECT value FROM json_each(?3))`, p.Owner, until, ids); err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: claim: commit: %w", err)
	}
	// Events are decoded after the commit: the one writer connection is
	// not held while JSON is parsed. A body that does not decode (never
	// written by Accept) leaves its lease to expire.
	if err := decodeJobs(jobs, bodies); err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	return jobs, nil
}

const insAttempt = `INSERT INTO attempts (delivery_id, webhook, n, at, manual, request, response, latency_ms, error)
	SELECT d.id, d.webhook, CASE WHEN ?1 > 0 THEN ?1 ELSE COALESCE((SELECT max(n) FROM attempts a WHERE a.delivery_id = d.id), 0) + 1 END,
		?2, ?3, ?4, ?5, ?6, ?7 FROM deliveries d WHERE d.id = ?8`

func (s *Store) insertAttempt(ctx context.Context, stmt *sql.Stmt, a *store.Attempt, manual bool) error {
	args, err := s.attemptArgs(a, manual)
	if err != nil {
		return err
	}
	return execAttempt(ctx, stmt, a.DeliveryID, args)
}

// attemptArgs encodes an attempt into the arguments of insAttempt.
func (s *Store) attemptArgs(a *store.Attempt, manual bool) ([]any, error) {
	req, err := row.EncodeRequest(a.Request)
	if err != nil {
		return nil, fmt.Errorf("attempt of delivery %q: encode request: %w", a.DeliveryID, err)
	}
	resp, err := row.EncodeResponse(a.Response)
	if err != nil {
		return nil, fmt.Errorf("attempt of delivery %q: encode response: %w", a.DeliveryID, err)
	}
	at := a.At
	if at.IsZero() {
		at = s.now()
	}
	var respArg any
	if resp != nil {
		respArg = resp
	}
	return []any{a.N, us(at), b2i(manual), req, respArg, a.LatencyMS, a.Error, a.DeliveryID}, nil
}

func execAttempt(ctx context.Context, stmt *sql.Stmt, deliveryID string, args []any) error {
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("attempt of delivery %q: %w", deliveryID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("attempt of delivery %q: %w", deliveryID, store.ErrNotFound)
	}
	return nil
}

// Finish implements store.Store.
func (s *Store) Finish(ctx context.Context, results []store.Result) error {
	for i := range results {
		if err := row.CheckResult(&results[i]); err != nil {
			return fmt.Errorf("sqlite: finish: %w", err)
		}
	}
	if len(results) == 0 {
		return nil
	}
	// Attempts are encoded before the transaction: the one writer
	// connection is not held while JSON is built.
	args := make([][]any, len(results))
	for i := range results {
		a, err := s.attemptArgs(&results[i].Attempt, results[i].Attempt.Manual)
		if err != nil {
			return fmt.Errorf("sqlite: finish: %w", err)
		}
		args[i] = a
	}
	now := us(s.now())
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: finish: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, insAttempt)
	if err != nil {
		return fmt.Errorf("sqlite: finish: %w", err)
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, `UPDATE deliveries SET status = ?1, attempts = attempts + 1,
		next_attempt_at = CASE WHEN ?1 = 'pending' THEN ?2 ELSE next_attempt_at END,
		updated_at = ?3, last_error = ?4, lease_owner = NULL, lease_until = NULL
		WHERE id = ?5 AND lease_owner = ?6 AND status = 'pending'`)
	if err != nil {
		return fmt.Errorf("sqlite: finish: %w", err)
	}
	defer upd.Close()
	for i := range results {
		r := &results[i]
		if err := execAttempt(ctx, ins, r.Attempt.DeliveryID, args[i]); err != nil {
			return fmt.Errorf("sqlite: finish: %w", err)
		}
		if _, err := upd.ExecContext(ctx, string(r.Status), us(r.NextAttemptAt), now, r.Attempt.Error, r.Attempt.DeliveryID, r.Owner); err != nil {
			return fmt.Errorf("sqlite: finish: delivery %q: %w", r.Attempt.DeliveryID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: finish: commit: %w", err)
	}
	return nil
}

// AddAttempt implements store.Store.
func (s *Store) AddAttempt(ctx context.Context, a store.Attempt, succeeded bool) error {
	if a.DeliveryID == "" {
		return errors.New("sqlite: add attempt: delivery_id: is required")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: add attempt: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, insAttempt)
	if err != nil {
		return fmt.Errorf("sqlite: add attempt: %w", err)
	}
	defer ins.Close()
	if err := s.insertAttempt(ctx, ins, &a, true); err != nil {
		return fmt.Errorf("sqlite: add attempt: %w", err)
	}
	if succeeded {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'delivered', updated_at = ?, last_error = '', lease_owner = NULL, lease_until = NULL WHERE id = ?`,
			us(s.now()), a.DeliveryID); err != nil {
			return fmt.Errorf("sqlite: add attempt: delivery %q: %w", a.DeliveryID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: add attempt: commit: %w", err)
	}
	return nil
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (cdr.Event, error) {
	var body []byte
	err := s.r.QueryRowContext(ctx, `SELECT body FROM events WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return cdr.Event{}, fmt.Errorf("sqlite: event %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return cdr.Event{}, fmt.Errorf("sqlite: event %q: %w", id, err)
	}
	ev, err := row.DecodeEvent(body)
	if err != nil {
		return cdr.Event{}, fmt.Errorf("sqlite: event %q: %w", id, err)
	}
	return ev, nil
}

// GetDelivery implements store.Store.
func (s *Store) GetDelivery(ctx context.Context, id string) (store.Delivery, []store.Attempt, error) {
	d, _, err := scanDelivery(s.r.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM deliveries d WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Delivery{}, nil, fmt.Errorf("sqlite: delivery %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Delivery{}, nil, fmt.Errorf("sqlite: delivery %q: %w", id, err)
	}
	as, err := s.attempts(ctx, `SELECT `+attemptCols+` FROM attempts WHERE delivery_id = ? ORDER BY n, id`, id)
	if err != nil {
		return store.Delivery{}, nil, fmt.Errorf("sqlite: delivery %q: %w", id, err)
	}
	return d, as, nil
}

const attemptCols = `delivery_id, webhook, n, at, manual, request, response, latency_ms, error`

func (s *Store) attempts(ctx context.Context, q string, args ...any) ([]store.Attempt, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var as []store.Attempt
	for rows.Next() {
		var (
			a         store.Attempt
			at        int64
			manual    int
			req, resp []byte
		)
		if err := rows.Scan(&a.DeliveryID, &a.Webhook, &a.N, &at, &manual, &req, &resp, &a.LatencyMS, &a.Error); err != nil {
			return nil, err
		}
		a.At, a.Manual = fromUS(at), manual != 0
		if err := row.DecodeAttemptJSON(&a, req, resp); err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, f store.Filter) ([]store.Delivery, string, error) {
	cursor, err := store.DecodeCursor(f.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.Webhook != "" {
		add("d.webhook = ?", f.Webhook)
	}
	if f.Status != "" {
		add("d.status = ?", string(f.Status))
	}
	if f.EventType != "" {
		add("d.event_type = ?", string(f.EventType))
	}
	if f.EventID != "" {
		add("d.event_id = ?", f.EventID)
	}
	if !f.Since.IsZero() {
		add("d.created_at >= ?", us(f.Since))
	}
	if !f.Until.IsZero() {
		add("d.created_at < ?", us(f.Until))
	}
	if cursor > 0 {
		add("d.seq < ?", cursor)
	}
	q := `SELECT ` + deliveryCols + ` FROM deliveries d`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.PageLimit()
	q += ` ORDER BY d.seq DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	defer rows.Close()
	var (
		ds      []store.Delivery
		lastSeq int64
		more    bool
	)
	for rows.Next() {
		if len(ds) == limit {
			more = true
			break
		}
		d, seq, err := scanDelivery(rows)
		if err != nil {
			return nil, "", fmt.Errorf("sqlite: list deliveries: %w", err)
		}
		ds = append(ds, d)
		lastSeq = seq
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	if !more {
		return ds, "", nil
	}
	return ds, store.EncodeCursor(lastSeq), nil
}

// EventDelivered implements store.Store.
func (s *Store) EventDelivered(ctx context.Context, eventID string) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE event_id = ? AND status = 'delivered')`, eventID).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: event %q delivered: %w", eventID, err)
	}
	return n != 0, nil
}

// RecentAttempts implements store.Store.
func (s *Store) RecentAttempts(ctx context.Context, webhook string, n int) ([]store.Attempt, error) {
	if n <= 0 {
		return nil, nil
	}
	as, err := s.attempts(ctx, `SELECT `+attemptCols+` FROM attempts WHERE webhook = ? ORDER BY at DESC, id DESC LIMIT ?`, webhook, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recent attempts of %q: %w", webhook, err)
	}
	return as, nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	st := store.Stats{ByStatus: map[store.Status]int64{}}
	for _, status := range store.Statuses {
		st.ByStatus[status] = 0
	}
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*) FROM deliveries GROUP BY status`)
	if err != nil {
		return st, fmt.Errorf("sqlite: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status string
			n      int64
		)
		if err := rows.Scan(&status, &n); err != nil {
			return st, fmt.Errorf("sqlite: stats: %w", err)
		}
		st.ByStatus[store.Status(status)] = n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("sqlite: stats: %w", err)
	}
	st.Pending = st.ByStatus[store.StatusPending]
	var (
		due    int64
		oldest sql.NullInt64
	)
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?`, us(now)).Scan(&due); err != nil {
		return st, fmt.Errorf("sqlite: stats: %w", err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT min(created_at) FROM deliveries WHERE status = 'pending'`).Scan(&oldest); err != nil {
		return st, fmt.Errorf("sqlite: stats: %w", err)
	}
	st.Due = due
	if oldest.Valid {
		st.OldestPending = fromUS(oldest.Int64)
	}
	return st, nil
}

// SetPaused implements store.Store.
func (s *Store) SetPaused(ctx context.Context, webhook string, paused bool) error {
	if webhook == "" {
		return errors.New("sqlite: set paused: webhook: is required")
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO webhook_state (name, paused) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused`, webhook, b2i(paused)); err != nil {
		return fmt.Errorf("sqlite: set paused %q: %w", webhook, err)
	}
	return nil
}

// Paused implements store.Store.
func (s *Store) Paused(ctx context.Context) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, paused FROM webhook_state`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: paused: %w", err)
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var (
			name   string
			paused int
		)
		if err := rows.Scan(&name, &paused); err != nil {
			return nil, fmt.Errorf("sqlite: paused: %w", err)
		}
		m[name] = paused != 0
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: paused: %w", err)
	}
	return m, nil
}

// PutWebhook implements store.Store.
func (s *Store) PutWebhook(ctx context.Context, w store.StoredWebhook) error {
	if err := row.CheckWebhook(&w); err != nil {
		return fmt.Errorf("sqlite: put webhook: %w", err)
	}
	now := s.now()
	created := w.CreatedAt
	if created.IsZero() {
		created = now
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO webhooks (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
		w.Name, string(w.Spec), us(created), us(now)); err != nil {
		return fmt.Errorf("sqlite: put webhook %q: %w", w.Name, err)
	}
	return nil
}

// DeleteWebhook implements store.Store.
func (s *Store) DeleteWebhook(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM webhooks WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("sqlite: delete webhook %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: delete webhook %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// ListWebhooks implements store.Store.
func (s *Store) ListWebhooks(ctx context.Context) ([]store.StoredWebhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, spec, created_at, updated_at FROM webhooks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhooks: %w", err)
	}
	defer rows.Close()
	var ws []store.StoredWebhook
	for rows.Next() {
		var (
			w                store.StoredWebhook
			spec             string
			created, updated int64
		)
		if err := rows.Scan(&w.Name, &spec, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: list webhooks: %w", err)
		}
		w.Spec, w.CreatedAt, w.UpdatedAt = []byte(spec), fromUS(created), fromUS(updated)
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list webhooks: %w", err)
	}
	return ws, nil
}

func jsonArray[T any](v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}
