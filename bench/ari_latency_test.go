package bench

import (
	"context"
	"errors"
	"flag"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/ingest"
	"github.com/cdrgw/cdrgw/ingest/ari"
	"github.com/cdrgw/cdrgw/internal/arisim"
	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

var (
	ariRate = flag.Float64("bench.ari.rate", 1000, "ARI events per second BenchmarkARILatency replays")
	ariFor  = flag.Duration("bench.ari.for", 5*time.Second, "how long BenchmarkARILatency replays at -bench.ari.rate")
)

// ariRecording is the recorded ARI stream the benchmark replays in rounds.
const ariRecording = "../ingest/ari/testdata/ari-events.jsonl"

// BenchmarkARILatency measures the live ARI path from the socket to the
// store: internal/arisim replays the recorded stream (repeated in rounds
// with fresh ids and times, arisim.Repeat) at -bench.ari.rate events/s over
// a real WebSocket to an ari.Source whose sink is a running delivery engine
// on a fresh store, with a webhook for every call, queue and IVR event
// posting to a loopback receiver. For each cdrgw event the latency is the
// time Accept returned (the event and its delivery committed) minus the
// time arisim started writing the ARI frame that completed it (which frame
// that is comes from running the same stream through a Tracker first).
//
// The baseline, in the same run on another fresh store of the same kind,
// hands the very same events, at the same times, straight to the engine's
// Accept from one goroutine that batches what is queued (as the source
// does): no socket, no decoding, no tracker. It reports p50/p99 of both,
// their p99 ratio, the p99 of the live path's part before Accept is called
// (to_sink: socket, decoding, tracker, batching), the replay rate reached,
// and the CPU time per ARI frame of each phase (the live one includes
// arisim's; the machine is shared: CPU time varies less than wall time).
func BenchmarkARILatency(b *testing.B) {
	frames, err := arisim.LoadRecording(ariRecording)
	if err != nil {
		b.Fatal(err)
	}
	n := max(1, int(*ariRate*ariFor.Seconds()))
	stream, err := arisim.Repeat(frames, (n+len(frames)-1)/len(frames))
	if err != nil {
		b.Fatal(err)
	}
	stream = stream[:n]
	opts := ari.Options{System: "pbx", Source: cdr.SourceRef{Kind: "ari", Name: "pbx1"}}
	// produced[i] is what the tracker makes of frame i; cause maps each
	// event id to its frame.
	produced := make([][]cdr.Event, n)
	cause := map[string]int{}
	total := 0
	tr := ari.NewTracker(opts)
	for i, f := range stream {
		evs, err := tr.HandleJSON(f)
		if err != nil {
			b.Fatalf("frame %d: %v", i, err)
		}
		produced[i] = slices.Clone(evs)
		for _, e := range evs {
			if _, dup := cause[e.ID]; dup {
				b.Fatalf("event id %s produced twice", e.ID)
			}
			cause[e.ID] = i
		}
		total += len(evs)
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			var live, toSink, direct []time.Duration
			var liveCPU, directCPU time.Duration
			var rate float64
			b.StopTimer() // only the two replays are timed
			for range b.N {
				st := be.open(b)
				rcv := receiver.Start(b, nil)
				lat, cpu := directAccept(b, newARIEngine(b, st, rcv.URL), produced)
				direct, directCPU = append(direct, lat...), directCPU+cpu

				st = be.open(b)
				rcv = receiver.Start(b, nil)
				lat, pre, cpu, r := liveAccept(b, newARIEngine(b, st, rcv.URL), stream, opts, cause, total)
				live, toSink, liveCPU, rate = append(live, lat...), append(toSink, pre...), liveCPU+cpu, r
			}
			slices.Sort(live)
			slices.Sort(toSink)
			slices.Sort(direct)
			frames := float64(b.N * n)
			b.ReportMetric(ms(percentile(live, 0.50)), "p50_ms")
			b.ReportMetric(ms(percentile(live, 0.99)), "p99_ms")
			b.ReportMetric(ms(percentile(toSink, 0.99)), "to_sink_p99_ms")
			b.ReportMetric(ms(percentile(direct, 0.50)), "direct_p50_ms")
			b.ReportMetric(ms(percentile(direct, 0.99)), "direct_p99_ms")
			b.ReportMetric(float64(percentile(live, 0.99))/float64(max(percentile(direct, 0.99), time.Microsecond)), "p99_ratio")
			b.ReportMetric(float64(len(live)/b.N), "events")
			b.ReportMetric(rate, "ari_frames/s")
			b.ReportMetric(float64(liveCPU.Microseconds())/frames, "cpu_us/frame")
			b.ReportMetric(float64(directCPU.Microseconds())/frames, "direct_cpu_us/frame")
		})
	}
}

