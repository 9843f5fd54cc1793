package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store"
)

// Webhooks added, replaced and removed while the engine runs.
func TestEngineRuntimeWebhooks(t *testing.T) {
	scenarios := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"AddWhileRunning", testAddWhileRunning},
		{"AddBeforeStart", testAddBeforeStart},
		{"Replace", testReplace},
		{"Remove", testRemove},
		{"TestWebhook", testTestWebhook},
		{"ConcurrentChanges", testConcurrentChanges},
	}
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(b.name, func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.fn(t, b)
				})
			}
		})
	}
}

// A webhook added to a running engine gets deliveries of the events
// accepted after it, is listed, and can be paused; one stored as paused
// before it was added starts paused, and its stored attempts count in its
// health.
func testAddWhileRunning(t *testing.T, b backend) {
	a := rcvr.Start(t, nil)
	bb := rcvr.Start(t, nil)
	st := b.open(t)
	if err := st.SetPaused(t.Context(), "late", true); err != nil {
		t.Fatal(err)
	}
	r := start(t, st, []Webhook{newHook(t, spec("a", a.URL, cdr.TypeCallEnded))}, Options{})
	r.accept(ended(1))
	a.WaitT(t, 1, 10*time.Second)

	if err := r.eng.PutWebhook(t.Context(), newHook(t, spec("b", bb.URL, cdr.TypeCallEnded))); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.PutWebhook(t.Context(), newHook(t, spec("late", bb.URL, cdr.TypeCallEnded))); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.eng.Webhook("b"); !ok {
		t.Fatal("Webhook(b): not found after PutWebhook")
	}
	var names []string
	for _, w := range r.eng.Webhooks() {
		names = append(names, w.Name)
	}
	if fmt.Sprint(names) != "[a b late]" {
		t.Fatalf("Webhooks() = %v, want [a b late]", names)
	}
	if info, _ := r.eng.Webhook("late"); !info.Paused {
		t.Fatal("webhook late was stored as paused but was added unpaused")
	}
	r.accept(ended(2))
	got := bb.WaitT(t, 1, 10*time.Second)
	if m := body(t, got[0]); m["call"] != "c2" {
		t.Fatalf("webhook b got %v, want the event accepted after it was added", m)
	}
	r.settled("b", "b delivered", status(store.StatusDelivered))
	if len(r.deliveries("b")) != 1 {
		t.Fatalf("webhook b has %d deliveries, want 1 (events accepted before it was added are not its own)", len(r.deliveries("b")))
	}
	if h, ok := r.eng.Health("b"); !ok || h.Attempts != 1 || h.SuccessRate != 1 {
		t.Fatalf("Health(b) = %+v, %v", h, ok)
	}
	// late is paused: its delivery waits; resuming sends it.
	quiet(t, "paused webhook late was sent a delivery", func() bool { return bb.Count() > 1 })
	if err := r.eng.SetPaused(t.Context(), "late", false); err != nil {
		t.Fatal(err)
	}
	r.settled("late", "late delivered after resume", status(store.StatusDelivered))

	// Removed and added again, it reloads its health from the store.
	if err := r.eng.RemoveWebhook("b"); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.PutWebhook(t.Context(), newHook(t, spec("b", bb.URL, cdr.TypeCallEnded))); err != nil {
		t.Fatal(err)
	}
	if h, _ := r.eng.Health("b"); h.Attempts != 1 {
		t.Fatalf("Health(b) after re-adding: %d attempts, want the 1 stored", h.Attempts)
	}
}

