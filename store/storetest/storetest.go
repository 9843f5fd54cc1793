// Package storetest is the conformance suite every store.Store
// implementation must pass; store/sqlite and store/postgres run it.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

// T0 is the base time of the suite's events and schedules.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 678000, time.UTC)

// Run runs the conformance suite. open must return a new, empty, migrated
// store for each call and close it in t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AcceptIdempotent", testAcceptIdempotent},
		{"AcceptForce", testAcceptForce},
		{"AcceptBatchAtomic", testAcceptBatchAtomic},
		{"AcceptInvalid", testAcceptInvalid},
		{"Debounce", testDebounce},
		{"ClaimDueOnly", testClaimDueOnly},
		{"ClaimExclusive", testClaimExclusive},
		{"LeaseExpiry", testLeaseExpiry},
		{"Exclude", testExclude},
		{"ClaimOneWebhook", testClaimOneWebhook},
		{"Ordered", testOrdered},
		{"Release", testRelease},
		{"ReleaseOwner", testReleaseOwner},
		{"AttemptsRoundTrip", testAttemptsRoundTrip},
		{"AddAttempt", testAddAttempt},
		{"FinishInvalid", testFinishInvalid},
		{"ListPaging", testListPaging},
		{"ListFilters", testListFilters},
		{"ListBadCursor", testListBadCursor},
		{"EventsPaging", testEventsPaging},
		{"EventsFilters", testEventsFilters},
		{"EventsEmpty", testEventsEmpty},
		{"EventsBadCursor", testEventsBadCursor},
		{"Outcomes", testOutcomes},
		{"NotFound", testNotFound},
		{"EventDelivered", testEventDelivered},
		{"RecentAttempts", testRecentAttempts},
		{"Stats", testStats},
		{"Paused", testPaused},
		{"Webhooks", testWebhooks},
		{"MigrateIdempotent", testMigrateIdempotent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Event returns a queue.ended event numbered i for the call callID.
func Event(i int, callID string) cdr.Event {
	return EventOfType(cdr.TypeQueueEnded, i, callID)
}

// EventOfType returns an event of type typ (a call, queue or IVR type)
// numbered i for the call callID.
func EventOfType(typ cdr.Type, i int, callID string) cdr.Event {
	at := T0.Add(time.Duration(i) * time.Second)
	end := at.Add(time.Minute)
	base := cdr.Base{
		ID: fmt.Sprintf("test:%d", i), Source: cdr.SourceRef{Kind: "teams", Name: "teams"}, CallID: callID,
		Direction: cdr.DirectionInbound, Caller: cdr.Party{Number: fmt.Sprintf("+1555%07d", i)},
		StartedAt: at, EndedAt: &end, Custom: map[string]string{"n": fmt.Sprint(i)},
	}
	var rec cdr.Record
	switch typ.Kind() {
	case cdr.KindCall:
		base.Kind = cdr.KindCall
		rec = &cdr.Call{Base: base, Duration: 60, Disposition: cdr.DispositionAnswered}
	case cdr.KindIVR:
		base.Kind = cdr.KindIVR
		rec = &cdr.IVR{Base: base, DataValues: make([]string, cdr.DataValueCount)}
	default:
		base.Kind = cdr.KindQueue
		rec = &cdr.Queue{Base: base, Queue: cdr.Named{ID: "q1", Name: "Sales"}, Wait: i % 100}
	}
	return cdr.NewEvent(typ, end, base.Source, rec)
}

func dlv(id, webhook, key string, notBefore time.Time) store.NewDelivery {
	return store.NewDelivery{ID: id, Webhook: webhook, Key: key, NotBefore: notBefore}
}

func ctx(t *testing.T) context.Context { return t.Context() }

// must returns a function that fails t when err is not nil and returns v:
// must(s.Stats(ctx, now))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func accept(t *testing.T, s store.Store, batch ...store.NewEvent) []bool {
	t.Helper()
	return must(s.Accept(ctx(t), batch))(t)
}

func claim(t *testing.T, s store.Store, owner string, now time.Time, limit int, exclude ...string) []store.Job {
	t.Helper()
	return must(s.Claim(ctx(t), store.ClaimParams{Owner: owner, Now: now, Limit: limit, Lease: time.Hour, Exclude: exclude}))(t)
}

func jobIDs(jobs []store.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.Delivery.ID
	}
	return ids
}

