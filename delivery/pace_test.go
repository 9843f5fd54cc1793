package delivery

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
)

// An endpoint that hangs until the timeout: after the first wave, the
// webhook's attempts start spread over the timeout instead of together (so
// they also end apart), while it keeps most of its slots busy. Without
// pacing each claim's attempts start within a millisecond of each other.
func TestEngineFailingPaced(t *testing.T) {
	t.Parallel()
	const (
		concurrency = 8
		timeout     = 100 * time.Millisecond
		window      = 800 * time.Millisecond // measured, after the first wave
	)
	var (
		mu     sync.Mutex
		starts []time.Time
	)
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return rcvr.Response{Delay: time.Minute} // until the client gives up
	})
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) {
		w.Concurrency, w.Timeout, w.MaxAttempts, w.FailingAfter = concurrency, timeout, 1000, -1
		w.Retry = Backoff{Schedule: Fixed, Interval: time.Millisecond}
	})
	r := start(t, sqliteBackend.open(t), []Webhook{h}, Options{Now: time.Now})
	evs := make([]cdr.Event, 4*concurrency)
	for i := range evs {
		evs[i] = ended(i)
	}
	r.accept(evs...)
	begin := time.Now()
	time.Sleep(2*timeout + window)

	mu.Lock()
	var got []time.Time
	for _, s := range starts {
		if d := s.Sub(begin); d >= 2*timeout && d < 2*timeout+window {
			got = append(got, s)
		}
	}
	mu.Unlock()
	// Each slot is busy for a timeout per attempt: at full use the window
	// holds concurrency*window/timeout starts. Pacing may leave some
	// slots idle for a moment, not most.
	full := int(concurrency * window / timeout)
	if len(got) < full/2 || len(got) > full+concurrency {
		t.Fatalf("%d attempts started in %v, want about %d (concurrency %d, timeout %v)", len(got), window, full, concurrency, timeout)
	}
	// Spread: no 2 ms holds more than two starts (a claim's jobs start
	// one every timeout/concurrency = 12.5 ms, late by a little at most).
	slices.SortFunc(got, func(a, b time.Time) int { return a.Compare(b) })
	for i := 2; i < len(got); i++ {
		if got[i].Sub(got[i-2]) < 2*time.Millisecond {
			t.Fatalf("3 attempts started within %v (at %v, %v, %v after the start): not paced",
				got[i].Sub(got[i-2]), got[i-2].Sub(begin), got[i-1].Sub(begin), got[i].Sub(begin))
		}
	}
}

// pace: a webhook is paced only while its latest attempt failed, by that
// attempt's latency over its concurrency, capped so that a claim's jobs
// start within half the lease margin.
func TestPace(t *testing.T) {
	tests := []struct {
		name    string
		failed  bool
		latency time.Duration
		timeout time.Duration
		lease   time.Duration
		want    time.Duration
	}{
		{"succeeding", false, 10 * time.Second, 10 * time.Second, 40 * time.Second, 0},
		{"hanging", true, 10 * time.Second, 10 * time.Second, 40 * time.Second, 2500 * time.Millisecond},
		{"fast failure", true, 2 * time.Millisecond, 10 * time.Second, 40 * time.Second, 0},
		{"capped by the lease", true, 60 * time.Second, 60 * time.Second, 62 * time.Second, 250 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &hook{Webhook: Webhook{Concurrency: 4, Timeout: tc.timeout}, hookState: &hookState{}, lease: tc.lease}
			h.lastFailed.Store(tc.failed)
			h.failLatency.Store(int64(tc.latency))
			if got := h.pace(); got != tc.want {
				t.Fatalf("pace %v, want %v", got, tc.want)
			}
		})
	}
}