// PutWebhook before Start: Start loads the webhook's state like the others'.
func testAddBeforeStart(t *testing.T, b backend) {
	rcv := rcvr.Start(t, nil)
	st := b.open(t)
	if err := st.SetPaused(t.Context(), "b", true); err != nil {
		t.Fatal(err)
	}
	eng, err := New(st, nil, Options{Owner: "t", Client: NewClient(true), PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.PutWebhook(t.Context(), newHook(t, spec("b", rcv.URL, cdr.TypeCallEnded))); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := eng.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if info, ok := eng.Webhook("b"); !ok || !info.Paused {
		t.Fatalf("Webhook(b) = %+v, %v: want it paused as stored", info, ok)
	}
	if err := eng.SetPaused(t.Context(), "b", false); err != nil {
		t.Fatal(err)
	}
	if err := eng.Accept(t.Context(), []cdr.Event{ended(1)}); err != nil {
		t.Fatal(err)
	}
	rcv.WaitT(t, 1, 10*time.Second)
}

// Replacing a webhook: an attempt in flight finishes with the old URL, new
// attempts use the new one, and paused state, health and the concurrency
// slots carry over.
func testReplace(t *testing.T, b backend) {
	hold := make(chan struct{})
	var once sync.Once
	unhold := func() { once.Do(func() { close(hold) }) }
	var oldCalls atomic.Int64
	old := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		oldCalls.Add(1)
		<-hold
		return answer(200)
	})
	t.Cleanup(unhold) // before the receiver closes
	fresh := rcvr.Start(t, nil)
	r := start(t, b.open(t), []Webhook{newHook(t, spec("crm", old.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Concurrency = 1 })}, Options{})
	r.accept(ended(1))
	eventually(t, 10*time.Second, "first attempt in flight", func() bool { return oldCalls.Load() == 1 })

	if err := r.eng.PutWebhook(t.Context(), newHook(t, spec("crm", fresh.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Concurrency = 1 })); err != nil {
		t.Fatal(err)
	}
	if info, _ := r.eng.Webhook("crm"); info.URL != fresh.URL {
		t.Fatalf("Webhook(crm).URL = %q, want the new %q", info.URL, fresh.URL)
	}
	// The one slot is still taken by the attempt in flight.
	r.accept(ended(2))
	quiet(t, "a second attempt started while the only slot was taken", func() bool { return fresh.Count() > 0 || oldCalls.Load() > 1 })
	unhold()
	got := fresh.WaitT(t, 1, 10*time.Second)
	if m := body(t, got[0]); m["call"] != "c2" {
		t.Fatalf("new URL got %v, want call c2", m)
	}
	if n := len(old.Requests()); n != 1 || body(t, old.Requests()[0])["call"] != "c1" {
		t.Fatalf("old URL got %d requests, want only call c1", n)
	}
	r.settled("crm", "both delivered", status(store.StatusDelivered))
	if h, _ := r.eng.Health("crm"); h.Attempts != 2 {
		t.Fatalf("health counts %d attempts across the replacement, want 2", h.Attempts)
	}
	// Paused state survives a replacement.
	if err := r.eng.SetPaused(t.Context(), "crm", true); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.PutWebhook(t.Context(), newHook(t, spec("crm", fresh.URL, cdr.TypeCallEnded))); err != nil {
		t.Fatal(err)
	}
	if info, _ := r.eng.Webhook("crm"); !info.Paused {
		t.Fatal("replacing a paused webhook resumed it")
	}
	r.accept(ended(3))
	quiet(t, "a paused webhook was sent a delivery after its replacement", func() bool {
		if fresh.Count() > 1 {
			for _, q := range fresh.Requests() {
				t.Logf("fresh got %s %s", q.Header.Get("webhook-id"), q.Body)
			}
		}
		return fresh.Count() > 1
	})
}

// Removing a webhook: Accept makes no deliveries for it, its pending ones
// stay pending and unclaimed, the engine's lookups no longer find it, and
// adding it again delivers what waited.
func testRemove(t *testing.T, b backend) {
	rcv := rcvr.Start(t, nil)
	other := rcvr.Start(t, nil)
	r := start(t, b.open(t), []Webhook{
		newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Delay = time.Minute }),
		newHook(t, spec("other", other.URL, cdr.TypeCallEnded)),
	}, Options{})
	r.accept(ended(1)) // crm's delivery is due in a minute
	if err := r.eng.RemoveWebhook("crm"); err != nil {
		t.Fatal(err)
	}
	r.accept(ended(2))
	other.WaitT(t, 2, 10*time.Second)
	if ds := r.deliveries("crm"); len(ds) != 1 {
		t.Fatalf("crm has %d deliveries after removal, want the 1 made before", len(ds))
	}
	r.clock.Advance(2 * time.Minute)
	quiet(t, "a removed webhook was sent a delivery", func() bool { return rcv.Count() > 0 })
	if d, _ := r.only("crm"); d.Status != store.StatusPending || d.LeaseOwner != "" || d.Attempts != 0 {
		t.Fatalf("crm's delivery after removal: %+v, want pending, unleased, unattempted", d)
	}

	lookups := []struct {
		name string
		err  error
	}{
		{"RemoveWebhook", r.eng.RemoveWebhook("crm")},
		{"SetPaused", r.eng.SetPaused(t.Context(), "crm", true)},
		{"TestSend", func() error { _, err := r.eng.TestSend(t.Context(), "crm"); return err }()},
	}
	for _, l := range lookups {
		if !errors.Is(l.err, ErrUnknownWebhook) {
			t.Errorf("%s of a removed webhook: %v, want ErrUnknownWebhook", l.name, l.err)
		}
	}
	if _, ok := r.eng.Health("crm"); ok {
		t.Error("Health of a removed webhook found it")
	}
	if _, ok := r.eng.Webhook("crm"); ok {
		t.Error("Webhook of a removed webhook found it")
	}

	if err := r.eng.PutWebhook(t.Context(), newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))); err != nil {
		t.Fatal(err)
	}
	r.settled("crm", "the waiting delivery sent once crm is back", status(store.StatusDelivered))
}

