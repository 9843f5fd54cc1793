package delivery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store"
)

// isolationRun is what one run of the hanging-endpoint measurement saw for
// the healthy webhook.
type isolationRun struct {
	throughput    float64       // deliveries/s from accepting a burst to its last arrival
	accept        time.Duration // time to accept the burst (one transaction)
	p50, p99      time.Duration // accept-to-arrival latency under a paced feed
	hangRequests  int           // requests the hanging endpoint got
	healthyBurst  int
	healthyPaced  int
	hangingActive bool
}

// runIsolation delivers burst events at once and then paced events one by
// one to a healthy webhook, with or without a second webhook, subscribed to
// the same events, whose endpoint hangs past its timeout on every request.
func runIsolation(t *testing.T, burst, paced int, gap time.Duration, hanging bool) isolationRun {
	t.Helper()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	healthy := rcvr.Start(t, func(q *rcvr.Request) rcvr.Response {
		mu.Lock()
		arrived[q.Header.Get("webhook-id")] = time.Now()
		mu.Unlock()
		return rcvr.Response{Status: 200}
	})
	var hangMu sync.Mutex
	hangCount := 0
	hang := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		hangMu.Lock()
		hangCount++
		hangMu.Unlock()
		return rcvr.Response{Delay: time.Minute} // until the client gives up
	})
	hooks := []Webhook{newHook(t, spec("healthy", healthy.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Concurrency = 16 })}
	if hanging {
		hooks = append(hooks, newHook(t, spec("hanging", hang.URL, cdr.TypeCallEnded, cdr.TypeCallStarted), func(w *Webhook) {
			w.Timeout, w.MaxAttempts = 200*time.Millisecond, 1000
			w.Retry = Backoff{Schedule: Fixed, Interval: time.Millisecond}
			w.FailingAfter = -1
		}))
	}
	st := sqliteBackend.open(t)
	client := NewClient(true)
	eng, err := New(st, hooks, Options{Owner: "iso", Client: client})
	if err != nil {
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
		client.CloseIdleConnections()
	}()

	idsOf := func(evs []cdr.Event) map[string]time.Time {
		t.Helper()
		out := map[string]time.Time{}
		for _, ev := range evs {
			before := time.Now()
			if err := eng.Accept(t.Context(), []cdr.Event{ev}); err != nil {
				t.Fatal(err)
			}
			ds, _, err := st.ListDeliveries(t.Context(), store.Filter{Webhook: "healthy", EventID: ev.ID})
			if err != nil || len(ds) != 1 {
				t.Fatalf("delivery of %s: %v, %v", ev.ID, ds, err)
			}
			out[ds[0].ID] = before
		}
		return out
	}
	waitAll := func(ids map[string]time.Time) {
		t.Helper()
		eventually(t, 60*time.Second, "healthy deliveries", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for id := range ids {
				if _, ok := arrived[id]; !ok {
					return false
				}
			}
			return true
		})
	}

	var res isolationRun
	res.hangingActive = hanging
	// Let the hanging webhook fill its slots first.
	if hanging {
		for i := range 8 {
			primer := callEvent(cdr.TypeCallStarted, fmt.Sprintf("primer:%d", i), fmt.Sprintf("p%d", i), "0") // only the hanging webhook's
			if err := eng.Accept(t.Context(), []cdr.Event{primer}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 10*time.Second, "hanging endpoint busy", func() bool {
			hangMu.Lock()
			defer hangMu.Unlock()
			return hangCount >= 4
		})
	}

	// Burst: accept in one transaction, then time the drain.
	evs := make([]cdr.Event, burst)
	for i := range evs {
		evs[i] = ended(i)
	}
	began := time.Now()
	if err := eng.Accept(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	burstIDs := map[string]time.Time{}
	ds, _, err := st.ListDeliveries(t.Context(), store.Filter{Webhook: "healthy", Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		burstIDs[d.ID] = began
	}
	accepted := time.Since(began)
	waitAll(burstIDs)
	mu.Lock()
	var last time.Time
	for id := range burstIDs {
		last = later(last, arrived[id])
	}
	mu.Unlock()
	res.throughput = float64(len(burstIDs)) / last.Sub(began).Seconds()
	res.accept = accepted
	res.healthyBurst = len(burstIDs)

	// Paced: one event every gap; latency from accept to arrival.
	pacedEvs := make([]cdr.Event, paced)
	for i := range pacedEvs {
		pacedEvs[i] = ended(burst + i)
	}
	ids := map[string]time.Time{}
	for _, ev := range pacedEvs {
		for id, at := range idsOf([]cdr.Event{ev}) {
			ids[id] = at
		}
		time.Sleep(gap)
	}
	waitAll(ids)
	mu.Lock()
	lat := make([]time.Duration, 0, len(ids))
	for id, at := range ids {
		lat = append(lat, arrived[id].Sub(at))
	}
	mu.Unlock()
	slices.Sort(lat)
	res.p50 = lat[len(lat)/2]
	res.p99 = lat[(99*len(lat)+99)/100-1]
	res.healthyPaced = len(ids)
	hangMu.Lock()
	res.hangRequests = hangCount
	hangMu.Unlock()
	return res
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// TestHangingEndpointIsolation measures a healthy webhook's throughput and
// latency alone and next to a webhook whose endpoint hangs until its
// timeout on every request. The target is "within 10 %"; the
// assertion is much looser (the race detector and a shared 2-core machine make
// single runs noisy), and the measured figures are logged (-v). Its bursts
// are too small to measure the target (the throughput ratio swings from
// about 0.7 to 1.07 run to run): BenchmarkHangingEndpoint in package bench
// is the measurement.
func TestHangingEndpointIsolation(t *testing.T) {
	burst, paced, gap := 300, 150, 3*time.Millisecond
	if testing.Short() || raceEnabled {
		burst, paced = 100, 50
	}
	// Alternate the two configurations and keep each one's best run, so a
	// hiccup of the machine does not decide the comparison.
	var base, hang []isolationRun
	for range 2 {
		base = append(base, runIsolation(t, burst, paced, gap, false))
		hang = append(hang, runIsolation(t, burst, paced, gap, true))
	}
	best := func(rs []isolationRun) isolationRun {
		b := rs[0]
		for _, r := range rs[1:] {
			b.throughput = max(b.throughput, r.throughput)
			b.p50, b.p99 = min(b.p50, r.p50), min(b.p99, r.p99)
			b.hangRequests = max(b.hangRequests, r.hangRequests)
		}
		return b
	}
	b, h := best(base), best(hang)
	tputRatio := h.throughput / b.throughput
	p99Ratio := float64(h.p99) / float64(b.p99)
	t.Logf("healthy alone:        %.0f deliveries/s (burst %d, accepted in %s), paced latency p50 %s p99 %s", b.throughput, b.healthyBurst, b.accept, b.p50, b.p99)
	t.Logf("next to hanging hook: %.0f deliveries/s (burst %d, accepted in %s), paced latency p50 %s p99 %s; hanging endpoint got %d requests",
		h.throughput, h.healthyBurst, h.accept, h.p50, h.p99, h.hangRequests)
	t.Logf("ratios (with/without): throughput %.3f, p99 latency %.3f, p50 latency %.3f", tputRatio, p99Ratio, float64(h.p50)/float64(b.p50))
	for i := range base {
		t.Logf("run %d: alone %.0f/s p99 %s | with hanging %.0f/s p99 %s", i+1, base[i].throughput, base[i].p99, hang[i].throughput, hang[i].p99)
	}
	if h.hangRequests < 4 {
		t.Fatalf("the hanging endpoint got %d requests: the measurement did not include it", h.hangRequests)
	}
	// The bounds are loose for the noise of single small runs; the
	// hanging webhook's backlog no longer slows the healthy webhook's claims
	// (each webhook claims through its own due index, migration 0002).
	if tputRatio < 0.5 {
		t.Errorf("throughput with a hanging endpoint is %.0f%% of the run without it", 100*tputRatio)
	}
	if h.p99 > 5*b.p99+50*time.Millisecond {
		t.Errorf("p99 latency with a hanging endpoint %s, without %s", h.p99, b.p99)
	}
}
