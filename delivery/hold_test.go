package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store"
)

// finishCounter wraps a store and counts the Finish calls that wrote only
// results of failed attempts.
type finishCounter struct {
	store.Store
	mu                 sync.Mutex
	failedOnly, failed int
}

func (f *finishCounter) Finish(ctx context.Context, rs []store.Result) error {
	n := 0
	for _, r := range rs {
		if r.Status != store.StatusDelivered {
			n++
		}
	}
	f.mu.Lock()
	f.failed += n
	if n == len(rs) {
		f.failedOnly++
	}
	f.mu.Unlock()
	return f.Store.Finish(ctx, rs)
}

// While other results flow, a failing endpoint's results are written with
// them instead of in writes of their own (on SQLite each write holds the
// single writer from the healthy webhooks). Without holding them, about
// every failed result is a write of its own here.
func TestEngineFailedResultsRideAlong(t *testing.T) {
	t.Parallel()
	ok := rcvr.Start(t, nil)
	failing := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		return rcvr.Response{Status: 500, Delay: 3 * time.Millisecond}
	})
	fc := &finishCounter{Store: sqliteBackend.open(t)}
	hooks := []Webhook{
		newHook(t, spec("crm", ok.URL, cdr.TypeCallEnded)),
		newHook(t, spec("down", failing.URL, cdr.TypeCallStarted), func(w *Webhook) {
			w.Concurrency, w.MaxAttempts, w.FailingAfter = 1, 1000, -1
			w.Retry = Backoff{Schedule: Fixed, Interval: time.Millisecond}
		}),
	}
	r := start(t, fc, hooks, Options{Now: time.Now})
	r.st = fc.Store
	r.accept(callEvent(cdr.TypeCallStarted, "test:down", "down", "1"))
	const n = 300
	begin := time.Now()
	for i := range n {
		time.Sleep(time.Until(begin.Add(time.Duration(i) * 2 * time.Millisecond)))
		r.accept(ended(i))
	}
	ok.WaitT(t, n, 10*time.Second)
	fc.mu.Lock()
	failedOnly, failed := fc.failedOnly, fc.failed
	fc.mu.Unlock()
	if failed < 20 {
		t.Fatalf("%d failed results written, want the failing endpoint to keep failing", failed)
	}
	if failedOnly > failed/5 {
		t.Fatalf("%d of %d failed results were written on their own, want at most a fifth", failedOnly, failed)
	}
}
