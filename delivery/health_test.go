package delivery

import (
	"sync"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	type rec struct {
		ok      bool
		status  int
		latency time.Duration
	}
	many := func(n int, r rec) []rec {
		out := make([]rec, n)
		for i := range out {
			out[i] = r
		}
		return out
	}
	ramp := make([]rec, 100) // latencies 1ms..100ms, every 4th failing
	for i := range ramp {
		ramp[i] = rec{ok: i%4 != 0, status: 200, latency: time.Duration(i+1) * time.Millisecond}
	}
	tests := []struct {
		name string
		recs []rec
		want HealthSnapshot
	}{
		{"empty", nil, HealthSnapshot{}},
		{"one ok", []rec{{true, 204, 10 * time.Millisecond}}, HealthSnapshot{Attempts: 1, SuccessRate: 1, AvgMS: 10, P95MS: 10, LastStatus: 204}},
		{"ok then failures", []rec{{true, 200, 10 * time.Millisecond}, {false, 500, 20 * time.Millisecond}, {false, 0, 30 * time.Millisecond}},
			HealthSnapshot{Attempts: 3, SuccessRate: 1.0 / 3, AvgMS: 20, P95MS: 30, LastStatus: 0, ConsecutiveFailures: 2}},
		{"failure then ok resets", []rec{{false, 503, time.Millisecond}, {true, 200, 3 * time.Millisecond}},
			HealthSnapshot{Attempts: 2, SuccessRate: 0.5, AvgMS: 2, P95MS: 3, LastStatus: 200}},
		{"ramp p95 nearest rank", ramp, HealthSnapshot{Attempts: 100, SuccessRate: 0.75, AvgMS: 50.5, P95MS: 95, LastStatus: 200}},
		{"window keeps last 100", append(many(50, rec{false, 500, time.Second}), many(100, rec{true, 200, 2 * time.Millisecond})...),
			HealthSnapshot{Attempts: 100, SuccessRate: 1, AvgMS: 2, P95MS: 2, LastStatus: 200}},
		{"consecutive failures beyond window", many(150, rec{false, 502, time.Millisecond}),
			HealthSnapshot{Attempts: 100, SuccessRate: 0, AvgMS: 1, P95MS: 1, LastStatus: 502, ConsecutiveFailures: 150}},
		{"negative latency counts as zero", []rec{{true, 200, -time.Second}}, HealthSnapshot{Attempts: 1, SuccessRate: 1, LastStatus: 200}},
	}
	for _, tt := range tests {
		var h Health
		for _, r := range tt.recs {
			h.Record(r.ok, r.status, r.latency)
		}
		if got := h.Snapshot(); got != tt.want {
			t.Errorf("%s: Snapshot = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestHealthConcurrent(t *testing.T) {
	t.Parallel()
	var h Health
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				h.Record(g%2 == 0, 200, time.Duration(i)*time.Microsecond)
				if i%50 == 0 {
					_ = h.Snapshot()
				}
			}
		})
	}
	wg.Wait()
	if s := h.Snapshot(); s.Attempts != HealthWindow {
		t.Fatalf("Attempts = %d, want %d", s.Attempts, HealthWindow)
	}
}

func BenchmarkHealthRecordSnapshot(b *testing.B) {
	b.ReportAllocs()
	var h Health
	i := 0
	for b.Loop() {
		h.Record(i%10 != 0, 200, time.Duration(i%1000)*time.Microsecond)
		if i%100 == 0 {
			_ = h.Snapshot()
		}
		i++
	}
}
