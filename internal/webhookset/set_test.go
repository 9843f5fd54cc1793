package webhookset_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

const configYAML = `
webhook_env: ["CDRGW_TEST_*"]
webhooks:
  - name: from-file
    url: https://file.example.com/hook
    events: [queue.ended]
    secrets: [whsec_ZmlsZXNlY3JldA==]
`

func spec(name, url string, extra ...string) []byte {
	s := fmt.Sprintf(`{"name": %q, "url": %q, "events": ["call.ended"], "params": {"id": "record.call_id"}`, name, url)
	for _, e := range extra {
		s += ", " + e
	}
	return []byte(s + "}")
}

func TestCreateUpdateDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := t.Context()
		st := open(t)
		eng := newFakeEngine()
		set := webhookset.New(mustConfig(t, configYAML), st, eng, nil)
		if err := set.Load(ctx); err != nil {
			t.Fatal(err)
		}

		e, err := set.Create(ctx, spec("crm", "https://crm.example.com/a", `"secrets": ["whsec_c2VjcmV0"]`))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name != "crm" || e.ReadOnly || e.Webhook == nil || e.Err != "" {
			t.Fatalf("created entry %+v", e)
		}
		if got := eng.engineURL("crm"); got != "https://crm.example.com/a" {
			t.Fatalf("engine URL %q after create", got)
		}
		if w, _ := eng.get("crm"); w.Signer.Len() != 1 {
			t.Errorf("engine webhook has %d secrets, want 1", w.Signer.Len())
		}

		// Names are unique across the file and the store.
		for _, name := range []string{"crm", "from-file"} {
			if _, err := set.Create(ctx, spec(name, "https://x.example.com/")); !errors.Is(err, webhookset.ErrExists) {
				t.Errorf("create %q again: %v, want ErrExists", name, err)
			}
		}
		// A bad spec answers config.Errors positioned in it.
		_, err = set.Create(ctx, []byte(`{"name": "bad", "url": "https://x.example.com/", "events": ["call.ended"],
"params": {"src": "record.recrd"}}`))
		var ce config.Errors
		if !errors.As(err, &ce) || len(ce) != 1 || ce[0].Path != "params.src" || ce[0].Line != 2 ||
			!strings.Contains(ce[0].Msg, "line 1, column 8") || !strings.Contains(ce[0].Msg, "recrd") {
			t.Fatalf("bad spec: %v", err)
		}

		names := func() []string {
			var out []string
			for _, e := range set.List() {
				out = append(out, fmt.Sprintf("%s/%v", e.Name, e.ReadOnly))
			}
			return out
		}
		if got := strings.Join(names(), " "); got != "from-file/true crm/false" {
			t.Errorf("List: %s", got)
		}

		// Update: same name, new URL; a Hidden secret keeps the stored one.
		redacted := e.Spec.Redacted()
		if redacted.Secrets[0] != webhookset.Hidden {
			t.Fatalf("Redacted secrets %q", redacted.Secrets)
		}
		redacted.URL = "https://crm.example.com/b"
		u, err := set.Update(ctx, "crm", redacted.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if eng.engineURL("crm") != "https://crm.example.com/b" || u.Spec.Secrets[0] != "whsec_c2VjcmV0" {
			t.Fatalf("after update: engine URL %q, secrets %q", eng.engineURL("crm"), u.Spec.Secrets)
		}
		if _, err := set.Update(ctx, "crm", spec("other", "https://x.example.com/")); !errors.As(err, &ce) || ce[0].Path != "name" {
			t.Errorf("rename: %v, want a config.Errors at name", err)
		}
		if _, err := set.Update(ctx, "from-file", spec("from-file", "https://x.example.com/")); !errors.Is(err, webhookset.ErrReadOnly) {
			t.Errorf("update config webhook: %v, want ErrReadOnly", err)
		}
		if _, err := set.Update(ctx, "nope", spec("nope", "https://x.example.com/")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update unknown: %v, want store.ErrNotFound", err)
		}

		// What is stored is canonical JSON that loads as is.
		stored, err := st.ListWebhooks(ctx)
		if err != nil || len(stored) != 1 {
			t.Fatalf("stored %v %v", stored, err)
		}
		if _, err := config.ParseWebhook(stored[0].Spec, nil); err != nil {
			t.Errorf("stored spec %s does not load: %v", stored[0].Spec, err)
		}

		if err := set.Delete(ctx, "from-file"); !errors.Is(err, webhookset.ErrReadOnly) {
			t.Errorf("delete config webhook: %v", err)
		}
		if err := set.Delete(ctx, "crm"); err != nil {
			t.Fatal(err)
		}
		if err := set.Delete(ctx, "crm"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v, want store.ErrNotFound", err)
		}
		if _, ok := eng.get("crm"); ok {
			t.Error("deleted webhook still in the engine")
		}
		if _, ok := set.Get("crm"); ok {
			t.Error("deleted webhook still in the set")
		}
		if stored, _ := st.ListWebhooks(ctx); len(stored) != 0 {
			t.Errorf("store still holds %v", stored)
		}
	})
}

func TestCreateUndoneWhenEngineRefuses(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		eng := newFakeEngine()
		eng.putErr = errors.New("engine says no")
		set := webhookset.New(nil, st, eng, nil)
		if _, err := set.Create(t.Context(), spec("crm", "https://crm.example.com/")); err == nil || !strings.Contains(err.Error(), "engine says no") {
			t.Fatalf("create: %v", err)
		}
		if stored, _ := st.ListWebhooks(t.Context()); len(stored) != 0 {
			t.Errorf("store holds %d webhooks after a refused create", len(stored))
		}
		if _, ok := set.Get("crm"); ok {
			t.Error("refused webhook in the set")
		}
	})
}

func TestLoadAfterRestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := t.Context()
		st := open(t)
		first := webhookset.New(nil, st, newFakeEngine(), nil)
		if _, err := first.Create(ctx, spec("crm", "https://crm.example.com/")); err != nil {
			t.Fatal(err)
		}
		// Stored directly: one that no longer compiles here (its URL is an
		// unset variable) and one whose name the config file now uses.
		for _, sw := range []store.StoredWebhook{
			{Name: "broken", Spec: spec("broken", "${CDRGW_TEST_UNSET_URL_7}")},
			{Name: "from-file", Spec: spec("from-file", "https://shadow.example.com/")},
		} {
			if err := st.PutWebhook(ctx, sw); err != nil {
				t.Fatal(err)
			}
		}

		eng := newFakeEngine()
		eng.hooks["from-file"] = configHook("from-file") // as serve.go builds it from the config
		second := webhookset.New(mustConfig(t, configYAML), open(t), eng, nil)
		if err := second.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(eng.names(), ","); got != "crm,from-file" {
			t.Errorf("engine runs %s, want crm,from-file", got)
		}
		if eng.engineURL("from-file") != "" {
			t.Error("the stored webhook replaced the config file's")
		}
		b, ok := second.Get("broken")
		if !ok || b.Webhook != nil || !strings.Contains(b.Err, `url: invalid URL ""`) || b.Spec.Name != "broken" {
			t.Errorf("broken entry %+v", b)
		}
		c, _ := second.Get("crm")
		if c.Err != "" || c.Webhook == nil || c.CreatedAt.IsZero() || c.UpdatedAt.IsZero() {
			t.Errorf("crm entry %+v", c)
		}
		var shadows int
		for _, e := range second.List() {
			if e.Name == "from-file" {
				shadows++
				if !e.ReadOnly {
					t.Error("config webhook not read-only")
				}
			}
		}
		if shadows != 1 {
			t.Errorf("from-file listed %d times, want once (the config file's)", shadows)
		}
	})
}

func TestReplicasConverge(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := t.Context()
		engA, engB := newFakeEngine(), newFakeEngine()
		a := webhookset.New(nil, open(t), engA, nil)
		b := webhookset.New(nil, open(t), engB, nil)
		for _, s := range []*webhookset.Set{a, b} {
			if err := s.Load(ctx); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan struct{})
		go func() { defer close(done); b.Run(ctx, 20*time.Millisecond) }()
		t.Cleanup(func() { <-done })

		if _, err := a.Create(ctx, spec("crm", "https://crm.example.com/1")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the create to reach replica B", func() bool { return engB.engineURL("crm") == "https://crm.example.com/1" })
		if _, err := a.Update(ctx, "crm", spec("crm", "https://crm.example.com/2")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the update to reach replica B", func() bool { return engB.engineURL("crm") == "https://crm.example.com/2" })
		if e, _ := b.Get("crm"); e.Spec.URL != "https://crm.example.com/2" {
			t.Errorf("B's entry URL %q", e.Spec.URL)
		}
		// B may edit what A created without waiting for A's next period.
		if _, err := b.Update(ctx, "crm", spec("crm", "https://crm.example.com/3")); err != nil {
			t.Fatal(err)
		}
		if err := a.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := engA.engineURL("crm"); got != "https://crm.example.com/3" {
			t.Errorf("A's engine URL %q after Sync", got)
		}
		if err := a.Delete(ctx, "crm"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the delete to reach replica B", func() bool { _, ok := engB.get("crm"); return !ok })
		if _, ok := b.Get("crm"); ok {
			t.Error("B still lists the deleted webhook")
		}
	})
}

func TestTestAndPreview(t *testing.T) {
	st := backends(t)[0].open(t)
	eng := newFakeEngine()
	set := webhookset.New(nil, st, eng, nil)
	body := spec("crm", "https://crm.example.com/{{ record.call_id }}", `"when": "record.billsec > 0"`)

	w, err := set.Compile(body)
	if err != nil {
		t.Fatal(err)
	}
	ev := mapping.SampleEvent(cdr.TypeCallEnded)
	req, err := webhookset.Preview(w, ev)
	if err != nil {
		t.Fatal(err)
	}
	call := ev.Record.(*cdr.Call)
	var got map[string]any
	if err := json.Unmarshal(req.Body, &got); err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.URL != "https://crm.example.com/"+call.CallID || got["id"] != call.CallID {
		t.Errorf("preview %s %s %s", req.Method, req.URL, req.Body)
	}
	started := mapping.SampleEvent(cdr.TypeCallStarted)
	if _, err := webhookset.Preview(w, started); !errors.Is(err, mapping.ErrSkipped) {
		t.Errorf("preview of an unsubscribed type: %v, want ErrSkipped", err)
	}

	m, err := set.Test(t.Context(), body, cdr.Event{})
	if err != nil || !m.OK || m.EventType != cdr.TypeCallEnded {
		t.Fatalf("test: %+v %v", m, err)
	}
	if _, err := set.Test(t.Context(), []byte(`{"name": "x"}`), cdr.Event{}); err == nil {
		t.Error("test of a bad spec sent something")
	}
	if names := eng.names(); len(names) != 0 {
		t.Errorf("test or compile added %v to the engine", names)
	}
}