// newARIEngine starts an engine on st with one webhook for every call,
// queue and IVR event, posting to url; it stops when the benchmark ends.
func newARIEngine(b *testing.B, st store.Store, url string) *delivery.Engine {
	b.Helper()
	w, err := mapping.Compile(mapping.Spec{
		Name: "crm", URL: url + "/hook", Encoding: "json",
		Events: []cdr.Type{cdr.TypeCallStarted, cdr.TypeCallAnswered, cdr.TypeCallEnded, cdr.TypeQueueEnded, cdr.TypeIVREnded},
		Params: []mapping.Param{
			{Name: "event_id", Expr: "event.id"},
			{Name: "type", Expr: "event.type"},
			{Name: "call_id", Expr: "record.call_id"},
			{Name: "caller.number", Expr: "record.caller.number"},
			{Name: "start_at", Expr: "date(record.started_at)"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	hook := delivery.Webhook{Name: "crm", Renderer: w, Active: true, Concurrency: *concurrency, Timeout: 10 * time.Second, MaxAttempts: 3}
	eng := newEngine(b, st, hook)
	if err := eng.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := eng.Stop(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return eng
}

// pending is one frame's events waiting for Accept in directAccept.
type pending struct {
	evs []cdr.Event
	at  time.Time
}

// directAccept hands produced[i] to eng at frame i's time on the
// -bench.ari.rate schedule, from one goroutine batching what is queued,
// and returns each event's latency and the CPU time used.
func directAccept(b *testing.B, eng *delivery.Engine, produced [][]cdr.Event) ([]time.Duration, time.Duration) {
	ctx := context.Background()
	q := make(chan pending, len(produced))
	var lat []time.Duration
	done := make(chan error, 1)
	go func() {
		var batch []cdr.Event
		var ps []pending
		for p := range q {
			ps = append(ps[:0], p)
		drain:
			for {
				select {
				case p, ok := <-q:
					if !ok {
						break drain
					}
					ps = append(ps, p)
				default:
					break drain
				}
			}
			batch = batch[:0]
			for _, p := range ps {
				batch = append(batch, p.evs...)
			}
			if err := eng.Accept(ctx, batch); err != nil {
				done <- err
				return
			}
			now := time.Now()
			for _, p := range ps {
				for range p.evs {
					lat = append(lat, now.Sub(p.at))
				}
			}
		}
		done <- nil
	}()
	b.StartTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i, evs := range produced {
		time.Sleep(time.Until(start.Add(time.Duration(float64(i) * float64(time.Second) / *ariRate))))
		if len(evs) > 0 {
			q <- pending{evs: evs, at: time.Now()}
		}
	}
	close(q)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return lat, cpuTime() - cpu0
}

// liveAccept replays stream through arisim and an ari.Source into eng and
// returns each produced event's latency (from the write of the frame that
// completed it to Accept's return) and its part before Accept was called
// (socket, decoding, tracker, batching), the CPU time used and the replay
// rate reached, in ARI frames per second.
func liveAccept(b *testing.B, eng *delivery.Engine, stream [][]byte, opts ari.Options, cause map[string]int, total int) (lat, toSink []time.Duration, cpu time.Duration, rate float64) {
	sentAt := make([]atomic.Int64, len(stream)) // Unix ns; written by arisim's goroutine
	sim := arisim.Start(arisim.Options{Username: "gw", Password: "gw", Events: stream, Rate: *ariRate,
		Delay:  200 * time.Millisecond, // let the source finish GET /ari/channels before events flow
		OnSend: func(i int, at time.Time) { sentAt[i].Store(at.UnixNano()) }})
	defer sim.Close()
	src, err := ari.NewSource(ari.SourceConfig{Name: "pbx1", URL: sim.URL(), Username: "gw", Password: "gw", Tracker: opts}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	// lat and toSink are appended to by the source's Run goroutine only.
	var (
		got    atomic.Int64
		failed atomic.Value
	)
	sink := ingest.SinkFunc(func(ctx context.Context, evs []cdr.Event) error {
		called := time.Now()
		err := eng.Accept(ctx, evs)
		now := time.Now()
		if err != nil {
			failed.Store(err)
			return err
		}
		for _, e := range evs {
			if i, ok := cause[e.ID]; ok {
				sent := time.Unix(0, sentAt[i].Load())
				lat = append(lat, now.Sub(sent))
				toSink = append(toSink, called.Sub(sent))
				got.Add(1)
			}
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	b.StartTimer()
	cpu0 := cpuTime()
	go func() { ran <- src.Run(ctx, sink) }()
	deadline := time.Now().Add(max(30*time.Second, 3**ariFor))
	// Wait for every event, and for the frames after the last event-making
	// one to be sent (for the rate).
	for (got.Load() < int64(total) || sim.Sent() < len(stream)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	cpu = cpuTime() - cpu0
	cancel()
	if err := <-ran; !errors.Is(err, context.Canceled) {
		b.Fatalf("source Run: %v", err)
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("Accept: %v", err)
	}
	if n := got.Load(); n != int64(total) {
		b.Fatalf("accepted %d of the %d events the stream makes", n, total)
	}
	first, last := sentAt[0].Load(), sentAt[len(sentAt)-1].Load()
	rate = math.NaN()
	if last > first {
		rate = float64(len(stream)-1) / time.Duration(last-first).Seconds()
	}
	return lat, toSink, cpu, rate
}
