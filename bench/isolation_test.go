package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// hangConcurrency is the hanging webhook's concurrency: the attempts it keeps
// in flight, each until its timeout.
const hangConcurrency = 16

// Names of the two webhooks of BenchmarkHangingEndpoint.
const (
	healthyName = "healthy"
	hangingName = "hanging"
)

// isolationRound is what one engine run of BenchmarkHangingEndpoint saw.
type isolationRound struct {
	delivered    int             // backlog deliveries of the healthy webhook
	took         time.Duration   // from resuming the healthy webhook to the backlog's last arrival
	lat          []time.Duration // accepted-to-delivered latencies of the paced phase
	hangRequests int64           // requests the hanging endpoint got while measured
}

// hangMode says whether and how a run of BenchmarkHangingEndpoint has a
// hanging webhook.
type hangMode int

const (
	alone      hangMode = iota // the healthy webhook only
	hangOwn                    // plus a hanging webhook with a backlog of its own events
	hangShared                 // plus a hanging webhook subscribed to the healthy one's events
	fastShared                 // plus a webhook with a fast endpoint subscribed to the healthy one's events
)

func (m hangMode) String() string { return [...]string{"alone", "own", "shared", "fast"}[m] }

// hangBacklog is the backlog of its own events the hangOwn webhook starts
// with; retried every millisecond, it is always due.
const hangBacklog = 2000

// BenchmarkHangingEndpoint measures the isolation of a healthy webhook from
// one whose endpoint hangs until the timeout on every request (issue #3: the
// healthy webhook's throughput and latency should stay within 10 % of a run
// without it). Each iteration runs, in rotating order so that the machine's
// drift weighs on all alike and each on a fresh store with a fresh engine:
//
//   - alone: the healthy webhook only;
//   - own: next to a hanging webhook of other events (call.ended) with a
//     backlog of hangBacklog deliveries: the cost of the hanging endpoint
//     itself (its slots, claims, failed results and reconnections);
//   - shared: next to a hanging webhook subscribed to the healthy one's
//     events, so that every accepted event also queues a delivery for it
//     and its backlog grows with the healthy one's. This adds the cost of a
//     second delivery row per event, which any second webhook brings, hanging
//     or not;
//   - fast: for comparison, next to a second webhook of the same events
//     whose endpoint answers at once, as the healthy one's does: what any
//     second webhook costs the healthy one.
//
// In each run:
//
//   - throughput: -bench.deliveries events are accepted while the healthy
//     webhook is paused, the engine is started and, once the hanging
//     webhook has all its slots busy, the healthy webhook is resumed; the
//     rate is its backlog over the time from the resume to the last arrival
//     at its receiver. (Pausing stands in for BenchmarkDelivery's "from
//     engine start": the hanging webhook must be busy before the
//     measurement begins, which needs a running engine.)
//   - latency: then, with the same engine and the hanging webhook still
//     busy, one event every 2 ms (500 events/s) for -bench.latency, and the
//     accepted-to-delivered p50 and p99 as in BenchmarkLatency500.
//
// The hanging webhook: timeout 200 ms, 1,000 attempts, fixed 1 ms retry,
// concurrency hangConcurrency, webhook.failing never raised. The healthy
// one is BenchmarkDelivery's (concurrency -bench.concurrency). The engine
// has workers for both webhooks' slots in every run, as the defaults (64
// workers, concurrency 4) give a few webhooks: the hanging webhook's slots
// then do not come out of the healthy one's.
//
// It reports the healthy webhook's rate, p50 and p99 in each configuration
// (over all iterations), the ratios to alone (the median of the
// iterations' ratios), and the requests the hanging endpoint got per run
// while measured, which proves it was active (the benchmark fails below its
// concurrency). Each iteration's figures are logged.
func BenchmarkHangingEndpoint(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			var hits atomic.Int64
			healthy := receiver.Start(b, nil)
			hang := receiver.Start(b, func(*receiver.Request) receiver.Response {
				hits.Add(1)
				return receiver.Response{Delay: time.Minute} // until the client gives up
			})
			fast := receiver.Start(b, func(*receiver.Request) receiver.Response {
				hits.Add(1)
				return receiver.Response{}
			})
			modes := []hangMode{alone, hangOwn, hangShared, fastShared}
			rounds := map[hangMode][]isolationRound{}
			for i := range b.N {
				got := map[hangMode]isolationRound{}
				for k := range modes {
					m := modes[(i+k)%len(modes)]
					second := hang
					if m == fastShared {
						second = fast
					}
					got[m] = runIsolation(b, be, healthy, second, &hits, m)
				}
				for _, m := range modes {
					rounds[m] = append(rounds[m], got[m])
					if m != alone && got[m].hangRequests < hangConcurrency {
						b.Fatalf("%s: the hanging endpoint got %d requests while measured, want at least %d", m, got[m].hangRequests, hangConcurrency)
					}
				}
				a := got[alone]
				line := fmt.Sprintf("iteration %d: alone %.0f/s p99 %.1f ms", i+1, rate(a), ms(p99Of(a.lat)))
				for _, m := range modes[1:] {
					r := got[m]
					line += fmt.Sprintf(" | %s %.0f/s p99 %.1f ms (%d requests to the second webhook; ratios %.3f, %.3f)", m, rate(r), ms(p99Of(r.lat)), r.hangRequests,
						rate(r)/rate(a), float64(p99Of(r.lat))/float64(p99Of(a.lat)))
				}
				b.Log(line)
			}
			aRate, aLat := rate(rounds[alone]...), pooled(rounds[alone])
			b.ReportMetric(aRate, "alone_deliveries/s")
			b.ReportMetric(ms(percentile(aLat, 0.50)), "alone_p50_ms")
			b.ReportMetric(ms(percentile(aLat, 0.99)), "alone_p99_ms")
			for _, m := range modes[1:] {
				r, lat := rate(rounds[m]...), pooled(rounds[m])
				var reqs int64
				for _, x := range rounds[m] {
					reqs += x.hangRequests
				}
				// The ratios are the medians of each iteration's ratio (runs
				// of one iteration ran back to back): a hiccup of the
				// machine in one run moves a pooled figure, not a median.
				var tput, p99 []float64
				for i, x := range rounds[m] {
					a := rounds[alone][i]
					tput = append(tput, rate(x)/rate(a))
					p99 = append(p99, float64(p99Of(x.lat))/float64(p99Of(a.lat)))
				}
				b.ReportMetric(r, m.String()+"_deliveries/s")
				b.ReportMetric(median(tput), m.String()+"_throughput_ratio")
				b.ReportMetric(ms(percentile(lat, 0.50)), m.String()+"_p50_ms")
				b.ReportMetric(ms(percentile(lat, 0.99)), m.String()+"_p99_ms")
				b.ReportMetric(median(p99), m.String()+"_p99_ratio")
				b.ReportMetric(float64(reqs)/float64(len(rounds[m])), m.String()+"_second_requests")
			}
		})
	}
}