func getDelivery(t *testing.T, s store.Store, id string) (store.Delivery, []store.Attempt) {
	t.Helper()
	d, as, err := s.GetDelivery(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return d, as
}

func finish(t *testing.T, s store.Store, owner, id string, status store.Status, next time.Time) {
	t.Helper()
	check(t, s.Finish(ctx(t), []store.Result{{
		Owner: owner, Status: status, NextAttemptAt: next,
		Attempt: store.Attempt{DeliveryID: id, At: next, Request: store.HTTPRequest{Method: "POST", URL: "http://x/"}},
	}}))
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func listAll(t *testing.T, s store.Store, f store.Filter) []string {
	t.Helper()
	var ids []string
	for page := 0; ; page++ {
		ds, next, err := s.ListDeliveries(ctx(t), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > f.PageLimit() {
			t.Fatalf("page %d has %d deliveries, limit %d", page, len(ds), f.PageLimit())
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		if next == "" {
			return ids
		}
		if len(ds) == 0 {
			t.Fatalf("page %d is empty but has a next cursor %q", page, next)
		}
		f.Cursor = next
	}
}

func eventJSON(t *testing.T, e cdr.Event) string {
	t.Helper()
	return string(must(json.Marshal(e))(t))
}

func testAcceptIdempotent(t *testing.T, s store.Store) {
	ev := Event(1, "c1")
	got := accept(t, s, store.NewEvent{Event: ev, Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0), dlv("d2", "erp", "c1", T0)}})
	if !slices.Equal(got, []bool{true}) {
		t.Fatalf("first accept: new = %v, want [true]", got)
	}
	got = accept(t, s, store.NewEvent{Event: ev, Deliveries: []store.NewDelivery{dlv("d3", "crm", "c1", T0)}},
		store.NewEvent{Event: Event(2, "c2"), Deliveries: []store.NewDelivery{dlv("d4", "crm", "c2", T0)}})
	if !slices.Equal(got, []bool{false, true}) {
		t.Fatalf("second accept: new = %v, want [false true]", got)
	}
	equalIDs(t, "deliveries", listAll(t, s, store.Filter{}), []string{"d4", "d2", "d1"})
	stored := must(s.GetEvent(ctx(t), ev.ID))(t)
	if a, b := eventJSON(t, stored), eventJSON(t, ev); a != b {
		t.Fatalf("stored event differs:\n got %s\nwant %s", a, b)
	}
	d, _ := getDelivery(t, s, "d1")
	want := store.Delivery{ID: "d1", Webhook: "crm", EventID: ev.ID, EventType: cdr.TypeQueueEnded, Key: "c1",
		Status: store.StatusPending, NextAttemptAt: T0, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d != want {
		t.Fatalf("delivery:\n got %+v\nwant %+v", d, want)
	}
	if d.CreatedAt.IsZero() || d.CreatedAt.Location() != time.UTC {
		t.Fatalf("created_at %v is zero or not UTC", d.CreatedAt)
	}
	// Two copies of one event in one batch: the first is new, the second skipped.
	ev3 := Event(3, "c3")
	got = accept(t, s, store.NewEvent{Event: ev3, Deliveries: []store.NewDelivery{dlv("d5", "crm", "c3", T0)}},
		store.NewEvent{Event: ev3, Deliveries: []store.NewDelivery{dlv("d6", "crm", "c3", T0)}})
	if !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("duplicate in batch: new = %v, want [true false]", got)
	}
	if _, _, err := s.GetDelivery(ctx(t), "d6"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delivery of the skipped copy: err = %v, want ErrNotFound", err)
	}
	// A zero NotBefore means due now.
	accept(t, s, store.NewEvent{Event: Event(4, "c4"), Deliveries: []store.NewDelivery{{ID: "d7", Webhook: "crm", Key: "c4"}}})
	if jobs := claim(t, s, "w", time.Now().Add(time.Second), 10); !slices.Contains(jobIDs(jobs), "d7") {
		t.Fatalf("delivery with zero NotBefore not due now: claimed %v", jobIDs(jobs))
	}
}

func testAcceptForce(t *testing.T, s store.Store) {
	ev := Event(1, "c1")
	accept(t, s, store.NewEvent{Event: ev, Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0)}})
	got := accept(t, s, store.NewEvent{Event: ev, Force: true, Deliveries: []store.NewDelivery{dlv("d2", "crm", "c1", T0), dlv("d3", "erp", "c1", T0)}})
	if !slices.Equal(got, []bool{false}) {
		t.Fatalf("forced accept: new = %v, want [false]", got)
	}
	equalIDs(t, "deliveries", listAll(t, s, store.Filter{}), []string{"d3", "d2", "d1"})
	for _, id := range []string{"d2", "d3"} {
		if d, _ := getDelivery(t, s, id); d.EventID != ev.ID {
			t.Fatalf("forced delivery %s: event %q, want %q", id, d.EventID, ev.ID)
		}
	}
}

