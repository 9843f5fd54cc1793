package web_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/api/web"
	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/store"
)

// fakeEngine runs fixed webhooks and fails what it is told to.
type fakeEngine struct {
	hooks    []delivery.WebhookInfo
	pauseErr error
}

func (f *fakeEngine) Webhooks() []delivery.WebhookInfo { return f.hooks }
func (f *fakeEngine) SetPaused(context.Context, string, bool) error {
	return f.pauseErr
}
func (f *fakeEngine) Resend(context.Context, string) (delivery.ManualAttempt, error) {
	return delivery.ManualAttempt{}, errors.New("resend: engine stopped")
}
func (f *fakeEngine) TestSend(context.Context, string) (delivery.ManualAttempt, error) {
	return delivery.ManualAttempt{}, delivery.ErrSampleSkipped
}
func (f *fakeEngine) TestWebhook(context.Context, delivery.Webhook, cdr.Event) (delivery.ManualAttempt, error) {
	return delivery.ManualAttempt{}, delivery.ErrSampleSkipped
}
func (f *fakeEngine) Plan(cdr.Event, []string) []store.NewDelivery { return nil }
func (f *fakeEngine) AcceptPlanned(context.Context, []delivery.Planned, bool) ([]bool, error) {
	return nil, errors.New("not expected")
}

// brokenStore fails every read.
type brokenStore struct{}

var errDown = errors.New("database is down")

func (brokenStore) GetEvent(context.Context, string) (cdr.Event, error) { return cdr.Event{}, errDown }
func (brokenStore) GetDelivery(context.Context, string) (store.Delivery, []store.Attempt, error) {
	return store.Delivery{}, nil, errDown
}
func (brokenStore) ListDeliveries(context.Context, store.Filter) ([]store.Delivery, string, error) {
	return nil, "", errDown
}

// TestMinimalConsole runs the console with only an engine and a store that
// fails: pages say what is missing, store failures show as 500 pages and
// are logged.
func TestMinimalConsole(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	eng := &fakeEngine{hooks: []delivery.WebhookInfo{{Name: "only", Active: true, Events: []cdr.Type{cdr.TypeCallEnded},
		URL: "https://a:b@h/x", Encoding: "json", Health: delivery.HealthSnapshot{Attempts: 4, SuccessRate: 0.75, AvgMS: 12.4, P95MS: 40, LastStatus: 503}}}}
	h := web.New(web.Options{Token: token, Engine: eng, Store: brokenStore{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	b := &bundle{t: t, srv: srv, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	b.login()

	r := b.get("/webhooks")
	want(t, r, http.StatusOK)
	only := row(r, "only")
	if only("success-rate") != "75.0%" || only("avg") != "12 ms" || only("p95") != "40 ms" || only("last-status") != "503" {
		t.Errorf("health cells: %q %q %q %q", only("success-rate"), only("avg"), only("p95"), only("last-status"))
	}
	if find(r.Doc, el("a", "id", "new-webhook")) != nil || find(r.Doc, el("a", "class", "edit")) != nil {
		t.Errorf("webhooks are editable without a webhook set")
	}
	if !strings.Contains(r.Body, "does not count outcomes") {
		t.Errorf("no note about the missing sparklines")
	}
	want(t, b.get("/webhooks/new"), http.StatusNotFound)
	want(t, b.get("/webhooks/only/edit"), http.StatusNotFound)
	r = b.get("/events")
	want(t, r, http.StatusOK)
	if find(r.Doc, el("form", "id", "event-search")) != nil {
		t.Errorf("events search shown without an event store")
	}
	r = b.get("/sources")
	want(t, r, http.StatusOK)
	if !strings.Contains(r.Body, "not available") {
		t.Errorf("sources page does not say the status is unavailable")
	}

	for _, path := range []string{"/deliveries", "/deliveries/d1", "/events/e1"} {
		r := b.get(path)
		want(t, r, http.StatusInternalServerError)
		if msg := strings.Join(texts(r.Doc, el("p", "class", "error")), " "); !strings.Contains(msg, "database is down") {
			t.Errorf("%s: error %q", path, msg)
		}
		if find(r.Doc, el("a", "id", "nav-webhooks")) == nil {
			t.Errorf("%s: the error page has no navigation", path)
		}
	}
	if !strings.Contains(logs.String(), "database is down") {
		t.Errorf("store failures are not logged:\n%s", logs.String())
	}
	eng.pauseErr = errors.New("store write failed")
	if r := b.post("/webhooks/only/pause", nil); r.StatusCode != http.StatusInternalServerError {
		t.Errorf("failed pause: status %d", r.StatusCode)
	}
	eng.pauseErr = delivery.ErrUnknownWebhook
	if r := b.post("/webhooks/gone/pause", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("pause of an unknown webhook: status %d", r.StatusCode)
	}
	if r := b.post("/deliveries/d1/resend", nil); r.StatusCode != http.StatusInternalServerError {
		t.Errorf("resend with the store down: status %d", r.StatusCode)
	}
}
