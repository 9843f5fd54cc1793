package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/api"
	"github.com/cdrgw/cdrgw/internal/receiver"
)

// live is a running gateway with two webhooks, "ok" (a receiver answering
// 200) and "bad" (one answering 500 until healed), after the Teams sample
// (one queue and one IVR record) went through it: ok has 2 delivered
// deliveries, bad 1 dead one after 2 attempts.
type live struct {
	g          *gateway
	okRecv     *receiver.Receiver
	badRecv    *receiver.Receiver
	healed     *atomic.Bool
	goneURL    string // a receiver that is down
	storeURL   string
	okIDs      []string
	deadID     string
	deadEvent  string
	sampleBody []byte
}

func setupLive(t *testing.T, storeURL string) *live {
	t.Helper()
	l := &live{storeURL: storeURL, healed: &atomic.Bool{}}
	l.okRecv = receiver.Start(t, func(*receiver.Request) receiver.Response {
		return receiver.Response{Status: 200, Body: `{"stored":true}`}
	})
	l.badRecv = receiver.Start(t, func(*receiver.Request) receiver.Response {
		if l.healed.Load() {
			return receiver.Response{Status: 200, Body: "ok now"}
		}
		return receiver.Response{Status: 500, Body: "boom", Header: map[string]string{"X-Trace": "t-1"}}
	})
	l.goneURL = "http://" + freeAddr(t) + "/hook" // nothing listens there
	listen := freeAddr(t)
	cfg := writeConfig(t, storeURL, listen, testToken,
		hookYAML{name: "ok", url: l.okRecv.URL + "/hook", events: "queue.ended, ivr.ended", attempts: 3},
		hookYAML{name: "bad", url: l.badRecv.URL + "/hook", events: "queue.ended", attempts: 2},
		hookYAML{name: "gone", url: l.goneURL, events: "ivr.ended", attempts: 3},
	)
	l.g = startGateway(t, cfg, listen)
	body, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	l.sampleBody = body
	// The gone webhook's deliveries stay pending while it is paused.
	l.g.get(t, "POST", "/api/webhooks/gone/pause", 200, nil)
	l.g.postTeams(t, body)
	waitFor(t, 20*time.Second, "ok delivered twice and bad dead", func() bool {
		var okPage, deadPage api.DeliveryPage
		l.g.get(t, "GET", "/api/deliveries?webhook=ok&status=delivered", 200, &okPage)
		l.g.get(t, "GET", "/api/deliveries?webhook=bad&status=dead", 200, &deadPage)
		if len(okPage.Items) != 2 || len(deadPage.Items) != 1 {
			return false
		}
		l.okIDs = []string{okPage.Items[0].ID, okPage.Items[1].ID}
		l.deadID, l.deadEvent = deadPage.Items[0].ID, deadPage.Items[0].EventID
		return true
	})
	return l
}

// errorOf decodes an {"error": ...} body.
func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	var e api.ErrorJSON
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error
}

