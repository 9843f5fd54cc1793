package webhookset_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// TestWithEngine runs a set against the real delivery engine: a webhook
// created while the engine runs receives the next event, an updated one
// the new body, a deleted one nothing; a test send reaches the receiver.
func TestWithEngine(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := t.Context()
		var mu sync.Mutex
		got := map[string][]map[string]any{} // path -> bodies
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			mu.Lock()
			got[r.URL.Path] = append(got[r.URL.Path], m)
			mu.Unlock()
		}))
		t.Cleanup(recv.Close)
		count := func(path string) int { mu.Lock(); defer mu.Unlock(); return len(got[path]) }

		st := open(t)
		eng, err := delivery.New(st, nil, delivery.Options{Owner: "test", Client: delivery.NewClient(true), PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		set := webhookset.New(nil, st, eng, nil)
		if err := set.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := eng.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			eng.Stop(sctx)
		})

		send := func(id string) {
			ev := mapping.SampleEvent(cdr.TypeCallEnded)
			ev.ID = id
			if err := eng.Accept(ctx, []cdr.Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := set.Create(ctx, spec("crm", recv.URL+"/v1")); err != nil {
			t.Fatal(err)
		}
		if _, ok := eng.Webhook("crm"); !ok {
			t.Fatal("created webhook unknown to the engine")
		}
		send("e1")
		eventually(t, "delivery to /v1", func() bool { return count("/v1") == 1 })

		if _, err := set.Update(ctx, "crm", spec("crm", recv.URL+"/v2")); err != nil {
			t.Fatal(err)
		}
		send("e2")
		eventually(t, "delivery to /v2", func() bool { return count("/v2") == 1 })

		m, err := set.Test(ctx, spec("draft", recv.URL+"/draft"), cdr.Event{})
		if err != nil || !m.OK || count("/draft") != 1 {
			t.Fatalf("test send: %+v %v (%d received)", m, err, count("/draft"))
		}
		if _, ok := eng.Webhook("draft"); ok {
			t.Error("test send added the draft to the engine")
		}

		if err := set.Delete(ctx, "crm"); err != nil {
			t.Fatal(err)
		}
		send("e3")
		ds, _, err := st.ListDeliveries(ctx, store.Filter{Webhook: "crm"})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.EventID == "e3" {
				t.Error("the deleted webhook got a delivery of a later event")
			}
		}
		if len(ds) != 2 {
			t.Errorf("%d deliveries of crm, want the 2 made before the delete", len(ds))
		}
	})
}
