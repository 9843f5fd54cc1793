package delivery

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// maxWakes bounds the future due times a webhook remembers; past it, later
// times are dropped and found by the poll (Options.PollInterval).
const maxWakes = 4096

// dueState is what the engine knows of when a webhook's deliveries fall
// due: the claim loop claims for a webhook only when it may have due work
// the engine has not claimed since it learned of it (dirty), or when its
// latest claim came back full (a backlog). Without it every finished
// attempt would cost an empty claim, which on SQLite takes the single
// writer from accepts and results.
type dueState struct {
	// dirty: deliveries of the webhook may be due now and unclaimed.
	dirty atomic.Bool

	mu    sync.Mutex
	wakes wakeHeap // future due times (Options.Now's clock, unix ns), earliest first
	last  int64    // the latest time pushed, to skip repeats of it
}

// add records that deliveries of the webhook fall due at at (unix ns):
// dirty at once when at is not after now, else at that time (see take).
func (d *dueState) add(at, now int64) {
	if at <= now {
		d.dirty.Store(true)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if at == d.last || len(d.wakes) >= maxWakes {
		return
	}
	d.last = at
	heap.Push(&d.wakes, at)
}

// take marks the webhook dirty when one of its remembered due times has
// come by now, and returns the earliest one still in the future (0 if
// none).
func (d *dueState) take(now int64) (next int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	passed := false
	for len(d.wakes) > 0 && d.wakes[0] <= now {
		heap.Pop(&d.wakes)
		passed = true
	}
	if passed {
		d.dirty.Store(true)
	}
	if len(d.wakes) > 0 {
		return d.wakes[0]
	}
	return 0
}

// markDue records that deliveries of the named webhook fall due at at and
// wakes the claim loop (which also arms its timer for a future time). Call
// it only after the store has committed what made them due, so that a claim
// that starts after it sees them.
func (e *Engine) markDue(webhook string, at time.Time) {
	h := e.hook(webhook)
	if h == nil {
		return
	}
	now := e.opts.Now()
	if at.Before(now) {
		at = now // also a zero time, whose UnixNano is undefined
	}
	h.dues.add(at.UnixNano(), now.UnixNano())
	e.signal()
}

// markAllDue marks every webhook dirty: the poll, for what the engine was
// not told of (another replica's accepts, leases that ran out, due times
// beyond maxWakes).
func (e *Engine) markAllDue() {
	for _, h := range e.set().order {
		h.dues.dirty.Store(true)
	}
}

// wakeHeap is a min-heap of unix nanosecond times.
type wakeHeap []int64

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *wakeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
