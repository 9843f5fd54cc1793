package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/sqlite"
	"github.com/cdrgw/cdrgw/store/storetest"
)

var (
	roundSize   = flag.Int("bench.deliveries", 10000, "deliveries per round of BenchmarkDelivery")
	latencyFor  = flag.Duration("bench.latency", 4*time.Second, "how long BenchmarkLatency500 sends at 500 events/s")
	concurrency = flag.Int("bench.concurrency", 64, "webhook concurrency and engine workers of the delivery benchmarks")
)

// acceptBatch is the number of events per AcceptBatch call when loading.
const acceptBatch = 100

// backend opens one kind of store for a benchmark.
type backend struct {
	name string
	open func(b *testing.B) store.Store
}

var backends = []backend{
	{"sqlite", func(b *testing.B) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(b *testing.B) store.Store {
		st, err := postgres.Open(context.Background(), pgtest.URL(b)) // skips when unreachable
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}},
}

// seq numbers events across the whole run so that ids never repeat.
var seq atomic.Int64

// newEvents returns n fresh queue.ended events whose call ids are bench-<n>.
func newEvents(n int) []cdr.Event {
	evs := make([]cdr.Event, n)
	for i := range evs {
		k := int(seq.Add(1))
		evs[i] = storetest.Event(k, "bench-"+strconv.Itoa(k))
	}
	return evs
}

