package delivery

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store"
)

// noPoll is a poll interval no test waits for: with it, only the engine's
// own wake-ups (markDue) make it claim, after the first poll at Start.
const noPoll = time.Hour

// emptyClaims wraps a store and counts claims, and those that found
// nothing.
type emptyClaims struct {
	store.Store
	claims, empty atomic.Int64
}

func (c *emptyClaims) Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	jobs, err := c.Store.Claim(ctx, p)
	c.claims.Add(1)
	if err == nil && len(jobs) == 0 {
		c.empty.Add(1)
	}
	return jobs, err
}

// Without the poll, the engine claims what it knows falls due: accepted
// deliveries at once, delayed and debounced ones and retries at their due
// time, the next ordered delivery when the one before it is finished, a
// resumed webhook's backlog, a resent delivery's successor. Each case fails
// if the engine waits for the poll for it.
func TestEngineDueWithoutPoll(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Webhook)
		answers []rcvr.Response
		run     func(t *testing.T, r *rig)
		want    int           // requests the receiver gets
		atLeast time.Duration // not before this long after the first accept
	}{
		{
			name:    "accepted",
			answers: []rcvr.Response{answer(200)},
			run:     func(t *testing.T, r *rig) { r.accept(ended(1)) },
			want:    1,
		},
		{
			name:    "retry at its time",
			edit:    func(w *Webhook) { w.Retry = Backoff{Schedule: Fixed, Interval: 100 * time.Millisecond} },
			answers: []rcvr.Response{answer(500), answer(500), answer(200)},
			run:     func(t *testing.T, r *rig) { r.accept(ended(1)) },
			want:    3, atLeast: 200 * time.Millisecond,
		},
		{
			name:    "delay",
			edit:    func(w *Webhook) { w.Delay = 150 * time.Millisecond },
			answers: []rcvr.Response{answer(200)},
			run: func(t *testing.T, r *rig) {
				r.accept(ended(1))
				time.Sleep(50 * time.Millisecond)
				r.accept(ended(2)) // due after the first: a second due time
			},
			want: 2, atLeast: 200 * time.Millisecond,
		},
		{
			name:    "debounce",
			edit:    func(w *Webhook) { w.Debounce = 100 * time.Millisecond },
			answers: []rcvr.Response{answer(200)},
			run: func(t *testing.T, r *rig) {
				r.accept(callEvent(cdr.TypeCallEnded, "test:c1:1", "c1", "1"))
				r.accept(callEvent(cdr.TypeCallEnded, "test:c1:2", "c1", "2"))
			},
			want: 1, atLeast: 100 * time.Millisecond,
		},
		{
			name: "ordered",
			edit: func(w *Webhook) {
				w.Ordered = true
				w.Retry = Backoff{Schedule: Fixed, Interval: 50 * time.Millisecond}
			},
			answers: []rcvr.Response{answer(500), answer(200)},
			run: func(t *testing.T, r *rig) {
				r.accept(callEvent(cdr.TypeCallStarted, "test:1", "c1", "1"), callEvent(cdr.TypeCallEnded, "test:1", "c1", "2"))
			},
			want: 3, atLeast: 50 * time.Millisecond,
		},
		{
			name:    "resumed",
			answers: []rcvr.Response{answer(200)},
			run: func(t *testing.T, r *rig) {
				if err := r.eng.SetPaused(t.Context(), "crm", true); err != nil {
					t.Fatal(err)
				}
				r.accept(ended(1))
				time.Sleep(50 * time.Millisecond)
				if err := r.eng.SetPaused(t.Context(), "crm", false); err != nil {
					t.Fatal(err)
				}
			},
			want: 1,
		},
		{
			name: "resent",
			edit: func(w *Webhook) {
				w.Ordered, w.MaxAttempts = true, 20
				w.Retry = Backoff{Schedule: Fixed, Interval: time.Minute}
			},
			answers: []rcvr.Response{answer(500), answer(200)},
			run: func(t *testing.T, r *rig) {
				r.accept(callEvent(cdr.TypeCallStarted, "test:1", "c1", "1"), callEvent(cdr.TypeCallEnded, "test:1", "c1", "2"))
				var started string
				r.settled("crm", "first attempt", func(d store.Delivery) bool {
					if d.EventType == cdr.TypeCallStarted {
						started = d.ID
						return d.Attempts == 1
					}
					return true
				})
				// The resend delivers call.started: call.ended may go now,
				// not after the minute of the retry schedule.
				if _, err := r.eng.Resend(t.Context(), started); err != nil {
					t.Fatal(err)
				}
			},
			want: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := &script{answers: tc.answers}
			rcv := rcvr.Start(t, sc.respond)
			sp := spec("crm", rcv.URL, cdr.TypeCallStarted, cdr.TypeCallEnded)
			h := newHook(t, sp, func(w *Webhook) {
				w.FailingAfter = -1
				if tc.edit != nil {
					tc.edit(w)
				}
			})
			r := start(t, sqliteBackend.open(t), []Webhook{h}, Options{PollInterval: noPoll, Now: time.Now})
			begin := time.Now()
			tc.run(t, r)
			got := rcv.WaitT(t, tc.want, 5*time.Second)
			if took := got[tc.want-1].At.Sub(begin); took < tc.atLeast {
				t.Fatalf("request %d after %v, want not before %v", tc.want, took, tc.atLeast)
			}
			quiet(t, "more requests", func() bool { return rcv.Count() > tc.want })
		})
	}
}

// A steady flow of single events, each delivered before the next is
// accepted, costs one claim per event: a finished attempt does not make the
// engine claim again for nothing (on SQLite every claim takes the single
// writer from accepts and results).
func TestEngineNoEmptyClaims(t *testing.T) {
	t.Parallel()
	rcv := rcvr.Start(t, nil)
	cc := &emptyClaims{Store: sqliteBackend.open(t)}
	r := start(t, cc, []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))}, Options{PollInterval: noPoll, Now: time.Now})
	r.st = cc.Store
	const n = 100
	eventually(t, 5*time.Second, "the first poll's claim", func() bool { return cc.claims.Load() > 0 })
	claims0, empty0 := cc.claims.Load(), cc.empty.Load()
	for i := range n {
		r.accept(ended(i))
		rcv.WaitT(t, i+1, 5*time.Second)
		// Let the result be written before the next accept.
		r.settled("crm", "delivered", func(d store.Delivery) bool { return d.Status == store.StatusDelivered })
	}
	claims, empty := cc.claims.Load()-claims0, cc.empty.Load()-empty0
	// Allowed: an accept's claim that runs while the previous result is
	// being written and finds nothing new is not possible here (each
	// result is written first); a few spare ones for slow machines.
	if empty > n/20 {
		t.Fatalf("%d claims for %d events, %d of them empty; want at most %d empty", claims, n, empty, n/20)
	}
	if claims < n {
		t.Fatalf("%d claims for %d events", claims, n)
	}
}