func testAcceptBatchAtomic(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0)}})
	tests := []struct {
		name  string
		batch []store.NewEvent
	}{
		{"duplicate id in batch", []store.NewEvent{
			{Event: Event(2, "c2"), Deliveries: []store.NewDelivery{dlv("d2", "crm", "c2", T0)}},
			{Event: Event(3, "c3"), Deliveries: []store.NewDelivery{dlv("d2", "crm", "c3", T0)}},
		}},
		{"id already stored", []store.NewEvent{
			{Event: Event(2, "c2"), Deliveries: []store.NewDelivery{dlv("d2", "crm", "c2", T0)}},
			{Event: Event(3, "c3"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c3", T0)}},
		}},
		{"debounced duplicate", []store.NewEvent{
			{Event: Event(2, "c2"), Deliveries: []store.NewDelivery{dlv("d2", "crm", "c2", T0)}},
			{Event: Event(3, "c3"), Deliveries: []store.NewDelivery{{ID: "d1", Webhook: "crm", Key: "c3", Debounce: true}}},
		}},
	}
	for _, tc := range tests {
		if _, err := s.Accept(ctx(t), tc.batch); err == nil {
			t.Fatalf("%s: accept succeeded, want an error", tc.name)
		}
		for _, id := range []string{Event(2, "").ID, Event(3, "").ID} {
			if _, err := s.GetEvent(ctx(t), id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: event %s after a failed batch: err = %v, want ErrNotFound", tc.name, id, err)
			}
		}
		equalIDs(t, tc.name+": deliveries", listAll(t, s, store.Filter{}), []string{"d1"})
	}
}

func testAcceptInvalid(t *testing.T, s store.Store) {
	noRecord := Event(2, "c2")
	noRecord.Record = nil
	tests := []struct {
		name  string
		batch []store.NewEvent
	}{
		{"no event id", []store.NewEvent{{Event: cdr.Event{Type: cdr.TypeQueueEnded, Record: &cdr.Queue{}}}}},
		{"no record", []store.NewEvent{{Event: noRecord}}},
		{"no delivery id", []store.NewEvent{{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{{Webhook: "crm"}}}}},
		{"no webhook", []store.NewEvent{{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{{ID: "d1"}}}}},
	}
	for _, tc := range tests {
		if _, err := s.Accept(ctx(t), tc.batch); err == nil {
			t.Fatalf("%s: accept succeeded, want an error", tc.name)
		}
	}
	if _, err := s.GetEvent(ctx(t), Event(1, "c1").ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("event of a rejected batch: err = %v, want ErrNotFound", err)
	}
	if got := must(s.Accept(ctx(t), nil))(t); len(got) != 0 {
		t.Fatalf("empty batch: %v", got)
	}
}

func testDebounce(t *testing.T, s store.Store) {
	deb := func(id, webhook, key string, at time.Time) store.NewDelivery {
		return store.NewDelivery{ID: id, Webhook: webhook, Key: key, NotBefore: at, Debounce: true}
	}
	e1, e2, e3 := Event(1, "c1"), Event(2, "c1"), Event(3, "c1")
	accept(t, s, store.NewEvent{Event: e1, Deliveries: []store.NewDelivery{deb("d1", "crm", "c1", T0.Add(10*time.Second))}})
	// Within one batch too: the latest wins.
	accept(t, s, store.NewEvent{Event: e2, Deliveries: []store.NewDelivery{deb("d2", "crm", "c1", T0.Add(20*time.Second))}},
		store.NewEvent{Event: e3, Deliveries: []store.NewDelivery{deb("d3", "crm", "c1", T0.Add(30*time.Second))}})
	equalIDs(t, "after replacing", listAll(t, s, store.Filter{}), []string{"d1"})
	d, _ := getDelivery(t, s, "d1")
	if d.EventID != e3.ID || !d.NextAttemptAt.Equal(T0.Add(30*time.Second)) {
		t.Fatalf("debounced delivery: event %q at %v, want %q at %v", d.EventID, d.NextAttemptAt, e3.ID, T0.Add(30*time.Second))
	}
	// Other webhook, key, event type, or a delivery without debounce: new rows.
	accept(t, s,
		store.NewEvent{Event: Event(4, "c1"), Deliveries: []store.NewDelivery{deb("d4", "erp", "c1", T0)}},
		store.NewEvent{Event: Event(5, "c2"), Deliveries: []store.NewDelivery{deb("d5", "crm", "c2", T0)}},
		store.NewEvent{Event: EventOfType(cdr.TypeCallEnded, 6, "c1"), Deliveries: []store.NewDelivery{deb("d6", "crm", "c1", T0)}},
		store.NewEvent{Event: Event(7, "c1"), Deliveries: []store.NewDelivery{dlv("d7", "crm", "c1", T0.Add(time.Hour))}})
	accept(t, s, store.NewEvent{Event: Event(8, "c1"), Deliveries: []store.NewDelivery{deb("d8", "crm", "c1", T0.Add(40*time.Second))}})
	equalIDs(t, "other triples", listAll(t, s, store.Filter{}), []string{"d7", "d6", "d5", "d4", "d1"})
	if d, _ := getDelivery(t, s, "d7"); d.EventID != Event(7, "c1").ID {
		t.Fatalf("a delivery without debounce was replaced: %+v", d)
	}
	// Leased: not replaced.
	jobs := claim(t, s, "w1", T0.Add(time.Minute), 10)
	if !slices.Contains(jobIDs(jobs), "d1") {
		t.Fatalf("claimed %v, want d1 among them", jobIDs(jobs))
	}
	accept(t, s, store.NewEvent{Event: Event(9, "c1"), Deliveries: []store.NewDelivery{deb("d9", "crm", "c1", T0.Add(time.Minute))}})
	if d, _ := getDelivery(t, s, "d1"); d.EventID != Event(8, "c1").ID {
		t.Fatalf("leased delivery was replaced: event %q", d.EventID)
	}
	if _, _, err := s.GetDelivery(ctx(t), "d9"); err != nil {
		t.Fatalf("delivery behind a leased one: %v", err)
	}
	// Attempted (retry scheduled): not replaced.
	finish(t, s, "w1", "d1", store.StatusPending, T0.Add(2*time.Minute))
	// d9 is pending and never attempted: the next event replaces it, not d1.
	accept(t, s, store.NewEvent{Event: Event(10, "c1"), Deliveries: []store.NewDelivery{deb("d10", "crm", "c1", T0.Add(time.Minute))}})
	if d, _ := getDelivery(t, s, "d9"); d.EventID != Event(10, "c1").ID {
		t.Fatalf("d9 not replaced: event %q", d.EventID)
	}
	if d, _ := getDelivery(t, s, "d1"); d.EventID != Event(8, "c1").ID || d.Attempts != 1 {
		t.Fatalf("attempted delivery changed: %+v", d)
	}
}

func testClaimDueOnly(t *testing.T, s store.Store) {
	accept(t, s,
		store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0.Add(time.Second))}},
		store.NewEvent{Event: Event(2, "c2"), Deliveries: []store.NewDelivery{dlv("d2", "crm", "c2", T0.Add(10*time.Minute))}},
		store.NewEvent{Event: Event(3, "c3"), Deliveries: []store.NewDelivery{dlv("d3", "crm", "c3", T0)}})
	if jobs := claim(t, s, "w", T0.Add(-time.Second), 10); len(jobs) != 0 {
		t.Fatalf("claimed %v before anything was due", jobIDs(jobs))
	}
	jobs := claim(t, s, "w", T0.Add(time.Second), 10)
	equalIDs(t, "due", jobIDs(jobs), []string{"d3", "d1"})
	j := jobs[1]
	if j.Lease != "w" || j.Delivery.LeaseOwner != "w" || !j.Delivery.LeaseUntil.Equal(T0.Add(time.Second+time.Hour)) {
		t.Fatalf("job lease: %q %q %v", j.Lease, j.Delivery.LeaseOwner, j.Delivery.LeaseUntil)
	}
	if a, b := eventJSON(t, j.Event), eventJSON(t, Event(1, "c1")); a != b {
		t.Fatalf("job event:\n got %s\nwant %s", a, b)
	}
	if d, _ := getDelivery(t, s, "d1"); d.LeaseOwner != "w" {
		t.Fatalf("stored lease owner %q, want w", d.LeaseOwner)
	}
	// The limit holds and a zero limit claims one.
	jobs = claim(t, s, "w", T0.Add(20*time.Minute), 0)
	equalIDs(t, "limit 0", jobIDs(jobs), []string{"d2"})
	if _, err := s.Claim(ctx(t), store.ClaimParams{Now: T0}); err == nil {
		t.Fatal("claim without an owner succeeded")
	}
}

