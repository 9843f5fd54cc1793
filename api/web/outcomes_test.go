package web

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedOutcomes answers Outcomes when the test lets it.
type gatedOutcomes struct {
	gate  chan struct{}
	calls atomic.Int32
	err   error
}

func (g *gatedOutcomes) ListEvents(context.Context, EventFilter) ([]EventSummary, string, error) {
	return nil, "", nil
}

func (g *gatedOutcomes) Outcomes(ctx context.Context, since, _ time.Time, _ time.Duration) (map[string][]OutcomeBucket, error) {
	n := g.calls.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if g.err != nil {
		return nil, g.err
	}
	return map[string][]OutcomeBucket{"crm": {{Start: since, OK: int(n)}}}, nil
}

func TestOutcomesCache(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 12, 30, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	g := &gatedOutcomes{gate: make(chan struct{})}
	c := &outcomesCache{base: t.Context(), st: g, now: clock, wait: 20 * time.Millisecond}
	since := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	ctx := t.Context()

	// A slow store: the page does not wait for it, and several pages share one query.
	for range 3 {
		if v, stale, err := c.get(ctx, since); v != nil || !stale || err != nil {
			t.Fatalf("while counting: %v, stale %v, %v", v, stale, err)
		}
	}
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d queries running, want 1", n)
	}
	g.gate <- struct{}{}
	waitFor(t, func() bool { v, stale, _ := c.get(ctx, since); return v != nil && !stale })
	v, _, _ := c.get(ctx, since)
	if v["crm"][0].OK != 1 || g.calls.Load() != 1 {
		t.Fatalf("cached %v after %d queries", v, g.calls.Load())
	}
	// Past the TTL: the old counts, marked stale, while a new query runs.
	advance(outcomesTTL + time.Second)
	if v, stale, err := c.get(ctx, since); v["crm"][0].OK != 1 || !stale || err != nil {
		t.Fatalf("after TTL: %v, stale %v, %v", v, stale, err)
	}
	close(g.gate) // answer at once from now on
	waitFor(t, func() bool { v, stale, _ := c.get(ctx, since); return !stale && v["crm"][0].OK == 2 })
	// Another window is not served from this one's counts.
	if v, _, _ := c.get(ctx, since.Add(time.Hour)); v["crm"][0].Start != since.Add(time.Hour) {
		t.Errorf("next hour's window: %v", v)
	}
	// A failing store reports its error when there is nothing to show.
	bad := &outcomesCache{base: t.Context(), st: &gatedOutcomes{gate: g.gate, err: errors.New("db down")}, now: clock, wait: time.Second}
	if _, _, err := bad.get(ctx, since); err == nil || err.Error() != "db down" {
		t.Errorf("failing store: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}
