package webhookset_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/store"
)

// newSQLiteSet is a set over a fresh SQLite store and a fake engine.
func newSQLiteSet(t *testing.T) (*webhookset.Set, *fakeEngine) {
	t.Helper()
	eng := newFakeEngine()
	set := webhookset.New(mustConfig(t, configYAML), backends(t)[0].open(t), eng, nil)
	if err := set.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return set, eng
}

// hangup_causes values may be numbers or booleans (the schema allows
// them); the stored definition keeps the order they were written in.
func TestCreateHangupCausesAnyScalar(t *testing.T) {
	t.Parallel()
	set, _ := newSQLiteSet(t)
	e, err := set.Create(t.Context(), spec("hc", "https://hc.example.com/", `"hangup_causes": {"17": "busy", "16": 1, "21": true}`))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	got := string(e.Spec.Marshal())
	if !strings.Contains(got, `"hangup_causes":{"17":"busy","16":"1","21":"true"}`) {
		t.Errorf("stored spec %s", got)
	}
	if c := e.Webhook.Spec.HangupCauses; c["16"] != "1" || c["17"] != "busy" || c["21"] != "true" {
		t.Errorf("loaded hangup causes %v", c)
	}
}

// Names that cannot be a URL path segment ("." and "..", which URL
// cleaning removes) cannot be created: the webhook could never be edited.
func TestCreateRefusesDotNames(t *testing.T) {
	t.Parallel()
	set, _ := newSQLiteSet(t)
	for _, name := range []string{".", ".."} {
		_, err := set.Create(t.Context(), spec(name, "https://x.example.com/"))
		var es config.Errors
		if !asErrors(err, &es) || len(es) != 1 || es[0].Path != "name" {
			t.Errorf("create %q: %v, want a config error at name", name, err)
		}
	}
}

func asErrors(err error, es *config.Errors) bool {
	e, ok := err.(config.Errors)
	*es = e
	return ok
}