func testClaimExclusive(t *testing.T, s store.Store) {
	const n = 1000
	var batch []store.NewEvent
	for i := range n {
		batch = append(batch, store.NewEvent{Event: Event(i, fmt.Sprint("c", i%37)),
			Deliveries: []store.NewDelivery{dlv(fmt.Sprintf("d%04d", i), "crm", fmt.Sprint("c", i%37), T0)}})
	}
	accept(t, s, batch...)
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, 4)
	)
	for w := range 4 {
		wg.Go(func() {
			owner := fmt.Sprint("w", w)
			for {
				jobs, err := s.Claim(context.Background(), store.ClaimParams{Owner: owner, Now: T0, Limit: 25, Lease: time.Hour})
				if err != nil {
					errs <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					claimed[j.Delivery.ID]++
					if j.Lease != owner {
						errs <- fmt.Errorf("job %s leased to %q, claimed by %q", j.Delivery.ID, j.Lease, owner)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claimed) != n {
		t.Fatalf("claimed %d distinct deliveries, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Fatalf("delivery %s claimed %d times", id, c)
		}
	}
}

func testLeaseExpiry(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0)}})
	p := store.ClaimParams{Owner: "a", Now: T0, Limit: 10, Lease: 30 * time.Second}
	equalIDs(t, "first claim", jobIDs(must(s.Claim(ctx(t), p))(t)), []string{"d1"})
	p.Owner, p.Now = "b", T0.Add(29*time.Second)
	equalIDs(t, "live lease", jobIDs(must(s.Claim(ctx(t), p))(t)), nil)
	p.Now = T0.Add(31 * time.Second)
	equalIDs(t, "expired lease", jobIDs(must(s.Claim(ctx(t), p))(t)), []string{"d1"})
	// The stale owner's result is logged but does not change the delivery.
	finish(t, s, "a", "d1", store.StatusDelivered, T0.Add(32*time.Second))
	d, as := getDelivery(t, s, "d1")
	if d.Status != store.StatusPending || d.LeaseOwner != "b" || d.Attempts != 0 || len(as) != 1 {
		t.Fatalf("after a stale finish: status %s owner %q attempts %d, %d logged", d.Status, d.LeaseOwner, d.Attempts, len(as))
	}
	finish(t, s, "b", "d1", store.StatusDelivered, T0.Add(33*time.Second))
	d, as = getDelivery(t, s, "d1")
	if d.Status != store.StatusDelivered || d.LeaseOwner != "" || !d.LeaseUntil.IsZero() || d.Attempts != 1 || len(as) != 2 {
		t.Fatalf("after finish: %+v, %d logged", d, len(as))
	}
	if jobs := claim(t, s, "c", T0.Add(time.Hour), 10); len(jobs) != 0 {
		t.Fatalf("claimed a delivered delivery: %v", jobIDs(jobs))
	}
}

func testExclude(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{
		dlv("d1", "crm", "c1", T0), dlv("d2", "erp", "c1", T0), dlv("d3", "bi", "c1", T0)}})
	equalIDs(t, "exclude crm, bi", jobIDs(claim(t, s, "w", T0, 10, "crm", "bi")), []string{"d2"})
	equalIDs(t, "exclude crm", jobIDs(claim(t, s, "w", T0, 10, "crm")), []string{"d3"})
	equalIDs(t, "exclude nothing", jobIDs(claim(t, s, "w", T0, 10)), []string{"d1"})
}