func header(m map[string]string, name string) string {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func TestAdminAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeURL string) {
		l := setupLive(t, storeURL)
		g := l.g

		t.Run("auth", func(t *testing.T) {
			for _, tc := range []struct{ token, want string }{{"", "missing bearer token"}, {"nope", "wrong bearer token"}} {
				for _, p := range []struct{ method, path string }{
					{"GET", "/api/webhooks"}, {"GET", "/api/deliveries"}, {"GET", "/api/deliveries/" + l.deadID},
					{"POST", "/api/deliveries/" + l.deadID + "/resend"}, {"POST", "/api/webhooks/ok/test"},
					{"POST", "/api/webhooks/ok/pause"}, {"POST", "/api/webhooks/ok/resume"}, {"GET", "/api/events/" + l.deadEvent},
				} {
					status, body := g.call(t, p.method, p.path, tc.token)
					if status != http.StatusUnauthorized || errorOf(t, body) != tc.want {
						t.Errorf("%s %s with token %q: %d %s", p.method, p.path, tc.token, status, body)
					}
				}
			}
			if n := l.okRecv.Count(); n != 2 {
				t.Fatalf("unauthorized calls reached the receiver: %d requests, want 2", n)
			}
		})

		t.Run("webhooks", func(t *testing.T) {
			var hooks []api.WebhookJSON
			g.get(t, "GET", "/api/webhooks", 200, &hooks)
			if len(hooks) != 3 || hooks[0].Name != "ok" || hooks[1].Name != "bad" || hooks[2].Name != "gone" {
				t.Fatalf("webhooks: %+v", hooks)
			}
			ok, bad, gone := hooks[0], hooks[1], hooks[2]
			if !ok.Active || ok.Encoding != "json" || ok.URL != l.okRecv.URL+"/hook" || len(ok.Events) != 2 || ok.Events[0] != "queue.ended" {
				t.Errorf("ok: %+v", ok)
			}
			if ok.Health.SuccessRate != 1 || ok.Health.LastStatus != 200 || ok.Health.ConsecutiveFailures != 0 || ok.Health.Attempts != 2 {
				t.Errorf("ok health: %+v", ok.Health)
			}
			if bad.Health.SuccessRate != 0 || bad.Health.LastStatus != 500 || bad.Health.ConsecutiveFailures != 2 || bad.Health.P95MS < bad.Health.AvgMS {
				t.Errorf("bad health: %+v", bad.Health)
			}
			if !gone.Paused || ok.Paused {
				t.Errorf("paused: ok %v, gone %v", ok.Paused, gone.Paused)
			}
		})

		t.Run("delivery detail", func(t *testing.T) {
			var d api.DeliveryDetail
			g.get(t, "GET", "/api/deliveries/"+l.deadID, 200, &d)
			if d.Status != "dead" || d.Webhook != "bad" || d.EventType != "queue.ended" || d.AttemptCount != 2 || len(d.Attempts) != 2 || d.NextAttemptAt != nil {
				t.Fatalf("dead delivery: %+v", d)
			}
			for i, a := range d.Attempts {
				if a.N != i+1 || a.Manual || a.OK || a.Response == nil || a.Response.Status != 500 || a.Response.Body != "boom" ||
					header(a.Response.Headers, "X-Trace") != "t-1" || a.Request.Method != "POST" || a.Request.URL != l.badRecv.URL+"/hook" {
					t.Fatalf("attempt %d: %+v", i, a)
				}
				if header(a.Request.Headers, "webhook-id") != l.deadID || !strings.Contains(a.Request.Body, `"type":"queue.ended"`) {
					t.Fatalf("attempt %d request: %+v", i, a.Request)
				}
				// The signature is logged redacted, never in the clear.
				sent := l.badRecv.Requests()[i].Header.Get("webhook-signature")
				if logged := header(a.Request.Headers, "webhook-signature"); sent == "" || logged == sent {
					t.Fatalf("signature logged as %q (sent %q)", logged, sent)
				}
			}
		})

		t.Run("event", func(t *testing.T) {
			var ev map[string]any
			g.get(t, "GET", "/api/events/"+l.deadEvent, 200, &ev)
			rec, _ := ev["record"].(map[string]any)
			if ev["id"] != l.deadEvent || ev["type"] != "queue.ended" || rec["call_id"] != "0f3c2b6e-6a51-4f7e-9d0e-2d1f2f0a9a11" {
				t.Fatalf("event: %v", ev)
			}
		})

		t.Run("resend delivered", func(t *testing.T) {
			id := l.okIDs[0]
			var a api.AttemptJSON
			g.get(t, "POST", "/api/deliveries/"+id+"/resend", 200, &a)
			if !a.OK || !a.Manual || a.N != 2 || a.DeliveryID != id || a.Response == nil || a.Response.Status != 200 || a.Error != "" {
				t.Fatalf("resend: %+v", a)
			}
			if n := l.okRecv.IDs()[id]; n != 2 {
				t.Fatalf("receiver got delivery %s %d times, want 2 (same webhook-id)", id, n)
			}
			var d api.DeliveryDetail
			g.get(t, "GET", "/api/deliveries/"+id, 200, &d)
			if d.Status != "delivered" || d.AttemptCount != 1 || len(d.Attempts) != 2 || !d.Attempts[1].Manual || d.Attempts[0].Manual {
				t.Fatalf("after resend: %+v", d)
			}
		})

		t.Run("resend dead", func(t *testing.T) {
			// Failing: logged, not retried, status unchanged.
			before := l.badRecv.Count()
			var a api.AttemptJSON
			g.get(t, "POST", "/api/deliveries/"+l.deadID+"/resend", 200, &a)
			if a.OK || a.N != 3 || a.Response == nil || a.Response.Status != 500 {
				t.Fatalf("failing resend: %+v", a)
			}
			time.Sleep(300 * time.Millisecond) // several retry intervals
			if got := l.badRecv.Count(); got != before+1 {
				t.Fatalf("receiver got %d requests after one resend, want %d: a manual attempt was retried", got, before+1)
			}
			l.healed.Store(true)
			g.get(t, "POST", "/api/deliveries/"+l.deadID+"/resend", 200, &a)
			if !a.OK || a.N != 4 {
				t.Fatalf("healed resend: %+v", a)
			}
			var d api.DeliveryDetail
			g.get(t, "GET", "/api/deliveries/"+l.deadID, 200, &d)
			if d.Status != "delivered" || d.AttemptCount != 2 || len(d.Attempts) != 4 {
				t.Fatalf("after healed resend: status %s, %d automatic, %d logged", d.Status, d.AttemptCount, len(d.Attempts))
			}
		})

		t.Run("test send", func(t *testing.T) {
			before := l.okRecv.Count()
			var a api.AttemptJSON
			g.get(t, "POST", "/api/webhooks/ok/test", 200, &a)
			if !a.OK || !a.Manual || a.EventType != "queue.ended" || !strings.HasPrefix(a.DeliveryID, "dlv_") || a.Response.Status != 200 {
				t.Fatalf("test send: %+v", a)
			}
			reqs := l.okRecv.WaitT(t, before+1, 5*time.Second)
			if last := reqs[len(reqs)-1]; last.Header.Get("webhook-id") != a.DeliveryID || last.Header.Get("webhook-signature") == "" {
				t.Fatalf("receiver got %v", last.Header)
			}
			// Not stored.
			status, _ := g.call(t, "GET", "/api/deliveries/"+a.DeliveryID, testToken)
			if status != 404 {
				t.Fatalf("test delivery is stored: %d", status)
			}
		})

		t.Run("test send to a receiver that is down", func(t *testing.T) {
			var a api.AttemptJSON
			g.get(t, "POST", "/api/webhooks/gone/test", 200, &a)
			if a.OK || a.Response != nil || !strings.Contains(a.Error, "connection refused") || a.EventType != "ivr.ended" {
				t.Fatalf("test send to a closed port: %+v", a)
			}
			var page api.DeliveryPage
			g.get(t, "GET", "/api/deliveries?webhook=gone", 200, &page)
			if len(page.Items) != 1 || page.Items[0].Status != "pending" || page.Items[0].Attempts != 0 {
				t.Fatalf("the test send touched the webhook's deliveries: %+v", page.Items)
			}
		})

		t.Run("pause and resume", func(t *testing.T) {
			var w api.WebhookJSON
			g.get(t, "POST", "/api/webhooks/ok/pause", 200, &w)
			if !w.Paused || w.Name != "ok" {
				t.Fatalf("pause: %+v", w)
			}
			before := l.okRecv.Count()
			body := strings.Replace(string(l.sampleBody), "0f3c2b6e-6a51-4f7e-9d0e-2d1f2f0a9a11", "11111111-6a51-4f7e-9d0e-2d1f2f0a9a11", 1)
			g.postTeams(t, []byte(body))
			time.Sleep(500 * time.Millisecond)
			if got := l.okRecv.Count(); got != before {
				t.Fatalf("paused webhook sent %d requests", got-before)
			}
			var page api.DeliveryPage
			g.get(t, "GET", "/api/deliveries?webhook=ok&status=pending", 200, &page)
			if len(page.Items) != 1 || page.Items[0].NextAttemptAt == nil {
				t.Fatalf("pending while paused: %+v", page.Items)
			}
			g.get(t, "POST", "/api/webhooks/ok/resume", 200, &w)
			if w.Paused {
				t.Fatalf("resume: %+v", w)
			}
			l.okRecv.WaitT(t, before+1, 10*time.Second)
		})

		t.Run("errors", func(t *testing.T) {
			for _, tc := range []struct {
				method, path string
				status       int
				want         []string // in the error message
			}{
				{"GET", "/api/deliveries/dlv_nope", 404, []string{"dlv_nope", "not found"}},
				{"POST", "/api/deliveries/dlv_nope/resend", 404, []string{"dlv_nope", "not found"}},
				{"GET", "/api/events/evt_nope", 404, []string{"evt_nope", "not found"}},
				{"POST", "/api/webhooks/nope/test", 404, []string{`"nope"`}},
				{"POST", "/api/webhooks/nope/pause", 404, []string{`"nope"`}},
				{"POST", "/api/webhooks/nope/resume", 404, []string{`"nope"`}},
				{"GET", "/api/nothing", 404, []string{"/api/nothing"}},
				{"GET", "/api/deliveries?status=sent", 400, []string{"status", `"sent"`}},
				{"GET", "/api/deliveries?event_type=queue.done", 400, []string{"event_type", `"queue.done"`}},
				{"GET", "/api/deliveries?since=yesterday", 400, []string{"since", `"yesterday"`}},
				{"GET", "/api/deliveries?until=2026-13-01T00:00:00Z", 400, []string{"until", "2026-13-01"}},
				{"GET", "/api/deliveries?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", 400, []string{"until", "since"}},
				{"GET", "/api/deliveries?limit=0", 400, []string{"limit", `"0"`}},
				{"GET", "/api/deliveries?limit=1001", 400, []string{"limit", `"1001"`}},
				{"GET", "/api/deliveries?limit=ten", 400, []string{"limit", `"ten"`}},
				{"GET", "/api/deliveries?cursor=bogus", 400, []string{"cursor", `"bogus"`}},
				{"GET", "/api/deliveries?webhok=ok", 400, []string{"webhok"}},
				{"GET", "/api/deliveries?status=dead&status=failed", 400, []string{"status"}},
			} {
				status, body := g.call(t, tc.method, tc.path, testToken)
				msg := errorOf(t, body)
				if status != tc.status {
					t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, status, tc.status, msg)
				}
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s %s: error %q does not name %s", tc.method, tc.path, msg, w)
					}
				}
			}
		})
	})
}

