package bench

import (
	"context"
	"flag"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/receiver"
)

var (
	pairedFor    = flag.Duration("bench.paired", 20*time.Second, "how long BenchmarkHangingEndpointPaired sends at 500 events/s")
	pairedWindow = flag.Duration("bench.paired.window", time.Second, "how long each of BenchmarkHangingEndpointPaired's windows lasts")
)

// Settling times of BenchmarkHangingEndpointPaired's windows: events
// accepted sooner after the switch are not counted.
const (
	settleActive = 100 * time.Millisecond // the hanging webhook claims and starts
	settlePaused = 300 * time.Millisecond // its attempts in flight time out (200 ms)
)

// BenchmarkHangingEndpointPaired measures, within one engine run, the
// healthy webhook's accepted-to-delivered latency while a webhook whose
// endpoint hangs is active against while it is paused. Runs on fresh stores
// with fresh engines (BenchmarkHangingEndpoint) differ from each other by
// more than the effect measured; here both sides share the store, the
// engine, the connections and the machine's moment.
//
// One event every 2 ms (500 events/s) is accepted for the healthy webhook
// for -bench.paired; the hanging webhook (as in BenchmarkHangingEndpoint:
// its own backlog of call.ended events, timeout 200 ms, retried every
// millisecond, concurrency hangConcurrency) is resumed and paused in turn
// for -bench.paired.window each. An event counts for the window it was
// accepted in, unless it came within settleActive of a resume or
// settlePaused of a pause (the hanging attempts in flight then run to their
// timeout). It reports p50 and p99 of each side and their ratios, and the
// hanging endpoint's requests per second while active (and, as a check,
// while paused: 0 after the settling time).
func BenchmarkHangingEndpointPaired(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			var active, paused []time.Duration
			var hitsActive, hitsPaused int64
			var timeActive, timePaused time.Duration
			for range b.N {
				r := runPaired(b, be)
				active, paused = append(active, r.active...), append(paused, r.paused...)
				hitsActive += r.hitsActive
				hitsPaused += r.hitsPaused
				timeActive += r.timeActive
				timePaused += r.timePaused
			}
			slices.Sort(active)
			slices.Sort(paused)
			b.ReportMetric(ms(percentile(paused, 0.50)), "paused_p50_ms")
			b.ReportMetric(ms(percentile(paused, 0.99)), "paused_p99_ms")
			b.ReportMetric(ms(percentile(active, 0.50)), "active_p50_ms")
			b.ReportMetric(ms(percentile(active, 0.99)), "active_p99_ms")
			b.ReportMetric(float64(percentile(active, 0.50))/float64(percentile(paused, 0.50)), "p50_ratio")
			b.ReportMetric(float64(percentile(active, 0.99))/float64(percentile(paused, 0.99)), "p99_ratio")
			b.ReportMetric(float64(hitsActive)/timeActive.Seconds(), "hanging_req/s_active")
			b.ReportMetric(float64(hitsPaused)/timePaused.Seconds(), "hanging_req/s_paused")
			b.Logf("%d events counted while the hanging webhook was active, %d while paused", len(active), len(paused))
		})
	}
}

// pairedRun is what one engine run of BenchmarkHangingEndpointPaired saw.
type pairedRun struct {
	active, paused         []time.Duration // latencies of the counted events
	hitsActive, hitsPaused int64           // hanging requests that began in counted time
	timeActive, timePaused time.Duration   // counted time
}

func runPaired(b *testing.B, be backend) pairedRun {
	b.Helper()
	ctx := context.Background()
	// counting says whether the hanging endpoint's requests are counted now,
	// and for which side (1 active, 2 paused).
	var counting atomic.Int32
	var hits [3]atomic.Int64
	healthy := receiver.Start(b, nil)
	hang := receiver.Start(b, func(*receiver.Request) receiver.Response {
		hits[counting.Load()].Add(1)
		return receiver.Response{Delay: time.Minute} // until the client gives up
	})
	st := be.open(b)
	defer st.Close()

	hook := newWebhook(b, healthy.URL)
	hook.Name = healthyName
	eng, stop := newIsolationEngine(b, st, []delivery.Webhook{hook, hangingWebhook(b, hang.URL, true)}, "bench-paired")
	defer stop()
	accept(b, eng, callEvents(hangBacklog))
	if err := eng.Start(ctx); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hits[0].Load() < hangConcurrency {
		if time.Now().After(deadline) {
			b.Fatalf("the hanging endpoint got %d requests in 10s, want %d", hits[0].Load(), hangConcurrency)
		}
		time.Sleep(5 * time.Millisecond)
	}

	const interval = 2 * time.Millisecond
	n := int(*pairedFor / interval)
	evs := newEvents(n)
	index := make(map[string]int, n)
	for i, ev := range evs {
		index[ev.Record.Key()] = i
	}
	base := healthy.Count()
	accepted := make([]time.Time, n)
	side := make([]int32, n) // 0 not counted, 1 active, 2 paused
	var (
		wg     sync.WaitGroup
		failed atomic.Value
		run    pairedRun
	)
	start := time.Now()
	window := -1
	for i := range evs {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		since := time.Since(start)
		if w := int(since / *pairedWindow); w != window {
			window = w
			// Even windows active, odd ones paused.
			if err := eng.SetPaused(ctx, hangingName, w%2 == 1); err != nil {
				b.Fatal(err)
			}
		}
		in := since - time.Duration(window)*(*pairedWindow)
		s := int32(0)
		switch {
		case window%2 == 0 && in >= settleActive:
			s = 1
		case window%2 == 1 && in >= settlePaused:
			s = 2
		}
		if s != counting.Load() {
			counting.Store(s)
		}
		side[i] = s
		switch s {
		case 1:
			run.timeActive += interval
		case 2:
			run.timePaused += interval
		}
		wg.Go(func() {
			if err := eng.Accept(ctx, evs[i:i+1]); err != nil {
				failed.Store(err)
			}
			accepted[i] = time.Now()
		})
	}
	wg.Wait()
	counting.Store(0)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	got := healthy.WaitT(b, base+n, time.Minute)[base:]
	for _, q := range got {
		i := eventIndex(b, q, index)
		lat := max(q.At.Sub(accepted[i]), 0)
		switch side[i] {
		case 1:
			run.active = append(run.active, lat)
		case 2:
			run.paused = append(run.paused, lat)
		}
	}
	run.hitsActive, run.hitsPaused = hits[1].Load(), hits[2].Load()
	if run.hitsActive == 0 {
		b.Fatal("the hanging endpoint got no request while active")
	}
	return run
}
