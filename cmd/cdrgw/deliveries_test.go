package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/api"
	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store"
)

// seeded is what the paging test knows about each delivery it seeded.
type seeded struct {
	webhook string
	typ     cdr.Type
	status  store.Status
	late    bool // created after the boundary
}

// seedDeliveries stores events from..to-1 (one delivery each, to archive-a
// for even and archive-b for odd events) directly through the store API.
func seedDeliveries(t *testing.T, st store.Store, from, to int, backdate bool, into map[string]*seeded, late bool) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	for start := from; start < to; start += 1000 {
		var batch []store.NewEvent
		for i := start; i < min(start+1000, to); i++ {
			ev := seedEvent(i)
			d := store.NewDelivery{ID: delivery.NewID(now), Webhook: "archive-a", Key: ev.Record.Key()}
			if i%2 == 1 {
				d.Webhook = "archive-b"
			}
			if backdate && i%3 == 0 {
				d.NotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // claimed first
			}
			into[d.ID] = &seeded{webhook: d.Webhook, typ: ev.Type, status: store.StatusPending, late: late}
			batch = append(batch, store.NewEvent{Event: ev, Deliveries: []store.NewDelivery{d}})
		}
		if _, err := st.Accept(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// finishSome claims n of webhook's due deliveries and ends them delivered,
// dead and failed in turn.
func finishSome(t *testing.T, st store.Store, webhook string, n int, into map[string]*seeded) {
	t.Helper()
	ctx := context.Background()
	jobs, err := st.Claim(ctx, store.ClaimParams{Owner: "seed", Now: time.Now().Add(time.Hour), Limit: n, Lease: time.Minute, Webhook: webhook})
	if err != nil || len(jobs) != n {
		t.Fatalf("claim %d of %s: %d, %v", n, webhook, len(jobs), err)
	}
	statuses := []store.Status{store.StatusDelivered, store.StatusDead, store.StatusFailed}
	var results []store.Result
	for i, j := range jobs {
		s := statuses[i%3]
		results = append(results, store.Result{Owner: "seed", Status: s,
			Attempt: store.Attempt{DeliveryID: j.Delivery.ID, N: 1, At: time.Now(), Request: store.HTTPRequest{Method: "POST", URL: "http://x"}, Error: "seeded"}})
		into[j.Delivery.ID].status = s
	}
	if err := st.Finish(ctx, results); err != nil {
		t.Fatal(err)
	}
}

// pageAll pages GET /api/deliveries?query with limit and returns the ids
// in order, failing on a repeat.
func pageAll(t *testing.T, g *gateway, query string, limit int) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor := ""
	var last time.Time
	for pages := 0; ; pages++ {
		q := query + fmt.Sprintf("&limit=%d", limit)
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var page api.DeliveryPage
		g.get(t, "GET", "/api/deliveries?"+q, 200, &page)
		if len(page.Items) > limit {
			t.Fatalf("page of %d items with limit %d", len(page.Items), limit)
		}
		for _, d := range page.Items {
			if seen[d.ID] {
				t.Fatalf("delivery %s repeated on page %d", d.ID, pages)
			}
			if !last.IsZero() && d.CreatedAt.After(last) {
				t.Fatalf("page %d: %s created %s after the previous item (%s): not newest first", pages, d.ID, d.CreatedAt, last)
			}
			last = d.CreatedAt
			seen[d.ID] = true
			ids = append(ids, d.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		if len(page.Items) != limit {
			t.Fatalf("short page (%d of %d) with a next cursor", len(page.Items), limit)
		}
		cursor = page.NextCursor
	}
}

func TestDeliveriesPaging10000(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 deliveries per store")
	}
	forEachStore(t, func(t *testing.T, storeURL string) {
		st := openTestStore(t, storeURL)
		all := map[string]*seeded{}
		seedDeliveries(t, st, 0, 6000, false, all, false)
		finishSome(t, st, "archive-a", 600, all)
		time.Sleep(20 * time.Millisecond)
		boundary := time.Now()
		time.Sleep(20 * time.Millisecond)
		seedDeliveries(t, st, 6000, 10000, true, all, true)
		finishSome(t, st, "archive-b", 900, all)
		if len(all) != 10000 {
			t.Fatalf("seeded %d", len(all))
		}

		recv := receiver.Start(t, nil)
		listen := freeAddr(t)
		g := startGateway(t, writeConfig(t, storeURL, listen, testToken,
			hookYAML{name: "live", url: recv.URL, events: "queue.ended", attempts: 1}), listen)

		t.Run("every delivery once", func(t *testing.T) {
			for _, limit := range []int{1000, 333} {
				ids := pageAll(t, g, "", limit)
				if len(ids) != len(all) {
					t.Fatalf("limit %d: %d deliveries, want %d", limit, len(ids), len(all))
				}
				for _, id := range ids {
					if all[id] == nil {
						t.Fatalf("unknown delivery %s", id)
					}
				}
			}
		})

		t.Run("rows added while paging", func(t *testing.T) {
			var page api.DeliveryPage
			g.get(t, "GET", "/api/deliveries?limit=1000", 200, &page)
			got := map[string]bool{}
			for _, d := range page.Items {
				got[d.ID] = true
			}
			extra := map[string]*seeded{}
			seedDeliveries(t, st, 20000, 20050, false, extra, true)
			cursor := page.NextCursor
			for cursor != "" {
				var p api.DeliveryPage
				g.get(t, "GET", "/api/deliveries?limit=1000&cursor="+cursor, 200, &p)
				for _, d := range p.Items {
					if got[d.ID] || extra[d.ID] != nil {
						t.Fatalf("delivery %s repeated or added after the first page", d.ID)
					}
					got[d.ID] = true
				}
				cursor = p.NextCursor
			}
			if len(got) != len(all) {
				t.Fatalf("%d deliveries, want %d (gaps)", len(got), len(all))
			}
			for id, s := range extra {
				all[id] = s
			}
		})

		b := boundary.UTC().Format(time.RFC3339Nano)
		for _, tc := range []struct {
			name  string
			query string
			match func(s *seeded) bool
		}{
			{"webhook+status", "webhook=archive-a&status=delivered", func(s *seeded) bool {
				return s.webhook == "archive-a" && s.status == store.StatusDelivered
			}},
			{"webhook+status+type", "webhook=archive-b&status=dead&event_type=ivr.ended", func(s *seeded) bool {
				return s.webhook == "archive-b" && s.status == store.StatusDead && s.typ == cdr.TypeIVREnded
			}},
			{"status+since", "status=failed&since=" + b, func(s *seeded) bool { return s.status == store.StatusFailed && s.late }},
			{"status+until", "status=failed&until=" + b, func(s *seeded) bool { return s.status == store.StatusFailed && !s.late }},
			{"webhook+until", "webhook=archive-b&until=" + b, func(s *seeded) bool { return s.webhook == "archive-b" && !s.late }},
			{"type+status+since+until", "event_type=App.QueueWebhook&status=pending&since=" + b + "&until=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
				func(s *seeded) bool { return s.typ == cdr.TypeQueueEnded && s.status == store.StatusPending && s.late }},
			{"contradiction", "webhook=archive-a&event_type=ivr.ended", func(*seeded) bool { return false }},
		} {
			t.Run("filter "+tc.name, func(t *testing.T) {
				want := 0
				for _, s := range all {
					if tc.match(s) {
						want++
					}
				}
				ids := pageAll(t, g, tc.query, 250)
				for _, id := range ids {
					if s := all[id]; s == nil || !tc.match(s) {
						t.Fatalf("%s does not match %s", id, tc.query)
					}
				}
				if len(ids) != want {
					t.Fatalf("%s: %d deliveries, want %d", tc.query, len(ids), want)
				}
			})
		}
	})
}