func TestCLIAgainstGateway(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeURL string) {
		l := setupLive(t, storeURL)
		srv := []string{"--server", l.g.url}
		args := func(a ...string) []string { return append(a, srv...) }

		t.Run("deliveries table", func(t *testing.T) {
			r := runBin(t, testToken, args("deliveries")...)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[0], "ID ") {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			for _, id := range append(l.okIDs, l.deadID) {
				if !strings.Contains(r.stdout, id) {
					t.Errorf("table lacks %s", id)
				}
			}
			if !strings.Contains(r.stdout, "dead") || !strings.Contains(r.stdout, "pending") {
				t.Errorf("table lacks statuses:\n%s", r.stdout)
			}
		})
		t.Run("deliveries filters json", func(t *testing.T) {
			r := runBin(t, testToken, args("deliveries", "--json", "--webhook", "bad", "--status", "dead", "--event-type", "queue.ended",
				"--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--until", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))...)
			var d api.DeliveryJSON
			if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || json.Unmarshal([]byte(r.stdout), &d) != nil || d.ID != l.deadID || d.Attempts != 2 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		})
		t.Run("deliveries paging", func(t *testing.T) {
			r := runBin(t, testToken, args("deliveries", "--json", "--limit", "1")...)
			if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stderr, "--cursor s") {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			r = runBin(t, testToken, args("deliveries", "--json", "--limit", "1", "--all")...)
			seen := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				var d api.DeliveryJSON
				if err := json.Unmarshal([]byte(line), &d); err != nil || seen[d.ID] {
					t.Fatalf("line %q: %v (repeat %v)", line, err, seen[d.ID])
				}
				seen[d.ID] = true
			}
			if r.code != 0 || len(seen) != 4 {
				t.Fatalf("--all: %d deliveries, exit %d\n%s", len(seen), r.code, r.stderr)
			}
		})
		t.Run("resend", func(t *testing.T) {
			r := runBin(t, testToken, args("resend", l.okIDs[1])...)
			if r.code != 0 || !strings.Contains(r.stdout, "delivery "+l.okIDs[1]+" attempt 2 (manual): 200 OK") {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			r = runBin(t, testToken, args("resend", "--json", l.deadID)...)
			var a api.AttemptJSON
			if r.code != 1 || json.Unmarshal([]byte(r.stdout), &a) != nil || a.OK || a.Response.Status != 500 || !strings.Contains(r.stderr, "receiver answered 500") {
				t.Fatalf("failing resend: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		})
		t.Run("send-test", func(t *testing.T) {
			before := l.okRecv.Count()
			r := runBin(t, testToken, args("send-test", "ok")...)
			if r.code != 0 || !strings.Contains(r.stdout, "200 OK") || !strings.Contains(r.stdout, "queue.ended") {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if l.okRecv.Count() != before+1 {
				t.Fatalf("receiver got %d requests, want 1", l.okRecv.Count()-before)
			}
			before = l.badRecv.Count()
			r = runBin(t, testToken, args("send-test", "bad")...)
			time.Sleep(300 * time.Millisecond)
			if r.code != 1 || l.badRecv.Count() != before+1 {
				t.Fatalf("failing test send: exit %d, %d requests (want 1)\n%s", r.code, l.badRecv.Count()-before, r.stderr)
			}
			r = runBin(t, testToken, args("send-test", "gone")...)
			if r.code != 1 || !strings.Contains(r.stderr, "connection refused") {
				t.Fatalf("test send to a receiver that is down: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		})
		t.Run("errors", func(t *testing.T) {
			down := "http://" + freeAddr(t)
			for _, tc := range []struct {
				name, token string
				args        []string
				code        int
				want        string
			}{
				{"no token", "-", args("deliveries"), 1, "401 Unauthorized: missing bearer token"},
				{"wrong token", "nope", args("resend", l.deadID), 1, "401 Unauthorized: wrong bearer token"},
				{"bad filter", testToken, args("deliveries", "--status", "sent"), 1, `400 Bad Request: status: "sent"`},
				{"bad time", testToken, args("deliveries", "--since", "monday"), 1, `since: "monday"`},
				{"unknown delivery", testToken, args("resend", "dlv_nope"), 1, "404 Not Found"},
				{"unknown webhook", testToken, args("send-test", "nope"), 1, `404 Not Found: test send: webhook "nope"`},
				{"gateway down", testToken, []string{"deliveries", "--server", down}, 1, "connection refused"},
				{"bad server", testToken, []string{"deliveries", "--server", "ftp://x"}, 2, "--server"},
				{"resend without id", testToken, args("resend"), 2, "exactly one delivery ID"},
				{"send-test two names", testToken, args("send-test", "a", "b"), 2, "exactly one WEBHOOK"},
				{"deliveries extra arg", testToken, args("deliveries", "x"), 2, "unexpected arguments"},
				{"bad limit flag", testToken, args("deliveries", "--limit", "x"), 2, "invalid value"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := runBin(t, tc.token, tc.args...)
					if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
						t.Fatalf("exit %d (want %d), stderr %q does not contain %q", r.code, tc.code, r.stderr, tc.want)
					}
				})
			}
		})
	})
}

// urlQuery builds a query string.
func urlQuery(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q.Encode()
}