func testClaimOneWebhook(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{
		dlv("d1", "crm", "c1", T0), dlv("d2", "erp", "c1", T0), dlv("d3", "erp", "c1", T0)}})
	only := func(webhook string, limit int) []store.Job {
		return must(s.Claim(ctx(t), store.ClaimParams{Owner: "w", Now: T0, Limit: limit, Lease: time.Hour, Webhook: webhook}))(t)
	}
	equalIDs(t, "only erp, limit 1", jobIDs(only("erp", 1)), []string{"d2"})
	equalIDs(t, "only erp", jobIDs(only("erp", 10)), []string{"d3"})
	equalIDs(t, "only bi", jobIDs(only("bi", 10)), nil)
	equalIDs(t, "only crm", jobIDs(only("crm", 10)), []string{"d1"})

	// Another webhook's due backlog, due first, does not get in the way; a
	// webhook's own deliveries come in due order, the ordered one after
	// the pending one of its key, and not while the webhook is excluded.
	var hang []store.NewDelivery
	for i := range 50 {
		hang = append(hang, dlv(fmt.Sprint("h", i), "hang", fmt.Sprint("k", i), T0.Add(-time.Hour)))
	}
	ordered := dlv("d6", "crm", "c4", T0.Add(-2*time.Minute))
	ordered.Ordered = true
	accept(t, s, store.NewEvent{Event: Event(2, "c2"), Deliveries: append(hang,
		dlv("d4", "crm", "c4", T0.Add(-time.Minute)), dlv("d5", "crm", "c5", T0.Add(-3*time.Minute)), ordered, dlv("d7", "crm", "c7", T0.Add(time.Minute)))})
	if jobs := must(s.Claim(ctx(t), store.ClaimParams{Owner: "w", Now: T0, Limit: 10, Lease: time.Hour, Webhook: "crm", Exclude: []string{"crm"}}))(t); len(jobs) != 0 {
		t.Fatalf("claim of an excluded webhook: %v", jobIDs(jobs))
	}
	equalIDs(t, "only crm, past a backlog", jobIDs(only("crm", 10)), []string{"d5", "d4"})
	var hangIDs []string
	for _, d := range hang {
		hangIDs = append(hangIDs, d.ID)
	}
	equalIDs(t, "only hang", jobIDs(only("hang", 100)), hangIDs)
}

func testOrdered(t *testing.T, s store.Store) {
	ord := func(id, key string, at time.Time) store.NewDelivery {
		return store.NewDelivery{ID: id, Webhook: "crm", Key: key, NotBefore: at, Ordered: true}
	}
	accept(t, s,
		store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{ord("d1", "c1", T0.Add(time.Second))}},
		store.NewEvent{Event: Event(2, "c1"), Deliveries: []store.NewDelivery{ord("d2", "c1", T0), dlv("x2", "erp", "c1", T0)}},
		store.NewEvent{Event: Event(3, "c1"), Deliveries: []store.NewDelivery{ord("d3", "c1", T0), dlv("x3", "erp", "c1", T0)}},
		store.NewEvent{Event: Event(4, "c2"), Deliveries: []store.NewDelivery{ord("e4", "c2", T0)}})
	// d2 and d3 are due before d1 but wait for it; unordered x2, x3 do not.
	equalIDs(t, "before d1 is due", jobIDs(claim(t, s, "w", T0, 10)), []string{"x2", "x3", "e4"})
	equalIDs(t, "d1 due", jobIDs(claim(t, s, "w", T0.Add(time.Second), 10)), []string{"d1"})
	finish(t, s, "w", "d1", store.StatusPending, T0.Add(time.Minute))
	equalIDs(t, "d1 waiting for a retry", jobIDs(claim(t, s, "w", T0.Add(30*time.Second), 10)), nil)
	equalIDs(t, "d1 retried", jobIDs(claim(t, s, "w", T0.Add(time.Minute), 10)), []string{"d1"})
	finish(t, s, "w", "d1", store.StatusDead, T0.Add(time.Minute))
	equalIDs(t, "after d1 is dead", jobIDs(claim(t, s, "w", T0.Add(time.Minute), 10)), []string{"d2"})
	equalIDs(t, "d2 leased", jobIDs(claim(t, s, "w", T0.Add(time.Minute), 10)), nil)
	finish(t, s, "w", "d2", store.StatusFailed, T0.Add(time.Minute))
	equalIDs(t, "after d2 failed", jobIDs(claim(t, s, "w", T0.Add(time.Minute), 10)), []string{"d3"})
}

func testAttemptsRoundTrip(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0)}})
	claim(t, s, "w", T0, 1)
	a1 := store.Attempt{
		DeliveryID: "d1", N: 1, At: T0.Add(time.Second),
		Request:  store.HTTPRequest{Method: "POST", URL: "https://crm.example.com/api?x=1", Headers: map[string]string{"Content-Type": "application/json", "Webhook-Id": "d1"}, Body: `{"a":"é\n"}`},
		Response: &store.HTTPResponse{Status: 503, Headers: map[string]string{"Retry-After": "5"}, Body: "busy"}, LatencyMS: 123, Error: "HTTP 503",
	}
	check(t, s.Finish(ctx(t), []store.Result{{Owner: "w", Attempt: a1, Status: store.StatusPending, NextAttemptAt: T0.Add(time.Minute)}}))
	d, as := getDelivery(t, s, "d1")
	if d.Status != store.StatusPending || d.Attempts != 1 || d.LastError != "HTTP 503" || !d.NextAttemptAt.Equal(T0.Add(time.Minute)) || d.LeaseOwner != "" {
		t.Fatalf("after a failed attempt: %+v", d)
	}
	claim(t, s, "w", T0.Add(time.Minute), 1)
	// N 0: the store numbers it; no response: a network error.
	a2 := store.Attempt{DeliveryID: "d1", At: T0.Add(time.Minute), Request: store.HTTPRequest{Method: "POST", URL: "https://crm.example.com/api?x=1"}, Error: "dial tcp: refused", LatencyMS: 7}
	check(t, s.Finish(ctx(t), []store.Result{{Owner: "w", Attempt: a2, Status: store.StatusDead}}))
	d, as = getDelivery(t, s, "d1")
	a1.Webhook, a2.Webhook, a2.N = "crm", "crm", 2
	want := []store.Attempt{a1, a2}
	if got, w := must(json.Marshal(as))(t), must(json.Marshal(want))(t); string(got) != string(w) {
		t.Fatalf("attempts:\n got %s\nwant %s", got, w)
	}
	if d.Status != store.StatusDead || d.Attempts != 2 || d.LastError != "dial tcp: refused" {
		t.Fatalf("after the last attempt: %+v", d)
	}
	if as[0].Response == nil || as[1].Response != nil {
		t.Fatalf("responses: %v %v", as[0].Response, as[1].Response)
	}
	// Unknown delivery: the whole batch fails.
	err := s.Finish(ctx(t), []store.Result{{Owner: "w", Attempt: store.Attempt{DeliveryID: "nope"}, Status: store.StatusDelivered}})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("finish of an unknown delivery: err = %v, want ErrNotFound", err)
	}
}

