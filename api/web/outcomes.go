package web

import (
	"context"
	"sync"
	"time"
)

// Outcomes are counted over every attempt of the last 24 hours, which takes
// a while on a busy store, and a sparkline of hourly bars does not need to be
// fresher than a minute. So the webhooks page reads them through a cache:
// fresh counts are used as they are; otherwise one query runs (at most one
// at a time, at most outcomesTimeout long, not canceled when the page's
// request ends so that its result serves the next page, but canceled when
// Options.Context ends) and the page waits
// for it at most outcomesWait, then shows the previous counts, or none,
// rather than making the whole page slow.
const (
	outcomesTTL     = 30 * time.Second
	outcomesWait    = 150 * time.Millisecond
	outcomesTimeout = 30 * time.Second
)

// outcomesCache holds the latest outcome counts.
type outcomesCache struct {
	base context.Context // the console's lifetime: ends the running query
	st   EventStore
	now  func() time.Time
	wait time.Duration

	mu      sync.Mutex
	since   time.Time // the window of val
	val     map[string][]OutcomeBucket
	at      time.Time     // when val was read
	err     error         // of the latest query
	loading chan struct{} // closed when the running query ends; nil when none runs
}

// get returns the counts of the 24 hours from since: fresh ones, or the
// latest the store gave within the wait (stale reports that they are older
// than the TTL, or for another window).
func (c *outcomesCache) get(ctx context.Context, since time.Time) (val map[string][]OutcomeBucket, stale bool, err error) {
	c.mu.Lock()
	if c.val != nil && c.since.Equal(since) && c.now().Sub(c.at) < outcomesTTL {
		defer c.mu.Unlock()
		return c.val, false, nil
	}
	done := c.loading
	if done == nil {
		done = make(chan struct{})
		c.loading = done
		go c.load(since, done)
	}
	c.mu.Unlock()

	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := c.val != nil && c.since.Equal(since) && c.now().Sub(c.at) < outcomesTTL
	if c.val == nil {
		return nil, true, c.err
	}
	return c.val, !fresh, nil
}

// load queries the store and keeps the result; it ends within
// outcomesTimeout, or when c.base ends.
func (c *outcomesCache) load(since time.Time, done chan struct{}) {
	ctx, cancel := context.WithTimeout(c.base, outcomesTimeout)
	defer cancel()
	val, err := c.st.Outcomes(ctx, since, since.Add(sparkHours*time.Hour), time.Hour)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	if err == nil {
		c.val, c.since, c.at = val, since, c.now()
	}
	c.loading = nil
	close(done)
}