// TestWebhook sends once through a definition that is not registered and
// stores nothing; a filter that rejects the event is ErrSampleSkipped.
func testTestWebhook(t *testing.T, b backend) {
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response { return answer(201) })
	st := b.open(t)
	r := start(t, st, nil, Options{})
	draft := newHook(t, spec("draft", rcv.URL+"/draft", cdr.TypeCallEnded))
	tests := []struct {
		name     string
		w        Webhook
		ev       cdr.Event
		wantErr  error
		wantSent int
	}{
		{"sent", draft, ended(1), nil, 1},
		{"not subscribed", draft, callEvent(cdr.TypeCallStarted, "r", "c", "1"), ErrSampleSkipped, 0},
		{"filtered", func() Webhook {
			sp := spec("draft", rcv.URL, cdr.TypeCallEnded)
			sp.When = `record.custom.n == "7"`
			return newHook(t, sp)
		}(), ended(1), ErrSampleSkipped, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := rcv.Count()
			m, err := r.eng.TestWebhook(t.Context(), tc.w, tc.ev)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if sent := rcv.Count() - before; sent != tc.wantSent {
				t.Fatalf("receiver got %d requests, want %d", sent, tc.wantSent)
			}
			if tc.wantErr != nil {
				return
			}
			if !m.OK || m.Attempt.Response == nil || m.Attempt.Response.Status != 201 || m.EventID != tc.ev.ID || m.Attempt.N != 1 {
				t.Fatalf("attempt %+v", m)
			}
			if got := rcv.Requests()[before]; got.Path != "/draft" || got.Header.Get("webhook-id") != m.Attempt.DeliveryID {
				t.Fatalf("request %s with webhook-id %q, want /draft with %q", got.Path, got.Header.Get("webhook-id"), m.Attempt.DeliveryID)
			}
		})
	}
	stats, err := st.Stats(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, n := range stats.ByStatus {
		stored += n
	}
	if stats.Pending != 0 || stored != 0 {
		t.Fatalf("TestWebhook stored something: %+v", stats)
	}
	if ds, _, err := st.ListDeliveries(t.Context(), store.Filter{}); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries after TestWebhook: %v, %v", ds, err)
	}
	if _, ok := r.eng.Webhook("draft"); ok {
		t.Fatal("TestWebhook registered the webhook")
	}
}

// PutWebhook and RemoveWebhook racing with Accept, claims, deliveries and
// the lookups: the steady webhook gets every delivery, and nothing races.
func testConcurrentChanges(t *testing.T, b backend) {
	steady := rcvr.Start(t, nil)
	flap := rcvr.Start(t, nil)
	r := start(t, b.open(t), []Webhook{newHook(t, spec("steady", steady.URL, cdr.TypeCallEnded))}, Options{Now: time.Now})
	const events = 60
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			w := newHook(t, spec("flap", fmt.Sprintf("%s/v%d", flap.URL, i), cdr.TypeCallEnded))
			if err := r.eng.PutWebhook(ctx, w); err != nil && ctx.Err() == nil {
				t.Errorf("put: %v", err)
				return
			}
			if i%2 == 0 {
				if err := r.eng.RemoveWebhook("flap"); err != nil {
					t.Errorf("remove: %v", err)
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Go(func() {
		for ctx.Err() == nil {
			r.eng.Webhooks()
			r.eng.Health("flap")
			r.eng.SetPaused(ctx, "flap", false) // ErrUnknownWebhook while removed
			time.Sleep(time.Millisecond)
		}
	})
	for i := range events {
		if err := r.eng.Accept(t.Context(), []cdr.Event{ended(i)}); err != nil {
			t.Fatal(err)
		}
	}
	steady.WaitT(t, events, 20*time.Second)
	cancel()
	wg.Wait()
	// Once the webhook stays, whatever flap was given goes out.
	if err := r.eng.PutWebhook(t.Context(), newHook(t, spec("flap", flap.URL, cdr.TypeCallEnded))); err != nil {
		t.Fatal(err)
	}
	r.accept(ended(events))
	r.settled("flap", "flap's deliveries sent", status(store.StatusDelivered))
	steady.WaitT(t, events+1, 20*time.Second)
	if len(steady.IDs()) != events+1 {
		t.Fatalf("steady got %d distinct deliveries, want %d", len(steady.IDs()), events+1)
	}
}