func testAddAttempt(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0), dlv("d2", "crm", "c1", T0.Add(time.Hour))}})
	claim(t, s, "w", T0, 1)
	finish(t, s, "w", "d1", store.StatusDead, T0.Add(time.Second))
	check(t, s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "d1", At: T0.Add(time.Hour), Request: store.HTTPRequest{Method: "POST"}, Response: &store.HTTPResponse{Status: 500}}, false))
	d, as := getDelivery(t, s, "d1")
	if d.Status != store.StatusDead || len(as) != 2 || !as[1].Manual || as[1].N != 2 || d.Attempts != 1 {
		t.Fatalf("after a failed manual attempt: %+v, attempts %+v", d, as)
	}
	check(t, s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "d1", At: T0.Add(2 * time.Hour), Response: &store.HTTPResponse{Status: 200}}, true))
	d, as = getDelivery(t, s, "d1")
	if d.Status != store.StatusDelivered || len(as) != 3 || as[2].N != 3 || d.Attempts != 1 {
		t.Fatalf("after a good manual attempt: %+v, %d attempts", d, len(as))
	}
	// The schedule of a pending delivery is kept by a failed manual attempt.
	check(t, s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "d2", At: T0}, false))
	if d, _ := getDelivery(t, s, "d2"); d.Status != store.StatusPending || !d.NextAttemptAt.Equal(T0.Add(time.Hour)) {
		t.Fatalf("pending delivery after a manual attempt: %+v", d)
	}
	if err := s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "nope"}, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("manual attempt of an unknown delivery: err = %v, want ErrNotFound", err)
	}
}

func testFinishInvalid(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0)}})
	claim(t, s, "w", T0, 1)
	tests := []store.Result{
		{Owner: "w", Attempt: store.Attempt{}, Status: store.StatusDelivered},
		{Owner: "w", Attempt: store.Attempt{DeliveryID: "d1"}, Status: "done"},
		{Owner: "w", Attempt: store.Attempt{DeliveryID: "d1"}, Status: store.StatusPending},
	}
	for _, r := range tests {
		if err := s.Finish(ctx(t), []store.Result{{Owner: "w", Attempt: store.Attempt{DeliveryID: "d1"}, Status: store.StatusDelivered}, r}); err == nil {
			t.Fatalf("finish with %+v succeeded", r)
		}
	}
	if d, as := getDelivery(t, s, "d1"); d.Status != store.StatusPending || len(as) != 0 {
		t.Fatalf("a rejected batch changed the delivery: %+v, %d attempts", d, len(as))
	}
	check(t, s.Finish(ctx(t), nil))
}

func testListPaging(t *testing.T, s store.Store) {
	const n = 10000
	for b := 0; b < n; b += 500 {
		var batch []store.NewEvent
		for i := b; i < b+500; i++ {
			batch = append(batch, store.NewEvent{Event: Event(i, fmt.Sprint("c", i)), Deliveries: []store.NewDelivery{dlv(fmt.Sprintf("d%05d", i), "crm", fmt.Sprint("c", i), T0)}})
		}
		accept(t, s, batch...)
	}
	f := store.Filter{Limit: 137}
	var (
		seen  = map[string]bool{}
		prev  string
		pages int
	)
	for {
		ds, next, err := s.ListDeliveries(ctx(t), f)
		check(t, err)
		pages++
		for _, d := range ds {
			if seen[d.ID] {
				t.Fatalf("page %d repeats %s", pages, d.ID)
			}
			if prev != "" && d.ID >= prev {
				t.Fatalf("page %d: %s after %s, not newest first", pages, d.ID, prev)
			}
			seen[d.ID], prev = true, d.ID
		}
		if pages == 3 {
			// Deliveries added while paging do not shift the pages.
			accept(t, s, store.NewEvent{Event: Event(n+1, "new"), Deliveries: []store.NewDelivery{dlv("e-new", "crm", "new", T0)}})
		}
		if next == "" {
			if len(ds) == 0 && pages > 1 {
				t.Fatalf("last page %d is empty", pages)
			}
			break
		}
		if len(ds) != 137 {
			t.Fatalf("page %d has %d deliveries, want 137", pages, len(ds))
		}
		f.Cursor = next
	}
	if len(seen) != n || pages != (n+136)/137 {
		t.Fatalf("paged %d deliveries in %d pages, want %d in %d", len(seen), pages, n, (n+136)/137)
	}
}

