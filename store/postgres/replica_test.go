package postgres_test

import (
	"context"
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

// Three replicas start at once on one schema (racing migrations), then
// share the queue: every delivery is finished by exactly one of them.
func TestReplicasShareQueue(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	stores := make([]*postgres.Store, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	const n = 3000
	for b := 0; b < n; b += 500 {
		var batch []store.NewEvent
		for i := b; i < b+500; i++ {
			key := fmt.Sprint("c", i%50)
			batch = append(batch, store.NewEvent{Event: storetest.Event(i, key), Deliveries: []store.NewDelivery{
				{ID: fmt.Sprintf("d%05d", i), Webhook: "crm", Key: key, NotBefore: storetest.T0, Ordered: i%2 == 0}}})
		}
		if _, err := stores[b/500%3].Accept(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		done = map[string]string{}
	)
	for r, s := range stores {
		for w := range 2 {
			wg.Go(func() {
				owner := fmt.Sprintf("r%d-w%d", r, w)
				for idle := 0; idle < 20; {
					jobs, err := s.Claim(context.Background(), store.ClaimParams{Owner: owner, Now: storetest.T0, Limit: 50, Lease: time.Hour})
					if err != nil {
						t.Error(err)
						return
					}
					if len(jobs) == 0 {
						idle++ // ordered deliveries wait for others' finishes
						time.Sleep(5 * time.Millisecond)
						continue
					}
					idle = 0
					var rs []store.Result
					mu.Lock()
					for _, j := range jobs {
						if prev, ok := done[j.Delivery.ID]; ok {
							t.Errorf("delivery %s claimed by %s and %s", j.Delivery.ID, prev, owner)
						}
						done[j.Delivery.ID] = owner
						rs = append(rs, store.Result{Owner: owner, Status: store.StatusDelivered, Attempt: store.Attempt{DeliveryID: j.Delivery.ID}})
					}
					mu.Unlock()
					if err := s.Finish(context.Background(), rs); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if len(done) != n {
		t.Fatalf("finished %d deliveries, want %d", len(done), n)
	}
	st, err := stores[0].Stats(t.Context(), storetest.T0)
	if err != nil {
		t.Fatal(err)
	}
	if st.ByStatus[store.StatusDelivered] != n || st.Pending != 0 {
		t.Fatalf("stats after draining: %+v", st)
	}
}

// With 100,000 deliveries, every page query uses an index, never a
// sequential scan of deliveries.
func TestListUsesIndexes(t *testing.T) {
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
	for _, q := range []string{
		`INSERT INTO events (id, type, time, source_kind, source_name, record_id, call_id, caller_number, body, received_at)
			SELECT 'e' || i, 'queue.ended', now(), 'teams', 'teams', 'r' || i, 'c' || i, '', '{}', now() FROM generate_series(1, 100000) i`,
		`INSERT INTO deliveries (id, webhook, event_id, event_type, key, status, next_attempt_at, created_at, updated_at)
			SELECT 'd' || i, (ARRAY['crm','erp','bi','x','y'])[i % 5 + 1], 'e' || i, (ARRAY['queue.ended','call.ended','ivr.ended'])[i % 3 + 1], 'c' || i,
				(ARRAY['delivered','delivered','delivered','failed','dead','pending'])[i % 6 + 1], now(), now() - (100000 - i) * interval '1 second', now()
			FROM generate_series(1, 100000) i`,
		`ANALYZE`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	filters := []store.Filter{
		{}, {Webhook: "crm"}, {Status: store.StatusDead}, {EventType: cdrCallEnded}, {EventID: "e77"},
		{Webhook: "erp", Status: store.StatusFailed}, {Webhook: "bi", EventType: "ivr.ended", Status: store.StatusPending},
		{Since: now.Add(-time.Hour)}, {Until: now.Add(-time.Hour), Webhook: "crm"},
		{Cursor: store.EncodeCursor(50000), Status: store.StatusPending},
	}
	for _, f := range filters {
		q, args, err := postgres.ListQuery(f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(t.Context(), "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "Index") {
			t.Errorf("filter %+v:\n%s", f, text)
		}
	}
}

const cdrCallEnded = "call.ended"
