// Package postgres is the PostgreSQL store (pgx). Several gateway replicas
// may share one database: claims use FOR UPDATE SKIP LOCKED so each delivery
// goes to one replica, and migrations run under an advisory lock.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/internal/group"
	"github.com/cdrgw/cdrgw/store/internal/migrate"
	"github.com/cdrgw/cdrgw/store/internal/row"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool   *pgxpool.Pool
	schema string // first schema of the DSN's search_path, created by Migrate; "" for none
	now    func() time.Time

	group *group.Committer // combines concurrent Accepts

	cursors claimCursors // where the next claim of a webhook starts
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string; pool_max_conns and search_path are honoured) and applies
// the migrations. When search_path names a schema that does not exist, it is
// created.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", redactErr(err))
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	s := &Store{now: time.Now, schema: firstSchema(cfg.ConnConfig.RuntimeParams["search_path"])}
	s.group = group.New(s.acceptTx)
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", redactErr(err))
	}
	if err := s.Migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// redactErr drops the details of a pgx connection-string error, which may
// quote the password.
func redactErr(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("invalid connection string (details withheld: they may quote the password)")
	}
	return err
}

func firstSchema(searchPath string) string {
	first, _, _ := strings.Cut(searchPath, ",")
	first = strings.Trim(strings.TrimSpace(first), `"`)
	if first == "$user" {
		return ""
	}
	return first
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Migrate implements store.Store.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7246810, hashtext(current_setting('search_path')))`); err != nil {
			return err
		}
		if s.schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
				return fmt.Errorf("create schema %q: %w", s.schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		for _, m := range ms {
			if containsInt(versions, m.Version) {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

func containsInt(vs []int, v int) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// Accept implements store.Store. Concurrent calls are committed together
// (see store/internal/group); each batch stays in one transaction.
func (s *Store) Accept(ctx context.Context, batch []store.NewEvent) ([]bool, error) {
	return s.group.Accept(ctx, batch)
}

// acceptTx stores batch in one transaction.
func (s *Store) acceptTx(ctx context.Context, batch []store.NewEvent) ([]bool, error) {
	if len(batch) == 0 {
		return []bool{}, nil
	}
	n := len(batch)
	var (
		ids, types, kinds, names, recIDs, callIDs, callers, bodies = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		times                                                      = make([]time.Time, n)
	)
	for i := range batch {
		r, err := row.MakeEventRow(&batch[i].Event)
		if err != nil {
			return nil, fmt.Errorf("postgres: accept: %w", err)
		}
		for j := range batch[i].Deliveries {
			if err := row.CheckNewDelivery(r.ID, &batch[i].Deliveries[j]); err != nil {
				return nil, fmt.Errorf("postgres: accept: %w", err)
			}
		}
		ids[i], types[i], times[i], kinds[i], names[i] = r.ID, r.Type, r.Time, r.SourceKind, r.SourceName
		recIDs[i], callIDs[i], callers[i], bodies[i] = r.RecordID, r.CallID, r.CallerNumber, string(r.Body)
	}
	now := s.now().UTC()
	fresh := make([]bool, n)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at)
			SELECT u.id, u.type, u.time, u.kind, u.name, u.rid, u.cid, u.caller, u.body::json, $10
			FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
				AS u(id, type, time, kind, name, rid, cid, caller, body)
			ON CONFLICT (id) DO NOTHING RETURNING id`,
			ids, types, times, kinds, names, recIDs, callIDs, callers, bodies, now)
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		isNew := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			isNew[id] = true
		}
		// Deliveries go in batch order (so seq follows it): runs of plain
		// deliveries as one multi-row insert, debounced ones one by one.
		var (
			b                                       pgx.Batch
			dIDs, dWebhooks, dEvents, dTypes, dKeys []string
			dNext                                   []time.Time
			dOrdered                                []bool
		)
		flush := func() {
			if len(dIDs) == 0 {
				return
			}
			b.Queue(`INSERT INTO deliveries (id, webhook, event_id, event_type, key, status, next_attempt_at, created_at, updated_at, ordered, debounce)
				SELECT u.id, u.webhook, u.event_id, u.event_type, u.key, 'pending', u.next, $7, $7, u.ordered, false
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $8::bool[]) WITH ORDINALITY
					AS u(id, webhook, event_id, event_type, key, next, ordered, ord)
				ORDER BY u.ord`,
				dIDs, dWebhooks, dEvents, dTypes, dKeys, dNext, now, dOrdered)
			dIDs, dWebhooks, dEvents, dTypes, dKeys, dNext, dOrdered = nil, nil, nil, nil, nil, nil, nil
		}
		for i, ne := range batch {
			if isNew[ids[i]] {
				fresh[i] = true
				delete(isNew, ids[i]) // a later copy in the same batch is not new
			} else if !ne.Force {
				continue
			}
			for _, d := range ne.Deliveries {
				next := now
				if !d.NotBefore.IsZero() {
					next = d.NotBefore
				}
				if d.Debounce {
					flush()
					b.Queue(`WITH u AS (
						UPDATE deliveries SET event_id = $1, next_attempt_at = $2, updated_at = $3
						WHERE seq = (SELECT seq FROM deliveries WHERE webhook = $4 AND key = $5 AND status = 'pending'
							AND event_type = $6 AND debounce AND attempts = 0 AND lease_owner IS NULL
							ORDER BY seq DESC LIMIT 1 FOR UPDATE)
						RETURNING 1)
					INSERT INTO deliveries (id, webhook, event_id, event_type, key, status, next_attempt_at, created_at, updated_at, ordered, debounce)
					SELECT $7, $4, $1, $6, $5, 'pending', $2, $3, $3, $8, true WHERE NOT EXISTS (SELECT 1 FROM u)`,
						ids[i], next, now, d.Webhook, d.Key, types[i], d.ID, d.Ordered)
					continue
				}
				dIDs, dWebhooks, dEvents, dTypes, dKeys = append(dIDs, d.ID), append(dWebhooks, d.Webhook), append(dEvents, ids[i]), append(dTypes, types[i]), append(dKeys, d.Key)
				dNext, dOrdered = append(dNext, next), append(dOrdered, d.Ordered)
			}
		}
		flush()
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, &b).Close(); err != nil {
				return fmt.Errorf("insert deliveries: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: accept: %w", err)
	}
	return fresh, nil
}