func testListFilters(t *testing.T, s store.Store) {
	type row struct {
		id, webhook string
		typ         cdr.Type
		status      store.Status
		late        bool
	}
	var (
		rows  []row
		webs  = []string{"crm", "erp", "bi"}
		types = []cdr.Type{cdr.TypeQueueEnded, cdr.TypeCallEnded, cdr.TypeIVREnded}
		id    int
	)
	acceptPhase := func(late bool) {
		var batch []store.NewEvent
		for i := range 30 {
			typ := types[i%3]
			ne := store.NewEvent{Event: EventOfType(typ, id, fmt.Sprint("c", id))}
			for j, w := range webs[:1+(i/3)%3] {
				did := fmt.Sprintf("d%03d-%d", id, j)
				ne.Deliveries = append(ne.Deliveries, dlv(did, w, fmt.Sprint("c", id), T0))
				rows = append(rows, row{id: did, webhook: w, typ: typ, status: store.StatusPending, late: late})
			}
			batch = append(batch, ne)
			id++
		}
		accept(t, s, batch...)
	}
	acceptPhase(false)
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	acceptPhase(true)
	// Move some deliveries to other statuses.
	jobs := claim(t, s, "w", T0, 1000)
	var results []store.Result
	for i, j := range jobs {
		st := store.Statuses[i%4]
		results = append(results, store.Result{Owner: "w", Status: st, NextAttemptAt: T0.Add(time.Hour), Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: T0}})
		for k := range rows {
			if rows[k].id == j.Delivery.ID {
				rows[k].status = st
			}
		}
	}
	check(t, s.Finish(ctx(t), results))
	filters := []struct {
		name string
		f    store.Filter
		keep func(r row) bool
	}{
		{"none", store.Filter{}, func(r row) bool { return true }},
		{"webhook", store.Filter{Webhook: "erp"}, func(r row) bool { return r.webhook == "erp" }},
		{"status", store.Filter{Status: store.StatusDead}, func(r row) bool { return r.status == store.StatusDead }},
		{"event type", store.Filter{EventType: cdr.TypeCallEnded}, func(r row) bool { return r.typ == cdr.TypeCallEnded }},
		{"since", store.Filter{Since: mid}, func(r row) bool { return r.late }},
		{"until", store.Filter{Until: mid}, func(r row) bool { return !r.late }},
		{"since until", store.Filter{Since: mid.Add(-time.Hour), Until: mid}, func(r row) bool { return !r.late }},
		{"webhook status", store.Filter{Webhook: "crm", Status: store.StatusDelivered}, func(r row) bool { return r.webhook == "crm" && r.status == store.StatusDelivered }},
		{"webhook type since", store.Filter{Webhook: "bi", EventType: cdr.TypeIVREnded, Since: mid}, func(r row) bool {
			return r.webhook == "bi" && r.typ == cdr.TypeIVREnded && r.late
		}},
		{"all", store.Filter{Webhook: "crm", Status: store.StatusPending, EventType: cdr.TypeQueueEnded, Since: mid.Add(-time.Hour), Until: mid.Add(time.Hour)}, func(r row) bool {
			return r.webhook == "crm" && r.status == store.StatusPending && r.typ == cdr.TypeQueueEnded
		}},
		{"event id", store.Filter{EventID: EventOfType(types[4%3], 4, "").ID}, func(r row) bool { return r.id[:4] == "d004" }},
		{"nothing matches", store.Filter{Webhook: "nope"}, func(r row) bool { return false }},
	}
	for _, tc := range filters {
		var want []string
		for i := len(rows) - 1; i >= 0; i-- {
			if tc.keep(rows[i]) {
				want = append(want, rows[i].id)
			}
		}
		if len(want) == 0 && tc.name != "nothing matches" {
			t.Fatalf("%s: the fixture matches nothing", tc.name)
		}
		for _, limit := range []int{7, 0} {
			f := tc.f
			f.Limit = limit
			equalIDs(t, fmt.Sprintf("%s (limit %d)", tc.name, limit), listAll(t, s, f), want)
		}
	}
}

func testListBadCursor(t *testing.T, s store.Store) {
	for _, c := range []string{"x", "s", "s-1", "12", "s0"} {
		if _, _, err := s.ListDeliveries(ctx(t), store.Filter{Cursor: c}); err == nil {
			t.Fatalf("cursor %q accepted", c)
		}
	}
}

func testNotFound(t *testing.T, s store.Store) {
	if _, err := s.GetEvent(ctx(t), "evt_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEvent: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.GetDelivery(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDelivery: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteWebhook(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteWebhook: err = %v, want ErrNotFound", err)
	}
	check(t, s.Ping(ctx(t)))
}

func testEventDelivered(t *testing.T, s store.Store) {
	e1, e2 := Event(1, "c1"), Event(2, "c2")
	accept(t, s, store.NewEvent{Event: e1, Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0), dlv("d2", "erp", "c1", T0)}},
		store.NewEvent{Event: e2, Deliveries: []store.NewDelivery{dlv("d3", "crm", "c2", T0)}})
	claim(t, s, "w", T0, 10)
	check(t, s.Finish(ctx(t), []store.Result{
		{Owner: "w", Status: store.StatusDead, Attempt: store.Attempt{DeliveryID: "d1"}},
		{Owner: "w", Status: store.StatusDelivered, Attempt: store.Attempt{DeliveryID: "d2"}},
		{Owner: "w", Status: store.StatusFailed, Attempt: store.Attempt{DeliveryID: "d3"}},
	}))
	for id, want := range map[string]bool{e1.ID: true, e2.ID: false, "evt_nope": false} {
		if got := must(s.EventDelivered(ctx(t), id))(t); got != want {
			t.Fatalf("EventDelivered(%s) = %v, want %v", id, got, want)
		}
	}
}