// runIsolation runs one engine on a fresh store with the healthy webhook
// and, unless mode is alone, a second one posting to hang (which hangs, or
// answers at once for fastShared); it measures the healthy webhook's
// backlog throughput and then its paced latency (see
// BenchmarkHangingEndpoint). hits counts the second endpoint's requests.
func runIsolation(b *testing.B, be backend, healthy, hang *receiver.Receiver, hits *atomic.Int64, mode hangMode) isolationRound {
	b.Helper()
	ctx := context.Background()
	st := be.open(b)
	defer st.Close() // again at cleanup: both stores allow it

	hook := newWebhook(b, healthy.URL)
	hook.Name = healthyName
	hooks := []delivery.Webhook{hook}
	if mode != alone {
		hooks = append(hooks, hangingWebhook(b, hang.URL, mode == hangOwn))
	}
	eng, stop := newIsolationEngine(b, st, hooks, "bench-iso")
	defer stop()

	if err := eng.SetPaused(ctx, healthyName, true); err != nil {
		b.Fatal(err)
	}
	n := *roundSize
	accept(b, eng, newEvents(n))
	if mode == hangOwn {
		accept(b, eng, callEvents(hangBacklog))
	}
	hits.Store(0) // the previous run's engine is stopped
	if err := eng.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if mode != alone {
		// Prime: the hanging webhook claims its share of the backlog.
		deadline := time.Now().Add(10 * time.Second)
		for hits.Load() < hangConcurrency {
			if time.Now().After(deadline) {
				b.Fatalf("the hanging endpoint got %d requests in 10s, want %d", hits.Load(), hangConcurrency)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	var r isolationRound
	h0 := hits.Load()
	base := healthy.Count()
	start := time.Now()
	if err := eng.SetPaused(ctx, healthyName, false); err != nil {
		b.Fatal(err)
	}
	got := healthy.WaitT(b, base+n, 2*time.Minute)[base:]
	var last time.Time
	for _, q := range got {
		if q.At.After(last) {
			last = q.At
		}
	}
	r.delivered, r.took = n, last.Sub(start)
	if dup := len(got) - n; dup > 0 {
		b.Logf("%d duplicate sends", dup)
	}

	r.lat = pacedLatency(b, eng, healthy)
	r.hangRequests = hits.Load() - h0
	return r
}

// hangingWebhook returns the hanging webhook of the isolation benchmarks,
// posting to url: subscribed to call.ended only (own: events of its own) or
// to the healthy webhook's events; timeout 200 ms, 1,000 attempts retried
// every millisecond, concurrency hangConcurrency, webhook.failing never
// raised.
func hangingWebhook(b *testing.B, url string, own bool) delivery.Webhook {
	b.Helper()
	h := newWebhook(b, url)
	if own {
		h = callWebhook(b, url)
	}
	h.Name, h.Concurrency = hangingName, hangConcurrency
	h.Timeout, h.MaxAttempts = 200*time.Millisecond, 1000
	h.Retry = delivery.Backoff{Schedule: delivery.Fixed, Interval: time.Millisecond}
	h.FailingAfter = -1
	return h
}

// newIsolationEngine makes an engine over st with workers for the healthy
// webhook's and the hanging webhook's slots. Call stop on every way out
// (b.Fatal included) before the store closes: a hanging attempt ends at its
// timeout, or is cut by Stop.
func newIsolationEngine(b *testing.B, st store.Store, hooks []delivery.Webhook, owner string) (eng *delivery.Engine, stop func()) {
	b.Helper()
	client := delivery.NewClient(true)
	eng, err := delivery.New(st, hooks, delivery.Options{
		Owner: owner, Workers: *concurrency + hangConcurrency, Client: client,
	})
	if err != nil {
		b.Fatal(err)
	}
	return eng, func() {
		defer client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Stop(ctx); err != nil {
			b.Errorf("stop: %v", err)
		}
	}
}

// callWebhook returns a JSON webhook subscribed to call.ended that posts to
// url.
func callWebhook(b *testing.B, url string) delivery.Webhook {
	b.Helper()
	w, err := mapping.Compile(mapping.Spec{
		Name: hangingName, URL: url + "/hook", Events: []cdr.Type{cdr.TypeCallEnded}, Encoding: "json",
		Params: []mapping.Param{
			{Name: "event_id", Expr: "event.id"},
			{Name: "call_id", Expr: "record.call_id"},
			{Name: "caller.number", Expr: "record.caller.number"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return delivery.Webhook{Name: hangingName, Renderer: w, Active: true, Timeout: 10 * time.Second, MaxAttempts: 3}
}

// callEvents returns n fresh call.ended events.
func callEvents(n int) []cdr.Event {
	evs := make([]cdr.Event, n)
	for i := range evs {
		k := int(seq.Add(1))
		evs[i] = storetest.EventOfType(cdr.TypeCallEnded, k, "bench-"+strconv.Itoa(k))
	}
	return evs
}

// pacedLatency accepts one event every 2 ms (500 events/s) for
// -bench.latency with eng running, and returns the sorted latencies from
// Accept's return to the arrival at rcv, as BenchmarkLatency500 does.
func pacedLatency(b *testing.B, eng *delivery.Engine, rcv *receiver.Receiver) []time.Duration {
	b.Helper()
	const interval = 2 * time.Millisecond
	ctx := context.Background()
	n := int(*latencyFor / interval)
	evs := newEvents(n)
	index := make(map[string]int, n)
	for i, ev := range evs {
		index[ev.Record.Key()] = i
	}
	base := rcv.Count()
	accepted := make([]time.Time, n)
	var (
		wg     sync.WaitGroup
		failed atomic.Value
	)
	start := time.Now()
	for i := range evs {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			if err := eng.Accept(ctx, evs[i:i+1]); err != nil {
				failed.Store(err)
			}
			accepted[i] = time.Now()
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	got := rcv.WaitT(b, base+n, time.Minute)[base:]
	lat := make([]time.Duration, 0, len(got))
	for _, q := range got {
		i := eventIndex(b, q, index)
		lat = append(lat, max(q.At.Sub(accepted[i]), 0))
	}
	slices.Sort(lat)
	return lat
}

// rate returns the backlog deliveries per second over rounds.
func rate(rounds ...isolationRound) float64 {
	var n int
	var took time.Duration
	for _, r := range rounds {
		n += r.delivered
		took += r.took
	}
	return float64(n) / took.Seconds()
}

// pooled returns the sorted latencies of all rounds.
func pooled(rounds []isolationRound) []time.Duration {
	var lat []time.Duration
	for _, r := range rounds {
		lat = append(lat, r.lat...)
	}
	slices.Sort(lat)
	return lat
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// p99Of returns the 99th percentile of sorted latencies.
func p99Of(sorted []time.Duration) time.Duration { return percentile(sorted, 0.99) }