const deliveryCols = `d.seq, d.id, d.webhook, d.event_id, d.event_type, d.key, d.status, d.attempts, d.next_attempt_at, d.created_at, d.updated_at, d.last_error, d.ordered, d.debounce, d.lease_owner, d.lease_until`

func scanDelivery(sc pgx.Row, extra ...any) (store.Delivery, int64, error) {
	var (
		d           store.Delivery
		seq         int64
		owner       *string
		until       *time.Time
		typ, status string
	)
	dest := append([]any{&seq, &d.ID, &d.Webhook, &d.EventID, &typ, &d.Key, &status, &d.Attempts, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt, &d.LastError, &d.Ordered, &d.Debounce, &owner, &until}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return d, 0, err
	}
	d.EventType, d.Status = cdr.Type(typ), store.Status(status)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = d.NextAttemptAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if owner != nil {
		d.LeaseOwner = *owner
	}
	if until != nil {
		d.LeaseUntil = until.UTC()
	}
	return d, seq, nil
}

// claimQuery returns the claim statement; its arguments are $1 the owner,
// $2 the lease end, $3 now, $4 the excluded webhooks, $5 the limit and, for
// a claim of one webhook (one, true), $6 the webhook.
//
// A claim of every webhook reads deliveries_due; a claim of one webhook
// (what the engine runs) reads deliveries_due_webhook, where that webhook's
// pending rows are together in due order: on deliveries_due it would step
// over every due row of the other webhooks, so a hanging endpoint's backlog
// would slow every other webhook's claims. The condition is a plain
// "webhook = $6": an "OR $6 is empty" in front of it would keep the planner
// off the index. The index's predicate keeps it out of the ordering check
// (see migrations/0002_claim_by_webhook.sql).
func claimQuery(one, after bool) string {
	webhook := ""
	if one {
		webhook = "AND webhook = $6"
	}
	if after {
		webhook += " AND (next_attempt_at, seq) > ($7, $8)"
	}
	return `WITH c AS (
			UPDATE deliveries d SET lease_owner = $1, lease_until = $2
			FROM (SELECT seq, next_attempt_at FROM deliveries d
				WHERE status = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
				AND NOT (webhook = ANY($4::text[])) ` + webhook + `
				AND (NOT ordered OR NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.webhook = d.webhook AND p.key = d.key AND p.status = 'pending' AND p.seq < d.seq))
				ORDER BY next_attempt_at, seq LIMIT $5 FOR UPDATE SKIP LOCKED) s
			WHERE d.seq = s.seq
			RETURNING d.*, s.next_attempt_at AS due)
		SELECT ` + deliveryCols + `, e.body::text FROM c d JOIN events e ON e.id = d.event_id ORDER BY d.due, d.seq`
}