// newWebhook returns a JSON webhook subscribed to queue.ended that posts to url.
func newWebhook(b *testing.B, url string) delivery.Webhook {
	b.Helper()
	w, err := mapping.Compile(mapping.Spec{
		Name: "crm", URL: url + "/hook", Events: []cdr.Type{cdr.TypeQueueEnded}, Encoding: "json",
		Params: []mapping.Param{
			{Name: "event_id", Expr: "event.id"},
			{Name: "call_id", Expr: "record.call_id"},
			{Name: "caller.number", Expr: "record.caller.number"},
			{Name: "queue", Expr: "record.queue.name"},
			{Name: "wait", Expr: "record.wait"},
			{Name: "start_at", Expr: "date(record.started_at)"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return delivery.Webhook{
		Name: "crm", Renderer: w, Active: true, Concurrency: *concurrency,
		Timeout: 10 * time.Second, MaxAttempts: 3,
	}
}

func newEngine(b *testing.B, st store.Store, hook delivery.Webhook) *delivery.Engine {
	b.Helper()
	eng, err := delivery.New(st, []delivery.Webhook{hook}, delivery.Options{
		Owner: "bench", Workers: *concurrency, Client: delivery.NewClient(true),
	})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// accept stores evs through the engine in batches of acceptBatch.
func accept(b *testing.B, eng *delivery.Engine, evs []cdr.Event) {
	b.Helper()
	for i := 0; i < len(evs); i += acceptBatch {
		fresh, err := eng.AcceptBatch(context.Background(), evs[i:min(i+acceptBatch, len(evs))], false)
		if err != nil {
			b.Fatal(err)
		}
		for j, ok := range fresh {
			if !ok {
				b.Fatalf("event %s was not new", evs[i+j].ID)
			}
		}
	}
}

// BenchmarkDelivery measures durable deliveries per second: each round
// accepts -bench.deliveries events (timer stopped), then starts the engine and
// times until every delivery got its 2xx and the engine has stopped, which
// writes every result. In the same round a plain http.Client with as many
// goroutines posts the same bodies to the same receiver, once just before
// and once just after the engine, and counts the mean of the two, so that
// the machine's load drifting during the round weighs on both sides alike.
// It reports both rates and engine/plain, the CPU time of this process per
// delivery (the receiver included) and that of the rest of the machine
// during the engine's run (other-cpu-us/delivery: on a quiet machine, the
// PostgreSQL server's, and next to nothing for SQLite).
func BenchmarkDelivery(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			b.ReportAllocs()
			st := be.open(b)
			rcv := receiver.Start(b, nil)
			hook := newWebhook(b, rcv.URL)
			ctx := context.Background()
			var engineTook, plainTook, engineCPU, otherCPU time.Duration
			_, machineOK := machineCPU()
			total := 0
			for range b.N {
				b.StopTimer()
				n := *roundSize
				evs := newEvents(n)
				eng := newEngine(b, st, hook)
				accept(b, eng, evs)
				before, err := st.Stats(ctx, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				bodies := renderBodies(b, hook, evs)
				plainBefore := plainPost(b, rcv, bodies)
				base := rcv.Count()
				b.StartTimer()

				all0, _ := machineCPU()
				start, cpu0 := time.Now(), cpuTime()
				if err := eng.Start(ctx); err != nil {
					b.Fatal(err)
				}
				rcv.WaitT(b, base+n, time.Minute)
				if err := eng.Stop(ctx); err != nil {
					b.Fatal(err)
				}
				engineTook += time.Since(start)
				own := cpuTime() - cpu0
				engineCPU += own
				all1, _ := machineCPU()
				otherCPU += all1 - all0 - own

				b.StopTimer()
				after, err := st.Stats(ctx, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				if got := after.ByStatus[store.StatusDelivered] - before.ByStatus[store.StatusDelivered]; got != int64(n) || after.Pending != 0 {
					b.Fatalf("after the round: %d delivered (want %d), %d pending (want 0)", got, n, after.Pending)
				}
				if dup := rcv.Count() - base - n; dup != 0 {
					b.Logf("%d duplicate sends", dup)
				}
				b.StartTimer()
				plainTook += (plainBefore + plainPost(b, rcv, bodies)) / 2
				total += n
			}
			engineRate := float64(total) / engineTook.Seconds()
			plainRate := float64(total) / plainTook.Seconds()
			b.ReportMetric(engineRate, "deliveries/s")
			b.ReportMetric(plainRate, "plain/s")
			b.ReportMetric(engineRate/plainRate, "ratio")
			b.ReportMetric(float64(engineCPU.Microseconds())/float64(total), "cpu-us/delivery")
			if machineOK {
				b.ReportMetric(float64(otherCPU.Microseconds())/float64(total), "other-cpu-us/delivery")
			}
		})
	}
}

// renderBodies renders the request bodies the engine sent for evs.
func renderBodies(b *testing.B, hook delivery.Webhook, evs []cdr.Event) [][]byte {
	b.Helper()
	bodies := make([][]byte, len(evs))
	for i, ev := range evs {
		req, err := hook.Renderer.Render(ev, "")
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = req.Body
	}
	return bodies
}

// plainPost posts bodies to the receiver from -bench.concurrency goroutines
// with a plain http.Client and returns how long it took.
func plainPost(b *testing.B, rcv *receiver.Receiver, bodies [][]byte) time.Duration {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: *concurrency, MaxIdleConnsPerHost: *concurrency}}
	defer client.CloseIdleConnections()
	url := rcv.URL + "/hook"
	var (
		next   atomic.Int64
		failed atomic.Value
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range *concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
				if err != nil {
					failed.Store(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Webhook-Id", "plain_"+strconv.Itoa(i))
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					failed.Store(fmt.Errorf("status %d", resp.StatusCode))
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("plain client: %v", err)
	}
	return took
}

// BenchmarkLatency500 accepts one event every 2 ms (500 events/s) for
// -bench.latency with the engine running, and reports the accepted-to-delivered
// latency: the receiver's arrival time minus the time Accept returned.
func BenchmarkLatency500(b *testing.B) {
	const interval = 2 * time.Millisecond
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			b.ReportAllocs()
			st := be.open(b)
			rcv := receiver.Start(b, nil)
			hook := newWebhook(b, rcv.URL)
			ctx := context.Background()
			var lat []time.Duration
			for range b.N {
				b.StopTimer()
				n := int(*latencyFor / interval)
				evs := newEvents(n)
				index := make(map[string]int, n)
				for i, ev := range evs {
					index[ev.Record.Key()] = i
				}
				eng := newEngine(b, st, hook)
				if err := eng.Start(ctx); err != nil {
					b.Fatal(err)
				}
				base := rcv.Count()
				accepted := make([]time.Time, n)
				var (
					wg     sync.WaitGroup
					failed atomic.Value
				)
				b.StartTimer()
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
				got := rcv.WaitT(b, base+n, time.Minute)[base:]
				b.StopTimer()
				if err := eng.Stop(ctx); err != nil {
					b.Fatal(err)
				}
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
				for _, r := range got {
					i := eventIndex(b, r, index)
					lat = append(lat, max(r.At.Sub(accepted[i]), 0))
				}
				b.StartTimer()
			}
			slices.Sort(lat)
			b.ReportMetric(ms(percentile(lat, 0.50)), "p50_ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "p99_ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max_ms")
		})
	}
}

// cpuTime returns the CPU time (user and system) the process used so far:
// on a shared, noisy machine it varies less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// eventIndex returns the index, in the index map made from the sent events'
// record keys (their call ids), of the event a received request carries.
func eventIndex(b *testing.B, q receiver.Request, index map[string]int) int {
	b.Helper()
	var body struct {
		CallID string `json:"call_id"`
	}
	if err := json.Unmarshal(q.Body, &body); err != nil {
		b.Fatalf("receiver body %q: %v", q.Body, err)
	}
	i, ok := index[body.CallID]
	if !ok {
		b.Fatalf("receiver got unknown call_id %q", body.CallID)
	}
	return i
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(int(p*float64(len(sorted))), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// teamsRecord returns the first record of the shared Teams sample, to be
// re-used with fresh call ids.
func teamsRecord(b *testing.B) map[string]any {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "samples", "teams-batch.json"))
	if err != nil {
		b.Fatal(err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(raw, &recs); err != nil {
		b.Fatal(err)
	}
	for _, r := range recs {
		if r["EventType"] == "App.QueueWebhook" {
			return r
		}
	}
	b.Fatal("no App.QueueWebhook record in teams-batch.json")
	return nil
}

// teamsBody returns a JSON body of per fresh queue records (an object when per is 1).
func teamsBody(b *testing.B, tmpl map[string]any, per int) []byte {
	recs := make([]map[string]any, per)
	for i := range recs {
		r := make(map[string]any, len(tmpl))
		for k, v := range tmpl {
			r[k] = v
		}
		r["CallId"] = "bench-" + strconv.FormatInt(seq.Add(1), 10)
		recs[i] = r
	}
	var (
		raw []byte
		err error
	)
	if per == 1 {
		raw, err = json.Marshal(recs[0])
	} else {
		raw, err = json.Marshal(recs)
	}
	if err != nil {
		b.Fatal(err)
	}
	return raw
}
