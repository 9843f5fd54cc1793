// Package group commits concurrent Accept calls together: while one
// transaction is being written, the batches of other callers queue up and go
// into the next transaction as one, so N concurrent single-event Accepts
// cost about one commit instead of N (group commit). Each caller's batch
// stays atomic: it is entirely in one transaction.
package group

import (
	"context"
	"sync"

	"github.com/cdrgw/cdrgw/store"
)

// MaxEvents caps the events of one combined transaction; a batch larger than
// this on its own still goes in one transaction.
const MaxEvents = 2000

// AcceptFunc stores batch in one transaction and reports per event whether it was new.
type AcceptFunc func(ctx context.Context, batch []store.NewEvent) ([]bool, error)

// Committer combines concurrent Accept calls. The zero value is not usable;
// use New.
type Committer struct {
	accept AcceptFunc

	mu    sync.Mutex
	busy  bool   // a leader is writing
	queue []*req // waiting, not yet taken by a leader
}

type req struct {
	batch  []store.NewEvent
	fresh  []bool
	err    error
	wake   chan struct{} // closed when done or when made leader
	leader bool          // set (under mu) before wake is closed: this caller writes next
}

// New returns a Committer writing through accept.
func New(accept AcceptFunc) *Committer { return &Committer{accept: accept} }

// Accept stores batch, possibly in one transaction with the batches of
// concurrent callers. When ctx ends while the call waits, it returns
// ctx.Err(); the batch may still be committed if a writer already took it
// (harmless: a retried event is recognised by its id).
func (c *Committer) Accept(ctx context.Context, batch []store.NewEvent) ([]bool, error) {
	if len(batch) == 0 {
		return c.accept(ctx, batch)
	}
	r := &req{batch: batch, wake: make(chan struct{})}
	c.mu.Lock()
	if c.busy {
		c.queue = append(c.queue, r)
		c.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			c.mu.Lock()
			if !r.leader {
				for i, q := range c.queue {
					if q == r {
						c.queue = append(c.queue[:i], c.queue[i+1:]...)
						break
					}
				}
				c.mu.Unlock()
				return nil, ctx.Err()
			}
			c.mu.Unlock() // made leader meanwhile: must write
			<-r.wake
		}
		if !r.leader {
			return r.fresh, r.err
		}
	} else {
		c.busy = true
		c.mu.Unlock()
	}
	// Leader: write r with whatever else is queued, then hand over.
	c.mu.Lock()
	reqs := []*req{r}
	n := len(r.batch)
	for len(c.queue) > 0 && n+len(c.queue[0].batch) <= MaxEvents {
		reqs = append(reqs, c.queue[0])
		n += len(c.queue[0].batch)
		c.queue = c.queue[1:]
	}
	c.mu.Unlock()
	c.write(ctx, reqs, n)
	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		c.queue = c.queue[1:]
		next.leader = true
		close(next.wake)
	} else {
		c.busy = false
		c.queue = nil
	}
	c.mu.Unlock()
	return r.fresh, r.err
}

// write stores reqs in one transaction; when that fails and there are
// several, each is retried alone so that one caller's bad batch fails only
// that caller.
func (c *Committer) write(ctx context.Context, reqs []*req, n int) {
	defer func() {
		for _, q := range reqs[1:] { // reqs[0] is the leader itself
			close(q.wake)
		}
	}()
	if len(reqs) == 1 {
		reqs[0].fresh, reqs[0].err = c.accept(ctx, reqs[0].batch)
		return
	}
	// Other callers' batches must not fail because the leader's context ended.
	ctx = context.WithoutCancel(ctx)
	all := make([]store.NewEvent, 0, n)
	for _, q := range reqs {
		all = append(all, q.batch...)
	}
	fresh, err := c.accept(ctx, all)
	if err != nil {
		for _, q := range reqs {
			q.fresh, q.err = c.accept(ctx, q.batch)
		}
		return
	}
	off := 0
	for _, q := range reqs {
		q.fresh = fresh[off : off+len(q.batch) : off+len(q.batch)]
		off += len(q.batch)
	}
}