// Redacted hides the URL's credentials and the sensitive headers' values;
// Update and Compile given the redacted spec back keep the stored values.
func TestRedactedURLAndHeadersRoundTrip(t *testing.T) {
	t.Parallel()
	set, eng := newSQLiteSet(t)
	ctx := t.Context()
	const u = "https://gw:pa55w0rd@crm.example.com/hook?api_key=k3y-123&x=1"
	e, err := set.Create(ctx, []byte(`{"name": "crm", "url": "`+u+`", "events": ["call.ended"],
		"params": {"id": "record.call_id", "api_key": "\"lit-777\"", "token": "env(\"CDRGW_TEST_TOKEN\")"},
		"headers": {"Authorization": "\"Bearer tok-123\"", "X-Queue": "event.source.name"}, "secrets": ["whsec_c2VjcmV0"]}`))
	if err != nil {
		t.Fatal(err)
	}
	red := e.Spec.Redacted()
	shown := string(red.Marshal())
	for _, s := range []string{"pa55w0rd", "k3y-123", "tok-123", "whsec_c2VjcmV0", "gw:", "lit-777"} {
		if strings.Contains(shown, s) {
			t.Errorf("redacted spec shows %q: %s", s, shown)
		}
	}
	if !strings.Contains(shown, `"X-Queue":"event.source.name"`) || !strings.Contains(shown, "crm.example.com/hook?api_key=") ||
		!strings.Contains(shown, `"token":"env(\"CDRGW_TEST_TOKEN\")"`) {
		t.Errorf("redacted spec hides too much: %s", shown)
	}
	// Sent back with a change elsewhere, the hidden parts keep their values.
	red.Timeout = "7s"
	got, err := set.Update(ctx, "crm", red.Marshal())
	if err != nil {
		t.Fatalf("update with the redacted spec: %v", err)
	}
	if got.Spec.URL != u {
		t.Errorf("URL after update %q, want %q", got.Spec.URL, u)
	}
	if v, _ := got.Spec.Headers.Get("Authorization"); v != `"Bearer tok-123"` {
		t.Errorf("Authorization after update %q", v)
	}
	if v, _ := got.Spec.Params.Get("api_key"); v != `"lit-777"` {
		t.Errorf("param api_key after update %q", v)
	}
	if eng.engineURL("crm") != u || got.Webhook.Timeout.String() != "7s" {
		t.Errorf("engine URL %q, timeout %s", eng.engineURL("crm"), got.Webhook.Timeout)
	}
	// Compile (the preview) restores them too.
	w, err := set.Compile(red.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if w.Spec.URL != u {
		t.Errorf("compiled URL %q", w.Spec.URL)
	}
	// A new URL replaces the old one, credentials and all.
	red.URL = "https://other.example.com/"
	if got, err = set.Update(ctx, "crm", red.Marshal()); err != nil || got.Spec.URL != red.URL {
		t.Errorf("update with a new URL: %v, URL %q", err, got.Spec.URL)
	}
}

// The config file's webhooks are shown without credentials in headers.
func TestSpecOfHidesSensitiveHeaders(t *testing.T) {
	t.Parallel()
	w, err := config.ParseWebhook([]byte(`{"name": "x", "url": "https://u:p@x.example.com/?token=abc", "events": ["test"],
		"headers": {"Authorization": "\"Bearer s3cr3t\"", "X-Api-Key": "\"k3y\"", "X-Source": "event.source.name"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(webhookset.SpecOf(w))
	for _, s := range []string{"s3cr3t", "k3y", ":p@", "abc"} {
		if strings.Contains(string(b), s) {
			t.Errorf("SpecOf shows %q: %s", s, b)
		}
	}
	if !strings.Contains(string(b), `"X-Source":"event.source.name"`) {
		t.Errorf("SpecOf hides a plain header: %s", b)
	}
}

// A stored webhook the engine refused once (not one that does not compile)
// is tried again at the next Sync rather than left stopped until its
// definition changes.
func TestSyncRetriesEngineRefusal(t *testing.T) {
	t.Parallel()
	dir := backends(t)[0]
	writer := webhookset.New(nil, dir.open(t), newFakeEngine(), nil)
	if _, err := writer.Create(t.Context(), spec("crm", "https://crm.example.com/")); err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine()
	eng.putErr = errors.New("engine busy")
	reader := webhookset.New(nil, dir.open(t), eng, nil)
	if err := reader.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e, _ := reader.Get("crm"); e.Err == "" || e.Webhook != nil {
		t.Fatalf("refused webhook: %+v", e)
	}
	eng.mu.Lock()
	eng.putErr = nil
	eng.mu.Unlock()
	if err := reader.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e, _ := reader.Get("crm"); e.Err != "" || e.Webhook == nil {
		t.Errorf("after the engine recovered: err %q", e.Err)
	}
	if _, ok := eng.get("crm"); !ok {
		t.Error("the engine does not run the webhook after the retry")
	}
}

// slowStore blocks ListWebhooks until its gate opens (or the caller gives up).
type slowStore struct {
	store.Store
	gate    chan struct{}
	entered chan struct{}
}

func (s *slowStore) ListWebhooks(ctx context.Context) ([]store.StoredWebhook, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.ListWebhooks(ctx)
}

// A change waiting behind a Sync stuck on a slow store gives up when its
// context ends instead of hanging with it.
func TestMutationWaitsAtMostItsContext(t *testing.T) {
	t.Parallel()
	st := &slowStore{Store: backends(t)[0].open(t), gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	set := webhookset.New(nil, st, newFakeEngine(), nil)
	syncDone := make(chan error, 1)
	go func() { syncDone <- set.Sync(t.Context()) }()
	<-st.entered // the Sync holds the lock
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := set.Create(ctx, spec("crm", "https://crm.example.com/"))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("create behind a stuck sync: %v after %s", err, time.Since(start))
	}
	close(st.gate)
	if err := <-syncDone; err != nil {
		t.Fatal(err)
	}
	if _, err := set.Create(t.Context(), spec("crm", "https://crm.example.com/")); err != nil {
		t.Errorf("create after the sync: %v", err)
	}
}

// A webhook deleted while paused and created again under its name starts
// running: the paused state of the old one is cleared with it.
func TestDeleteClearsPaused(t *testing.T) {
	t.Parallel()
	st := backends(t)[0].open(t)
	set := webhookset.New(mustConfig(t, configYAML), st, newFakeEngine(), nil)
	if err := set.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Create(t.Context(), spec("p1", "https://p1.example.com/")); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPaused(t.Context(), "p1", true); err != nil {
		t.Fatal(err)
	}
	if err := set.Delete(t.Context(), "p1"); err != nil {
		t.Fatal(err)
	}
	paused, err := st.Paused(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if paused["p1"] {
		t.Errorf("p1 is still recorded as paused after its deletion")
	}
}
