package webhookset_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/sqlite"
)

// The real engine is one.
var _ webhookset.Engine = (*delivery.Engine)(nil)

// fakeEngine records the webhooks the set puts and removes.
type fakeEngine struct {
	mu     sync.Mutex
	hooks  map[string]delivery.Webhook
	tested []cdr.Event
	putErr error
}

func newFakeEngine() *fakeEngine { return &fakeEngine{hooks: map[string]delivery.Webhook{}} }

func (f *fakeEngine) PutWebhook(_ context.Context, w delivery.Webhook) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErr != nil {
		return f.putErr
	}
	f.hooks[w.Name] = w
	return nil
}

func (f *fakeEngine) RemoveWebhook(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.hooks[name]; !ok {
		return fmt.Errorf("remove %q: %w", name, delivery.ErrUnknownWebhook)
	}
	delete(f.hooks, name)
	return nil
}

func (f *fakeEngine) TestWebhook(_ context.Context, w delivery.Webhook, ev cdr.Event) (delivery.ManualAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tested = append(f.tested, ev)
	req, err := w.Renderer.Render(ev, "t")
	if err != nil {
		return delivery.ManualAttempt{}, err
	}
	return delivery.ManualAttempt{OK: true, EventID: ev.ID, EventType: ev.Type,
		Attempt: store.Attempt{Webhook: w.Name, Request: store.HTTPRequest{Method: req.Method, URL: req.URL, Body: string(req.Body)}}}, nil
}

// get returns the engine's webhook called name.
func (f *fakeEngine) get(name string) (delivery.Webhook, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.hooks[name]
	return w, ok
}

func (f *fakeEngine) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.hooks {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// engineURL returns the URL of the engine's webhook called name, "" if absent.
func (f *fakeEngine) engineURL(name string) string {
	w, ok := f.get(name)
	if !ok || w.Renderer == nil {
		return ""
	}
	return w.Renderer.(interface{ Spec() mapping.Spec }).Spec().URL
}

// backend opens stores on one database: each call of open is a new
// connection, as another gateway would have.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func backends(t *testing.T) []backend {
	dir := t.TempDir()
	bs := []backend{{name: "sqlite", open: func(t *testing.T) store.Store {
		st, err := sqlite.Open(t.Context(), filepath.Join(dir, "cdrgw.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}}}
	var dsn string
	bs = append(bs, backend{name: "postgres", open: func(t *testing.T) store.Store {
		if dsn == "" {
			dsn = pgtest.URL(t)
		}
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}})
	return bs
}

// forEachStore runs fn on a fresh database of each kind.
func forEachStore(t *testing.T, fn func(t *testing.T, open func(t *testing.T) store.Store)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

func mustConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Load([]byte(yaml), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// configHook is a config file webhook as the engine holds it.
func configHook(name string) delivery.Webhook { return delivery.Webhook{Name: name} }
