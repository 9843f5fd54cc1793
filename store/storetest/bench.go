package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/store"
)

// BatchSize is the batch size of the benchmarks, the engine's typical batch.
const BatchSize = 100

func benchBatch(from int) []store.NewEvent {
	batch := make([]store.NewEvent, BatchSize)
	for i := range batch {
		n := from + i
		key := fmt.Sprint("call-", n)
		batch[i] = store.NewEvent{Event: Event(n, key), Deliveries: []store.NewDelivery{dlv(fmt.Sprintf("dlv_%09d", n), "crm", key, T0)}}
	}
	return batch
}

// BenchAccept measures Accept of batches of BatchSize events with one
// delivery each; it reports deliveries/s.
func BenchAccept(b *testing.B, s store.Store) {
	b.ReportAllocs()
	ctx := context.Background()
	n := 0
	start := time.Now()
	for b.Loop() {
		b.StopTimer()
		batch := benchBatch(n)
		n += BatchSize
		b.StartTimer()
		if _, err := s.Accept(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchClaimFinish measures claiming BatchSize due deliveries and finishing
// them (delivered, one logged attempt each); it reports deliveries/s.
func BenchClaimFinish(b *testing.B, s store.Store) {
	b.ReportAllocs()
	ctx := context.Background()
	n := 0
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := s.Accept(ctx, benchBatch(n)); err != nil {
			b.Fatal(err)
		}
		n += BatchSize
		b.StartTimer()
		start := time.Now()
		jobs, err := s.Claim(ctx, store.ClaimParams{Owner: "bench", Now: T0.Add(time.Hour), Limit: BatchSize, Lease: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) != BatchSize {
			b.Fatalf("claimed %d, want %d", len(jobs), BatchSize)
		}
		results := make([]store.Result, len(jobs))
		for i, j := range jobs {
			results[i] = store.Result{Owner: "bench", Status: store.StatusDelivered, Attempt: store.Attempt{
				DeliveryID: j.Delivery.ID, N: 1, At: T0,
				Request:  store.HTTPRequest{Method: "POST", URL: "http://127.0.0.1:9/hook", Headers: map[string]string{"Content-Type": "application/json", "Webhook-Id": j.Delivery.ID}, Body: `{"call_id":"x"}`},
				Response: &store.HTTPResponse{Status: 200, Body: "ok"}, LatencyMS: 1,
			}}
		}
		if err := s.Finish(ctx, results); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "deliveries/s")
}

// BenchClaimOtherBacklog measures claiming one due delivery of a webhook
// (ClaimParams.Webhook set, as the engine claims) while backlog deliveries
// of another webhook are due before it and never claimed (an endpoint that
// hangs). A claim should not cost more as that backlog grows.
func BenchClaimOtherBacklog(b *testing.B, s store.Store, backlog int) {
	b.ReportAllocs()
	ctx := context.Background()
	for n := 0; n < backlog; n += BatchSize {
		batch := make([]store.NewEvent, min(BatchSize, backlog-n))
		for i := range batch {
			key := fmt.Sprint("hang-", n+i)
			batch[i] = store.NewEvent{Event: Event(n+i, key), Deliveries: []store.NewDelivery{dlv(fmt.Sprintf("hang_%09d", n+i), "hang", key, T0)}}
		}
		if _, err := s.Accept(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	now := T0.Add(time.Hour)
	n := backlog
	for b.Loop() {
		b.StopTimer()
		key := fmt.Sprint("call-", n)
		id := fmt.Sprintf("dlv_%09d", n)
		if _, err := s.Accept(ctx, []store.NewEvent{{Event: Event(n, key), Deliveries: []store.NewDelivery{dlv(id, "crm", key, T0.Add(time.Second))}}}); err != nil {
			b.Fatal(err)
		}
		n++
		b.StartTimer()
		jobs, err := s.Claim(ctx, store.ClaimParams{Owner: "bench", Now: now, Limit: 1, Lease: time.Minute, Webhook: "crm"})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(jobs) != 1 || jobs[0].Delivery.ID != id {
			b.Fatalf("claimed %d jobs, want %s", len(jobs), id)
		}
		if err := s.Finish(ctx, []store.Result{{Owner: "bench", Status: store.StatusDelivered, Attempt: store.Attempt{
			DeliveryID: id, N: 1, At: now, Request: store.HTTPRequest{Method: "POST", URL: "http://127.0.0.1:9/hook"}, Response: &store.HTTPResponse{Status: 200}}}}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
