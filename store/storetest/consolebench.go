package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

// The console fixture is filled by each backend's tests with SQL (fast):
// ConsoleRows events "e1".."eN" received one every 8 s up to a time now,
// types cycling call.ended/queue.ended/ivr.ended, sources pbx0..pbx2,
// call ids "call-<i/2>", callers "+4930<i%5000>"; one delivery "d<seq>"
// each for webhooks crm/erp/bi/slow in turn, 90% delivered, 4% failed, 3%
// dead, 3% pending; one attempt per delivery, four for those not delivered.

// ConsoleRows is the number of events and deliveries of the console fixture.
const ConsoleRows = 100_000

// ConsoleDeliveryFilters are the delivery filters the console runs, on the
// console fixture received up to now: none, each alone, and combinations.
func ConsoleDeliveryFilters(now time.Time) map[string]store.Filter {
	day := 24 * time.Hour
	return map[string]store.Filter{
		"none":                     {},
		"webhook":                  {Webhook: "erp"},
		"status pending":           {Status: store.StatusPending},
		"status delivered":         {Status: store.StatusDelivered},
		"status dead":              {Status: store.StatusDead},
		"event type":               {EventType: cdr.TypeIVREnded},
		"event id":                 {EventID: "e4242"},
		"since 1h":                 {Since: now.Add(-time.Hour)},
		"since 5d":                 {Since: now.Add(-5 * day)},
		"until 5d":                 {Until: now.Add(-5 * day)},
		"since until":              {Since: now.Add(-6 * day), Until: now.Add(-5 * day)},
		"webhook status":           {Webhook: "crm", Status: store.StatusFailed},
		"webhook event type since": {Webhook: "bi", EventType: cdr.TypeCallEnded, Since: now.Add(-2 * day)},
		"status event type":        {Status: store.StatusDead, EventType: cdr.TypeQueueEnded},
		"all":                      {Webhook: "slow", Status: store.StatusPending, EventType: cdr.TypeCallEnded, Since: now.Add(-7 * day), Until: now.Add(-day)},
	}
}

// ConsoleEventFilters are the event filters the console runs, on the
// console fixture received up to now.
func ConsoleEventFilters(now time.Time) map[string]store.EventFilter {
	day := 24 * time.Hour
	return map[string]store.EventFilter{
		"none":         {},
		"caller":       {CallerNumber: "+49304242"},
		"call id":      {CallID: "call-4242"},
		"type":         {Type: cdr.TypeQueueEnded},
		"source":       {Source: "pbx1"},
		"since 1h":     {Since: now.Add(-time.Hour)},
		"until 5d":     {Until: now.Add(-5 * day)},
		"since until":  {Since: now.Add(-6 * day), Until: now.Add(-5 * day)},
		"caller type":  {CallerNumber: "+49301000", Type: cdr.TypeCallEnded},
		"source since": {Source: "pbx2", Since: now.Add(-day)},
		"all":          {CallerNumber: "+49301001", CallID: "call-500", Type: cdr.TypeIVREnded, Source: "pbx0", Since: now.Add(-7 * day), Until: now},
	}
}

// BenchConsole measures the console's pages on a store holding the console
// fixture received up to now: the first page of deliveries (no filter), a
// page 90% deep (its cursor found by paging), the first page of a caller's
// events, the 24 hourly outcomes of every webhook (the webhooks page's
// sparklines), and as the baseline one GetDelivery; and, when offsetPage is
// not nil, the same deep page read by OFFSET (offsetPage reads limit
// deliveries newest first after skipping offset and returns how many it
// read). It reports milliseconds per call, deep/first (about 1: a page by
// key costs the same at any depth), offset/deep (what paging by key saves)
// and first/get (a page against a point lookup).
func BenchConsole(b *testing.B, s store.Store, now time.Time, offsetPage func(ctx context.Context, offset, limit int) (int, error)) {
	ctx := b.Context()
	// The cursor of a page 90% deep, by paging with the largest pages.
	f := store.Filter{Limit: store.MaxLimit}
	seen := 0
	for seen < ConsoleRows*9/10 {
		ds, next, err := s.ListDeliveries(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		if next == "" {
			b.Fatalf("paged to the end after %d deliveries, want %d", seen+len(ds), ConsoleRows)
		}
		seen += len(ds)
		f.Cursor = next
	}
	deep := f.Cursor
	var first, deepT, offsetT, caller, outcomes, get time.Duration
	lap := func(d *time.Duration, fn func() (int, error)) {
		start := time.Now()
		n, err := fn()
		*d += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatal("empty page")
		}
	}
	n := 0
	for b.Loop() {
		lap(&first, func() (int, error) { ds, _, err := s.ListDeliveries(ctx, store.Filter{}); return len(ds), err })
		lap(&deepT, func() (int, error) {
			ds, _, err := s.ListDeliveries(ctx, store.Filter{Cursor: deep})
			return len(ds), err
		})
		if offsetPage != nil {
			lap(&offsetT, func() (int, error) { return offsetPage(ctx, seen, store.DefaultLimit) })
		}
		lap(&caller, func() (int, error) {
			es, _, err := s.ListEvents(ctx, store.EventFilter{CallerNumber: "+49304242"})
			return len(es), err
		})
		lap(&outcomes, func() (int, error) {
			m, err := s.Outcomes(ctx, now.Add(-24*time.Hour), now, time.Hour)
			return len(m), err
		})
		lap(&get, func() (int, error) { _, as, err := s.GetDelivery(ctx, "d4242"); return len(as), err })
		n++
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(n) }
	b.ReportMetric(ms(first), "ms/first-page")
	b.ReportMetric(ms(deepT), "ms/deep-page")
	b.ReportMetric(ms(caller), "ms/events-by-caller")
	b.ReportMetric(ms(outcomes), "ms/outcomes-24h")
	b.ReportMetric(ms(get), "ms/get-delivery")
	b.ReportMetric(float64(deepT)/float64(first), "deep/first")
	b.ReportMetric(float64(first)/float64(get), "first/get")
	if offsetPage != nil {
		b.ReportMetric(ms(offsetT), "ms/offset-page")
		b.ReportMetric(float64(offsetT)/float64(deepT), "offset/deep")
	}
}
