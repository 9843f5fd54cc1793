package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store"
)

// lossy wraps a store; while lose is set, the next Claim that leases
// something commits and then returns an error, as when the connection is
// cut after the store committed the claim.
type lossy struct {
	store.Store
	lose     atomic.Bool
	lostJobs atomic.Int64 // jobs leased by claims whose answer was lost
	lostAs   atomic.Value // the owner token of the lost claim (string)
}

var errAnswerLost = errors.New("unexpected EOF (test: claim committed, answer lost)")

func (l *lossy) Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	jobs, err := l.Store.Claim(ctx, p)
	if err == nil && len(jobs) > 0 && l.lose.CompareAndSwap(true, false) {
		l.lostJobs.Add(int64(len(jobs)))
		l.lostAs.Store(p.Owner)
		return nil, errAnswerLost
	}
	return jobs, err
}

// A claim whose answer is lost after the store committed it: its delivery
// is sent promptly, once, without waiting for the lease to expire (the
// test's clock never moves, so the lease never expires).
func testClaimAnswerLost(t *testing.T, b backend) {
	ls := &lossy{Store: b.open(t)}
	ls.lose.Store(true)
	rcv := rcvr.Start(t, nil)
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))
	r := start(t, ls, []Webhook{h}, Options{})
	began := time.Now()
	r.accept(ended(1))
	rcv.WaitT(t, 1, 10*time.Second)
	took := time.Since(began)
	if ls.lostJobs.Load() != 1 {
		t.Fatalf("%d jobs in lost claims, want 1 (the test did not lose the claim's answer)", ls.lostJobs.Load())
	}
	// Well within the lease (timeout + LeaseMargin), by the wall clock too.
	if took > 5*time.Second {
		t.Errorf("delivered %v after it was accepted, want well within the %v lease", took.Round(time.Millisecond), h.Timeout+LeaseMargin)
	}
	ds := r.settled("crm", "delivered", status(store.StatusDelivered))
	d, as := r.only("crm")
	if len(ds) != 1 || d.Attempts != 1 || len(as) != 1 {
		t.Fatalf("delivery %s: %d attempts, %d logged; want 1, 1", d.ID, d.Attempts, len(as))
	}
	quiet(t, "sent again", func() bool { return rcv.Count() > 1 })
}

// A claim whose answer is lost and the engine stops before it gives the
// claim back: Stop gives it back, so the delivery is due again at once
// (for the next process) instead of leased until the lease expires.
func testClaimAnswerLostAtStop(t *testing.T, b backend) {
	ls := &lossy{Store: b.open(t)}
	ls.lose.Store(true)
	rcv := rcvr.Start(t, nil)
	r := start(t, ls, []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))}, Options{})
	r.eng.lostGrace = time.Hour // the claim loop does not give it back
	r.accept(ended(1))
	eventually(t, 10*time.Second, "a lost claim", func() bool { return ls.lostJobs.Load() == 1 })
	owner, _ := ls.lostAs.Load().(string)
	if d, _ := r.only("crm"); d.LeaseOwner != owner {
		t.Fatalf("before Stop: delivery leased by %q, want %q (the lost claim)", d.LeaseOwner, owner)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.eng.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	d, as := r.only("crm")
	if d.Status != store.StatusPending || d.LeaseOwner != "" || d.Attempts != 0 || len(as) != 0 || rcv.Count() != 0 {
		t.Fatalf("after Stop: status %s, owner %q, %d attempts, %d logged, %d received; want pending, no lease, none",
			d.Status, d.LeaseOwner, d.Attempts, len(as), rcv.Count())
	}
}
