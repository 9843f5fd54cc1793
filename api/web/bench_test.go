package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/api/web"
	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// benchDeliveries is how many deliveries the store holds for the page benchmark.
const benchDeliveries = 100_000

// sessionFor signs in to h and returns the session cookie.
func sessionFor(tb testing.TB, h http.Handler) *http.Cookie {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == web.CookieName {
			return c
		}
	}
	tb.Fatalf("sign-in: status %d, no cookie", rec.Code)
	return nil
}

// warm renders path until it holds mark: the webhooks page shows its
// sparklines once the outcomes cache has them (the first view of a busy
// store shows the page without them after outcomesWait).
func warm(b *testing.B, h http.Handler, ck *http.Cookie, path, mark string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), mark) {
			return
		}
	}
	b.Fatalf("GET %s: no %q within a minute", path, mark)
}

// servePage renders path and fails unless it answers 200 with mark.
func servePage(b *testing.B, h http.Handler, ck *http.Cookie, path, mark string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(ck)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), mark) {
		b.Fatalf("GET %s: status %d, no %q", path, rec.Code, mark)
	}
}

// BenchmarkPages renders console pages over a SQLite store holding 100,000
// events, deliveries and attempts (the last spread over 24 hours):
// /deliveries first page, filtered and deep, /webhooks with its sparklines
// and an /events search. Each page reports ms/page and its ratio to the
// store work alone (x_store, baseline measured in the same run). "fake"
// renders /deliveries from an in-memory page, the template's own cost.
func BenchmarkPages(b *testing.B) {
	bu := setup(b, setupOpts{token: token})
	ctx := context.WithoutCancel(b.Context())
	start := time.Now()
	const batch = 2000
	for i := 0; i < benchDeliveries; i += batch {
		evs := make([]cdr.Event, 0, batch)
		for j := i; j < i+batch; j++ {
			ev := queueEvent(j, fmt.Sprintf("bench-%d", j), fmt.Sprintf("+1555%07d", j%5000))
			if j%4 == 0 {
				ev = callEvent(j)
			}
			evs = append(evs, ev)
		}
		if _, err := bu.eng.AcceptPlanned(ctx, plan(bu.eng, evs), false); err != nil {
			b.Fatal(err)
		}
	}
	// One attempt per delivery, spread over the last 24 hours (sparklines).
	now := time.Now().UTC()
	var cursor string
	n := 0
	for {
		ds, next, err := bu.st.ListDeliveries(ctx, store.Filter{Limit: store.MaxLimit, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		results := make([]store.Result, 0, len(ds))
		for _, d := range ds {
			status := 200
			if n%10 == 0 {
				status = 503
			}
			results = append(results, store.Result{Owner: "bench", Status: store.StatusPending, NextAttemptAt: now,
				Attempt: store.Attempt{DeliveryID: d.ID, N: 1, At: now.Add(-time.Duration(n%(24*60)) * time.Minute),
					Request: store.HTTPRequest{Method: "POST", URL: "http://127.0.0.1/crm"}, Response: &store.HTTPResponse{Status: status}, LatencyMS: 15}})
			n++
		}
		if err := bu.st.Finish(ctx, results); err != nil {
			b.Fatal(err)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	b.Logf("stored %d deliveries and %d attempts in %s", benchDeliveries, n, time.Since(start).Round(time.Millisecond))
	h := bu.srv.Config.Handler
	ck := sessionFor(b, h)
	// A cursor deep in the log.
	_, deep, err := bu.st.ListDeliveries(ctx, store.Filter{Limit: store.MaxLimit})
	if err != nil {
		b.Fatal(err)
	}
	list := func(f store.Filter) func() error {
		return func() error { _, _, err := bu.st.ListDeliveries(ctx, f); return err }
	}
	hour := now.Truncate(time.Hour).Add(-23 * time.Hour)
	cases := []struct {
		name  string
		path  string
		mark  string       // text the page must hold
		query func() error // the store work of the page alone
	}{
		{"first", "/deliveries", "data-delivery=", list(store.Filter{Limit: 50})},
		{"status", "/deliveries?status=pending&webhook=crm", "data-delivery=", list(store.Filter{Status: store.StatusPending, Webhook: "crm", Limit: 50})},
		{"type", "/deliveries?event_type=call.ended", "data-delivery=", list(store.Filter{EventType: cdr.TypeCallEnded, Limit: 50})},
		{"deep", "/deliveries?cursor=" + deep, "data-delivery=", list(store.Filter{Cursor: deep, Limit: 50})},
		{"webhooks", "/webhooks", "spark-fail", func() error {
			_, err := bu.st.Outcomes(ctx, hour, hour.Add(24*time.Hour), time.Hour)
			return err
		}},
		{"events", "/events?caller=%2B15550000042", "data-event=", func() error {
			_, _, err := bu.st.ListEvents(ctx, store.EventFilter{CallerNumber: "+15550000042", Limit: 50})
			return err
		}},
	}
	for _, c := range cases {
		var base, page time.Duration
		b.Run(c.name+"/store", func(b *testing.B) {
			for b.Loop() {
				if err := c.query(); err != nil {
					b.Fatal(err)
				}
			}
			base = b.Elapsed() / time.Duration(b.N)
		})
		b.Run(c.name+"/page", func(b *testing.B) {
			warm(b, h, ck, c.path, c.mark)
			for b.Loop() {
				servePage(b, h, ck, c.path, c.mark)
			}
			page = b.Elapsed() / time.Duration(b.N)
			if base > 0 {
				b.ReportMetric(float64(page)/float64(base), "x_store")
			}
			b.ReportMetric(float64(page)/float64(time.Millisecond), "ms/page")
		})
	}
	b.Run("fake", func(b *testing.B) {
		ds, _, _ := bu.st.ListDeliveries(ctx, store.Filter{Limit: 50})
		fh := web.New(web.Options{Token: token, Engine: bu.eng, Store: fixedStore{ds: ds}})
		fck := sessionFor(b, fh)
		for b.Loop() {
			servePage(b, fh, fck, "/deliveries", "data-delivery=")
		}
	})
}

// callEvent is a call.ended event with its own ids.
func callEvent(i int) cdr.Event {
	ev := mapping.SampleEvent(cdr.TypeCallEnded)
	c := *ev.Record.(*cdr.Call)
	c.CallID = fmt.Sprintf("bench-call-%d", i)
	c.ID = "ari:pbx1:" + c.CallID
	return cdr.NewEvent(cdr.TypeCallEnded, ev.Time.Add(time.Duration(i)*time.Second), ev.Source, &c)
}

// plan gives every event its deliveries as Accept would, without debounce.
func plan(eng *delivery.Engine, evs []cdr.Event) []delivery.Planned {
	out := make([]delivery.Planned, 0, len(evs))
	for _, ev := range evs {
		out = append(out, delivery.Planned{Event: ev, Deliveries: eng.Plan(ev, nil)})
	}
	return out
}

// fixedStore answers every list with the same page.
type fixedStore struct{ ds []store.Delivery }

func (f fixedStore) GetEvent(context.Context, string) (cdr.Event, error) {
	return cdr.Event{}, store.ErrNotFound
}

func (f fixedStore) GetDelivery(context.Context, string) (store.Delivery, []store.Attempt, error) {
	return store.Delivery{}, nil, store.ErrNotFound
}

func (f fixedStore) ListDeliveries(context.Context, store.Filter) ([]store.Delivery, string, error) {
	return f.ds, "s1", nil
}