// claimCursors remembers, per webhook, the claim order position (due time,
// seq) of the last delivery its latest full claim took, so that the next
// claim of that webhook starts after it.
//
// A claim leases rows without moving them in the due index (so that the
// update stays HOT, see migrations/0004_delivery_throughput.sql), so while a webhook
// has a backlog its leased rows stay at the front of the index and every
// claim would read past each of them, fetching its row to see the lease:
// with claim-ahead that was most of a claim's work. Rows before the cursor
// that become claimable later (a lease that expired, a claim given back)
// are taken by the next claim from the front, which happens after a claim
// that was not full, when the cursor is older than cursorMaxAge, and always
// for ordered deliveries (a later delivery of a key becomes claimable when
// the earlier one finishes, behind the cursor).
type claimCursors struct {
	mu sync.Mutex
	m  map[string]claimCursor
}

type claimCursor struct {
	due time.Time
	seq int64
	set time.Time // when the cursor was set, by the store's clock
}

// cursorMaxAge bounds how long rows behind a cursor can wait.
const cursorMaxAge = time.Second

// get returns the cursor of webhook, if it has a fresh one.
func (c *claimCursors) get(webhook string, now time.Time) (claimCursor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[webhook]
	if !ok || now.Sub(cur.set) >= cursorMaxAge || now.Before(cur.set) {
		return claimCursor{}, false
	}
	return cur, true
}

// update records the outcome of a claim of webhook that started from the
// front (fromFront) or from a cursor: a full claim of unordered deliveries
// moves the cursor forward to its last row; any other claim clears it.
func (c *claimCursors) update(webhook string, full, ordered, fromFront bool, last claimCursor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !full || ordered {
		delete(c.m, webhook)
		return
	}
	cur, ok := c.m[webhook]
	if ok && (last.due.Before(cur.due) || last.due.Equal(cur.due) && last.seq <= cur.seq) {
		return // a parallel claim got further
	}
	if ok && !fromFront {
		last.set = cur.set // age counts from the last claim from the front
	}
	if c.m == nil {
		c.m = make(map[string]claimCursor)
	}
	c.m[webhook] = last
}

