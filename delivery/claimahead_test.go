package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store"
)

// leased counts the webhook's deliveries that are leased now.
func (r *rig) leased(webhook string) int {
	n := 0
	for _, d := range r.deliveries(webhook) {
		if d.LeaseOwner != "" && d.Status == store.StatusPending {
			n++
		}
	}
	return n
}

// Claiming ahead: a webhook with a backlog whose attempts succeed leases up
// to 1+claimAhead times its concurrency, one whose attempts fail never more
// than its concurrency; Stop and pause give queued jobs back unattempted.
func TestEngineClaimAhead(t *testing.T) {
	tests := []struct {
		name       string
		status     int  // the endpoint's answer
		wantAhead  bool // leases beyond the concurrency seen
		pauseAfter bool // pause while jobs are queued instead of stopping
	}{
		{"healthy endpoint claims ahead, stop gives back", 200, true, false},
		{"healthy endpoint claims ahead, pause gives back", 200, true, true},
		{"failing endpoint does not", 500, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const concurrency = 2
			gate := make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(gate) }) }
			var calls atomic.Int64
			rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
				// The first attempts pass at once so that the webhook has a
				// latest result; then every request waits for the gate.
				if calls.Add(1) > concurrency {
					<-gate
				}
				return answer(tc.status)
			})
			t.Cleanup(open)
			st := sqliteBackend.open(t)
			eng, err := New(st, []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) {
				w.Concurrency, w.FailingAfter = concurrency, -1
			})}, Options{Owner: "t", Client: NewClient(true), PollInterval: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			r := &rig{t: t, st: st, eng: eng}
			evs := make([]cdr.Event, 30)
			for i := range evs {
				evs[i] = ended(i)
			}
			r.accept(evs...)
			if err := eng.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			stopped := false
			stop := func() {
				if stopped {
					return
				}
				stopped = true
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				go func() { time.Sleep(100 * time.Millisecond); open() }() // let the attempts in flight end
				if err := eng.Stop(ctx); err != nil {
					t.Errorf("stop: %v", err)
				}
			}
			t.Cleanup(stop)
			eventually(t, 10*time.Second, "the slots busy after the first attempts", func() bool { return calls.Load() >= 2*concurrency })
			// Until their results are written, the first attempts' deliveries
			// stay leased too.
			eventually(t, 10*time.Second, "the first results written", func() bool {
				n := 0
				for _, d := range r.deliveries("crm") {
					if d.Attempts > 0 && d.LeaseOwner == "" {
						n++
					}
				}
				return n >= concurrency
			})
			if tc.wantAhead {
				eventually(t, 10*time.Second, "jobs claimed ahead", func() bool { return r.leased("crm") > concurrency })
			} else {
				quiet(t, "a failing webhook claimed ahead", func() bool { return r.leased("crm") > concurrency })
			}
			if n := r.leased("crm"); n > (1+claimAhead)*concurrency {
				t.Fatalf("%d deliveries leased, want at most %d", n, (1+claimAhead)*concurrency)
			}
			if tc.pauseAfter {
				if err := eng.SetPaused(t.Context(), "crm", true); err != nil {
					t.Fatal(err)
				}
				eventually(t, 10*time.Second, "queued jobs given back on pause", func() bool { return r.leased("crm") <= concurrency })
			}
			stop()
			sent := int(calls.Load())
			var attempted int
			for _, d := range r.deliveries("crm") {
				if d.LeaseOwner != "" {
					t.Fatalf("delivery %s still leased after Stop", d.ID)
				}
				attempted += d.Attempts
			}
			if attempted != sent {
				t.Fatalf("%d attempts recorded, the endpoint got %d requests: queued jobs must go back unattempted", attempted, sent)
			}
		})
	}
}

// With more queued work than the engine's workers, every webhook's jobs
// still go out: a job queued while all workers were busy starts when one
// frees up.
func TestEngineWorkersShared(t *testing.T) {
	t.Parallel()
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		time.Sleep(2 * time.Millisecond)
		return answer(200)
	})
	hooks := []Webhook{
		newHook(t, spec("a", rcv.URL+"/a", cdr.TypeCallEnded), func(w *Webhook) { w.Concurrency = 3 }),
		newHook(t, spec("b", rcv.URL+"/b", cdr.TypeCallEnded), func(w *Webhook) { w.Concurrency = 3 }),
	}
	r := start(t, sqliteBackend.open(t), hooks, Options{Workers: 2, Now: time.Now})
	evs := make([]cdr.Event, 40)
	for i := range evs {
		evs[i] = ended(i)
	}
	r.accept(evs...)
	rcv.WaitT(t, 80, 20*time.Second)
	r.settled("a", "a delivered", status(store.StatusDelivered))
	r.settled("b", "b delivered", status(store.StatusDelivered))
	if m := r.eng.hook("a").maxSeen.Load() + r.eng.hook("b").maxSeen.Load(); m > 4 {
		t.Fatalf("peaks of running attempts %d", m)
	}
}

// claimCounter records the limits of the claims of one webhook.
type claimCounter struct {
	store.Store
	webhook string
	mu      sync.Mutex
	limits  []int
}

func (c *claimCounter) Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Webhook == c.webhook {
		c.mu.Lock()
		c.limits = append(c.limits, p.Limit)
		c.mu.Unlock()
	}
	return c.Store.Claim(ctx, p)
}

// A failing webhook whose attempts end one at a time claims once half its
// slots are free, not once per freed slot: its claims share the store with
// the healthy webhooks'.
func TestEngineFailingClaimsInBatches(t *testing.T) {
	const concurrency = 8
	var calls atomic.Int64
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		// Staggered: the slots free one by one.
		n := calls.Add(1)
		return rcvr.Response{Status: 500, Delay: time.Duration(n%concurrency) * 3 * time.Millisecond}
	})
	st := &claimCounter{Store: sqliteBackend.open(t), webhook: "crm"}
	eng, err := New(st, []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) {
		w.Concurrency, w.FailingAfter, w.MaxAttempts = concurrency, -1, 1000
		w.Retry = Backoff{Schedule: Fixed, Interval: time.Millisecond}
	})}, Options{Owner: "t", Client: NewClient(true), PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, st: st.Store, eng: eng}
	evs := make([]cdr.Event, 40)
	for i := range evs {
		evs[i] = ended(i)
	}
	r.accept(evs...)
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "attempts", func() bool { return calls.Load() >= 200 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	small := 0
	for _, l := range st.limits {
		if l < concurrency/2 {
			small++
		}
	}
	t.Logf("%d requests, %d claims, limits %v", calls.Load(), len(st.limits), st.limits)
	if small > 0 {
		t.Errorf("%d of %d claims of the failing webhook asked for fewer than %d jobs", small, len(st.limits), concurrency/2)
	}
}