func testRecentAttempts(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0), dlv("d2", "erp", "c1", T0)}})
	for i := range 5 {
		check(t, s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "d1", At: T0.Add(time.Duration(i) * time.Second), LatencyMS: int64(i)}, false))
	}
	check(t, s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "d2", At: T0.Add(time.Hour), LatencyMS: 99}, false))
	// Logged out of time order: newest by time comes first.
	check(t, s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "d1", At: T0.Add(-time.Second), LatencyMS: -1}, false))
	as := must(s.RecentAttempts(ctx(t), "crm", 3))(t)
	var got []int64
	for _, a := range as {
		got = append(got, a.LatencyMS)
		if a.Webhook != "crm" {
			t.Fatalf("attempt of webhook %q", a.Webhook)
		}
	}
	if !slices.Equal(got, []int64{4, 3, 2}) {
		t.Fatalf("recent attempts: latencies %v, want [4 3 2]", got)
	}
	if as := must(s.RecentAttempts(ctx(t), "crm", 100))(t); len(as) != 6 || as[5].LatencyMS != -1 {
		t.Fatalf("all recent attempts: %d, last %+v", len(as), as[len(as)-1])
	}
	if as := must(s.RecentAttempts(ctx(t), "nope", 3))(t); len(as) != 0 {
		t.Fatalf("attempts of an unknown webhook: %v", as)
	}
}

func testStats(t *testing.T, s store.Store) {
	st := must(s.Stats(ctx(t), T0))(t)
	if st.Pending != 0 || !st.OldestPending.IsZero() || st.ByStatus[store.StatusDelivered] != 0 {
		t.Fatalf("empty stats: %+v", st)
	}
	before := time.Now().Add(-time.Second)
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{
		dlv("d1", "crm", "c1", T0), dlv("d2", "erp", "c1", T0), dlv("d3", "bi", "c1", T0), dlv("d4", "x", "c1", T0.Add(time.Hour))}})
	claim(t, s, "w", T0, 2)
	check(t, s.Finish(ctx(t), []store.Result{
		{Owner: "w", Status: store.StatusDelivered, Attempt: store.Attempt{DeliveryID: "d1"}},
		{Owner: "w", Status: store.StatusDead, Attempt: store.Attempt{DeliveryID: "d2"}},
	}))
	st = must(s.Stats(ctx(t), T0))(t)
	want := map[store.Status]int64{store.StatusPending: 2, store.StatusDelivered: 1, store.StatusDead: 1, store.StatusFailed: 0}
	if st.Pending != 2 || st.Due != 1 || !maps(st.ByStatus, want) {
		t.Fatalf("stats: %+v, want pending 2, due 1, by status %v", st, want)
	}
	if st.OldestPending.Before(before) || st.OldestPending.After(time.Now()) {
		t.Fatalf("oldest pending %v is not the creation time", st.OldestPending)
	}
}

func maps(a, b map[store.Status]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func testPaused(t *testing.T, s store.Store) {
	if m := must(s.Paused(ctx(t)))(t); len(m) != 0 {
		t.Fatalf("paused at start: %v", m)
	}
	check(t, s.SetPaused(ctx(t), "crm", true))
	check(t, s.SetPaused(ctx(t), "erp", true))
	check(t, s.SetPaused(ctx(t), "erp", false))
	m := must(s.Paused(ctx(t)))(t)
	if len(m) != 2 || !m["crm"] || m["erp"] {
		t.Fatalf("paused: %v, want crm true, erp false", m)
	}
	if err := s.SetPaused(ctx(t), "", true); err == nil {
		t.Fatal("SetPaused with no name succeeded")
	}
}

func testWebhooks(t *testing.T, s store.Store) {
	created := T0
	check(t, s.PutWebhook(ctx(t), store.StoredWebhook{Name: "zeta", Spec: json.RawMessage(`{"url":"https://z"}`), CreatedAt: created}))
	check(t, s.PutWebhook(ctx(t), store.StoredWebhook{Name: "alpha", Spec: json.RawMessage(`{"url":"https://a"}`)}))
	check(t, s.PutWebhook(ctx(t), store.StoredWebhook{Name: "zeta", Spec: json.RawMessage(`{"url":"https://z2"}`)}))
	ws := must(s.ListWebhooks(ctx(t)))(t)
	if len(ws) != 2 || ws[0].Name != "alpha" || ws[1].Name != "zeta" {
		t.Fatalf("webhooks: %+v", ws)
	}
	var spec map[string]string
	check(t, json.Unmarshal(ws[1].Spec, &spec))
	if spec["url"] != "https://z2" || !ws[1].CreatedAt.Equal(created) || !ws[1].UpdatedAt.After(created) {
		t.Fatalf("replaced webhook: spec %s created %v updated %v", ws[1].Spec, ws[1].CreatedAt, ws[1].UpdatedAt)
	}
	check(t, s.DeleteWebhook(ctx(t), "zeta"))
	if ws := must(s.ListWebhooks(ctx(t)))(t); len(ws) != 1 || ws[0].Name != "alpha" {
		t.Fatalf("after delete: %+v", ws)
	}
	for _, w := range []store.StoredWebhook{{Spec: json.RawMessage(`{}`)}, {Name: "x", Spec: json.RawMessage(`{`)}} {
		if err := s.PutWebhook(ctx(t), w); err == nil {
			t.Fatalf("PutWebhook(%+v) succeeded", w)
		}
	}
}

func testMigrateIdempotent(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{dlv("d1", "crm", "c1", T0)}})
	check(t, s.Migrate(ctx(t)))
	check(t, s.Migrate(ctx(t)))
	equalIDs(t, "after migrating again", listAll(t, s, store.Filter{}), []string{"d1"})
}