// Claim implements store.Store.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Owner == "" {
		return nil, errors.New("postgres: claim: owner: is required")
	}
	exclude := p.Exclude
	if exclude == nil {
		exclude = []string{}
	}
	until := p.Now.Add(p.Lease)
	// The due index yields rows in claim order and marks dead entries as it
	// goes; a bitmap scan (chosen on stale statistics) would sort every
	// pending row and revisit every dead one on each claim. Likewise without
	// statistics (a young table), the planner reads every pending row of the
	// webhook through deliveries_pending_key and sorts them, on every claim:
	// enable_sort = off keeps it on the due index, which is already in claim
	// order (for a claim of one webhook, on deliveries_due_webhook). The
	// disabled-sort penalty would trigger JIT compilation (hundreds of ms):
	// jit off.
	//
	// One round trip: the settings and the claim go in one batch without
	// BEGIN and COMMIT, which PostgreSQL runs as one implicit transaction
	// (the batch's single Sync ends it), so the transaction-local settings
	// hold for the claim and end with it.
	var b pgx.Batch
	b.Queue(`SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
		set_config('jit', 'off', true), ` + asyncCommit)
	limit := max(p.Limit, 1)
	args := []any{p.Owner, until, p.Now, exclude, limit}
	var (
		cur   claimCursor
		after bool
	)
	clock := s.now()
	if p.Webhook != "" {
		args = append(args, p.Webhook)
		if cur, after = s.cursors.get(p.Webhook, clock); after {
			args = append(args, cur.due, cur.seq)
		}
	}
	b.Queue(claimQuery(p.Webhook != "", after), args...)
	var (
		jobs    []store.Job
		bodies  [][]byte
		last    claimCursor
		ordered bool
	)
	err := func() error {
		br := s.pool.SendBatch(ctx, &b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, _ := br.Query()
		defer rows.Close()
		for rows.Next() {
			var body string // a string is a copy: it outlives the batch
			d, seq, err := scanDelivery(rows, &body)
			if err != nil {
				return err
			}
			// The claim leaves next_attempt_at as it was: it is the row's
			// position in claim order.
			last = claimCursor{due: d.NextAttemptAt, seq: seq, set: clock}
			ordered = ordered || d.Ordered
			jobs = append(jobs, store.Job{Delivery: d, Lease: p.Owner})
			bodies = append(bodies, []byte(body))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	if p.Webhook != "" {
		s.cursors.update(p.Webhook, len(jobs) == limit, ordered, !after, last)
	}
	// Events are decoded after the commit, so that locks are held shorter.
	if err := decodeJobs(jobs, bodies); err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	return jobs, nil
}

// asyncCommit, run first in a transaction, makes its commit return before
// its WAL reaches disk (synchronous_commit = off for this transaction only).
// Claim and Finish use it: a crash may then forget the last fraction of a
// second of leases and results (at most three times wal_writer_delay), and
// their deliveries are sent again, which at-least-once delivery allows and
// the stable webhook-id lets receivers drop; the database stays consistent.
// Accept never uses it: an acknowledged event must be on disk. Claims and
// results are written one transaction at a time by the engine, so waiting
// for a WAL flush on each limited PostgreSQL throughput.
const asyncCommit = `set_config('synchronous_commit', 'off', true)`

type attemptCols struct {
	ids, reqs, errs []string
	resps           []*string
	ns              []int32
	ats             []time.Time
	manual          []bool
	lat             []int64
}

func (c *attemptCols) add(a *store.Attempt, manual bool, now time.Time) error {
	req, err := row.EncodeRequest(a.Request)
	if err != nil {
		return fmt.Errorf("attempt of delivery %q: encode request: %w", a.DeliveryID, err)
	}
	resp, err := row.EncodeResponse(a.Response)
	if err != nil {
		return fmt.Errorf("attempt of delivery %q: encode response: %w", a.DeliveryID, err)
	}
	var rp *string
	if resp != nil {
		r := string(resp)
		rp = &r
	}
	at := a.At
	if at.IsZero() {
		at = now
	}
	c.ids, c.reqs, c.errs, c.resps = append(c.ids, a.DeliveryID), append(c.reqs, string(req)), append(c.errs, a.Error), append(c.resps, rp)
	c.ns, c.ats, c.manual, c.lat = append(c.ns, int32(a.N)), append(c.ats, at), append(c.manual, manual), append(c.lat, a.LatencyMS)
	return nil
}

const insertAttempts = `INSERT INTO attempts (delivery_id, webhook, n, at, manual, request, response, latency_ms, error)
		SELECT d.id, d.webhook, CASE WHEN u.n > 0 THEN u.n ELSE COALESCE((SELECT max(a.n) FROM attempts a WHERE a.delivery_id = d.id), 0) + 1 END,
			u.at, u.manual, u.req::json, u.resp::json, u.lat, u.err
		FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::bool[], $5::text[], $6::text[], $7::bigint[], $8::text[]) WITH ORDINALITY
			AS u(id, n, at, manual, req, resp, lat, err, ord)
		JOIN deliveries d ON d.id = u.id ORDER BY u.ord`

func (c *attemptCols) args() []any {
	return []any{c.ids, c.ns, c.ats, c.manual, c.reqs, c.resps, c.lat, c.errs}
}

// queue adds the insert of the attempts to b; check its tag afterwards.
func (c *attemptCols) queue(b *pgx.Batch) { b.Queue(insertAttempts, c.args()...) }

func (c *attemptCols) insert(ctx context.Context, tx pgx.Tx) error {
	tag, err := tx.Exec(ctx, insertAttempts, c.args()...)
	if err != nil {
		return fmt.Errorf("insert attempts: %w", err)
	}
	return c.check(ctx, tx, tag)
}

// check returns ErrNotFound naming a delivery that does not exist when the
// insert wrote fewer rows than attempts.
func (c *attemptCols) check(ctx context.Context, tx pgx.Tx, tag pgconn.CommandTag) error {
	if int(tag.RowsAffected()) == len(c.ids) {
		return nil
	}
	var missing string
	if err := tx.QueryRow(ctx, `SELECT u.id FROM unnest($1::text[]) AS u(id) WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = u.id) LIMIT 1`, c.ids).Scan(&missing); err != nil {
		return fmt.Errorf("insert attempts: %w", err)
	}
	return fmt.Errorf("attempt of delivery %q: %w", missing, store.ErrNotFound)
}

// Finish implements store.Store.
func (s *Store) Finish(ctx context.Context, results []store.Result) error {
	if len(results) == 0 {
		return nil
	}
	now := s.now().UTC()
	var (
		ac                          attemptCols
		ids, owners, statuses, errs []string
		nexts                       []time.Time
	)
	for i := range results {
		r := &results[i]
		if err := row.CheckResult(r); err != nil {
			return fmt.Errorf("postgres: finish: %w", err)
		}
		if err := ac.add(&r.Attempt, r.Attempt.Manual, now); err != nil {
			return fmt.Errorf("postgres: finish: %w", err)
		}
		ids, owners, statuses, errs = append(ids, r.Attempt.DeliveryID), append(owners, r.Owner), append(statuses, string(r.Status)), append(errs, r.Attempt.Error)
		next := r.NextAttemptAt
		if next.IsZero() {
			next = now
		}
		nexts = append(nexts, next)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One round trip for the setting, the attempts and the updates.
		var b pgx.Batch
		b.Queue(`SELECT ` + asyncCommit)
		ac.queue(&b)
		b.Queue(`UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1,
				next_attempt_at = CASE WHEN u.status = 'pending' THEN u.next ELSE d.next_attempt_at END,
				updated_at = $6, last_error = u.err, lease_owner = NULL, lease_until = NULL
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) AS u(id, owner, status, next, err)
			WHERE d.id = u.id AND d.lease_owner = u.owner AND d.status = 'pending'`,
			ids, owners, statuses, nexts, errs, now)
		br := tx.SendBatch(ctx, &b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return fmt.Errorf("insert attempts: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("update deliveries: %w", err)
		}
		if err := br.Close(); err != nil {
			return err
		}
		return ac.check(ctx, tx, tag)
	})
	if err != nil {
		return fmt.Errorf("postgres: finish: %w", err)
	}
	return nil
}

// AddAttempt implements store.Store.
func (s *Store) AddAttempt(ctx context.Context, a store.Attempt, succeeded bool) error {
	if a.DeliveryID == "" {
		return errors.New("postgres: add attempt: delivery_id: is required")
	}
	now := s.now().UTC()
	var ac attemptCols
	if err := ac.add(&a, true, now); err != nil {
		return fmt.Errorf("postgres: add attempt: %w", err)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := ac.insert(ctx, tx); err != nil {
			return err
		}
		if succeeded {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'delivered', updated_at = $1, last_error = '', lease_owner = NULL, lease_until = NULL WHERE id = $2`, now, a.DeliveryID); err != nil {
				return fmt.Errorf("delivery %q: %w", a.DeliveryID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: add attempt: %w", err)
	}
	return nil
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (cdr.Event, error) {
	var body []byte
	err := s.pool.QueryRow(ctx, `SELECT body::text FROM events WHERE id = $1`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return cdr.Event{}, fmt.Errorf("postgres: event %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return cdr.Event{}, fmt.Errorf("postgres: event %q: %w", id, err)
	}
	ev, err := row.DecodeEvent(body)
	if err != nil {
		return cdr.Event{}, fmt.Errorf("postgres: event %q: %w", id, err)
	}
	return ev, nil
}

// GetDelivery implements store.Store.
func (s *Store) GetDelivery(ctx context.Context, id string) (store.Delivery, []store.Attempt, error) {
	d, _, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries d WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Delivery{}, nil, fmt.Errorf("postgres: delivery %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Delivery{}, nil, fmt.Errorf("postgres: delivery %q: %w", id, err)
	}
	as, err := s.attempts(ctx, `SELECT `+attemptSelect+` FROM attempts WHERE delivery_id = $1 ORDER BY n, id`, id)
	if err != nil {
		return store.Delivery{}, nil, fmt.Errorf("postgres: delivery %q: %w", id, err)
	}
	return d, as, nil
}

const attemptSelect = `delivery_id, webhook, n, at, manual, request::text, response::text, latency_ms, error`

func (s *Store) attempts(ctx context.Context, q string, args ...any) ([]store.Attempt, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var as []store.Attempt
	for rows.Next() {
		var (
			a         store.Attempt
			req, resp []byte
		)
		if err := rows.Scan(&a.DeliveryID, &a.Webhook, &a.N, &a.At, &a.Manual, &req, &resp, &a.LatencyMS, &a.Error); err != nil {
			return nil, err
		}
		a.At = a.At.UTC()
		if err := row.DecodeAttemptJSON(&a, req, resp); err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

// ListQuery returns the SQL and arguments ListDeliveries runs for f (tests
// EXPLAIN it).
func ListQuery(f store.Filter) (string, []any, error) {
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
	if f.Webhook != "" {
		add("d.webhook = $%d", f.Webhook)
	}
	if f.Status != "" {
		add("d.status = $%d", string(f.Status))
	}
	if f.EventType != "" {
		add("d.event_type = $%d", string(f.EventType))
	}
	if f.EventID != "" {
		add("d.event_id = $%d", f.EventID)
	}
	if !f.Since.IsZero() {
		add("d.created_at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("d.created_at < $%d", f.Until)
	}
	if cursor > 0 {
		add("d.seq < $%d", cursor)
	}
	q := `SELECT ` + deliveryCols + ` FROM deliveries d`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.PageLimit()+1)
	q += fmt.Sprintf(` ORDER BY d.seq DESC LIMIT $%d`, len(args))
	return q, args, nil
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, f store.Filter) ([]store.Delivery, string, error) {
	q, args, err := ListQuery(f)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list deliveries: %w", err)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list deliveries: %w", err)
	}
	defer rows.Close()
	limit := f.PageLimit()
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
			return nil, "", fmt.Errorf("postgres: list deliveries: %w", err)
		}
		ds, lastSeq = append(ds, d), seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("postgres: list deliveries: %w", err)
	}
	if !more {
		return ds, "", nil
	}
	return ds, store.EncodeCursor(lastSeq), nil
}

// EventDelivered implements store.Store.
func (s *Store) EventDelivered(ctx context.Context, eventID string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE event_id = $1 AND status = 'delivered')`, eventID).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: event %q delivered: %w", eventID, err)
	}
	return ok, nil
}

// RecentAttempts implements store.Store.
func (s *Store) RecentAttempts(ctx context.Context, webhook string, n int) ([]store.Attempt, error) {
	if n <= 0 {
		return nil, nil
	}
	as, err := s.attempts(ctx, `SELECT `+attemptSelect+` FROM attempts WHERE webhook = $1 ORDER BY at DESC, id DESC LIMIT $2`, webhook, n)
	if err != nil {
		return nil, fmt.Errorf("postgres: recent attempts of %q: %w", webhook, err)
	}
	return as, nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	st := store.Stats{ByStatus: map[store.Status]int64{}}
	for _, status := range store.Statuses {
		st.ByStatus[status] = 0
	}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM deliveries GROUP BY status`)
	if err != nil {
		return st, fmt.Errorf("postgres: stats: %w", err)
	}
	for rows.Next() {
		var (
			status string
			n      int64
		)
		if err := rows.Scan(&status, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("postgres: stats: %w", err)
		}
		st.ByStatus[store.Status(status)] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("postgres: stats: %w", err)
	}
	st.Pending = st.ByStatus[store.StatusPending]
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE next_attempt_at <= $1), min(created_at) FROM deliveries WHERE status = 'pending'`, now).Scan(&st.Due, &oldest); err != nil {
		return st, fmt.Errorf("postgres: stats: %w", err)
	}
	if oldest != nil {
		st.OldestPending = oldest.UTC()
	}
	return st, nil
}

// SetPaused implements store.Store.
func (s *Store) SetPaused(ctx context.Context, webhook string, paused bool) error {
	if webhook == "" {
		return errors.New("postgres: set paused: webhook: is required")
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO webhook_state (name, paused) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused`, webhook, paused); err != nil {
		return fmt.Errorf("postgres: set paused %q: %w", webhook, err)
	}
	return nil
}

// Paused implements store.Store.
func (s *Store) Paused(ctx context.Context) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, paused FROM webhook_state`)
	if err != nil {
		return nil, fmt.Errorf("postgres: paused: %w", err)
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var (
			name   string
			paused bool
		)
		if err := rows.Scan(&name, &paused); err != nil {
			return nil, fmt.Errorf("postgres: paused: %w", err)
		}
		m[name] = paused
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: paused: %w", err)
	}
	return m, nil
}

// PutWebhook implements store.Store.
func (s *Store) PutWebhook(ctx context.Context, w store.StoredWebhook) error {
	if err := row.CheckWebhook(&w); err != nil {
		return fmt.Errorf("postgres: put webhook: %w", err)
	}
	now := s.now().UTC()
	created := w.CreatedAt
	if created.IsZero() {
		created = now
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO webhooks (name, spec, created_at, updated_at) VALUES ($1, $2::text::json, $3, $4)
		ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
		w.Name, string(w.Spec), created, now); err != nil {
		return fmt.Errorf("postgres: put webhook %q: %w", w.Name, err)
	}
	return nil
}

// DeleteWebhook implements store.Store.
func (s *Store) DeleteWebhook(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("postgres: delete webhook %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete webhook %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// ListWebhooks implements store.Store.
func (s *Store) ListWebhooks(ctx context.Context) ([]store.StoredWebhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, spec::text, created_at, updated_at FROM webhooks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhooks: %w", err)
	}
	defer rows.Close()
	var ws []store.StoredWebhook
	for rows.Next() {
		var (
			w    store.StoredWebhook
			spec string
		)
		if err := rows.Scan(&w.Name, &spec, &w.CreatedAt, &w.UpdatedAt); err != nil {
			return nil, fmt.Errorf("postgres: list webhooks: %w", err)
		}
		w.Spec, w.CreatedAt, w.UpdatedAt = []byte(spec), w.CreatedAt.UTC(), w.UpdatedAt.UTC()
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list webhooks: %w", err)
	}
	return ws, nil
}
