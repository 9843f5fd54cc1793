package ari

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

// BenchmarkTracker replays the recording in a loop (linkedids renamed per
// round so every call is new), decoding each JSON line: the figure is ARI
// events per second on one core.
func BenchmarkTracker(b *testing.B) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	ls := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	const rounds = 4
	var stream [][]byte
	for r := range rounds {
		for _, l := range ls {
			stream = append(stream, []byte(strings.ReplaceAll(string(l), "17954", fmt.Sprintf("1%d954", r))))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		tr := NewTracker(Options{System: "pbx"})
		for _, l := range stream {
			if _, err := tr.HandleJSON(l); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLiveCallMemory measures the heap held per call in progress:
// 1,000 calls are started (every event of each call up to its answer, four
// channels each) and kept live (goal: at most 4 KiB a call). As a baseline
// from the same run it also measures the heap of the call record a call
// emits at that point (its call.answered record, four legs), kept alone,
// and reports the ratio of the two.
func BenchmarkLiveCallMemory(b *testing.B) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	// S1 up to the bridge: 4 channels, answered, talking.
	var prefix []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, `"ChannelHangupRequest"`) {
			break
		}
		prefix = append(prefix, l)
	}
	const calls = 1000
	var evs []*Event
	for c := range calls {
		for _, l := range prefix {
			ev, err := DecodeEvent([]byte(strings.ReplaceAll(l, "1795415425.", fmt.Sprintf("%d.", 100000+c))))
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	b.ReportAllocs()
	var perCall, perRecord float64
	for b.Loop() {
		before := heap()
		tr := NewTracker(Options{System: "pbx"})
		for _, ev := range evs {
			tr.Handle(ev)
		}
		after := heap()
		if tr.Live() != calls {
			b.Fatalf("live calls %d, want %d", tr.Live(), calls)
		}
		perCall = float64(after-before) / calls
		runtime.KeepAlive(tr)

		// Baseline: the records alone.
		before = heap()
		records := make([]cdr.Record, 0, calls)
		tr = NewTracker(Options{System: "pbx"})
		for _, ev := range evs {
			for _, e := range tr.Handle(ev) {
				if e.Type == cdr.TypeCallAnswered {
					records = append(records, e.Record)
				}
			}
		}
		tr = nil
		after = heap()
		if len(records) != calls {
			b.Fatalf("call.answered records %d, want %d", len(records), calls)
		}
		perRecord = float64(after-before) / calls
		runtime.KeepAlive(records)
	}
	b.ReportMetric(perCall, "B/call")
	b.ReportMetric(perRecord, "record_B/call")
	b.ReportMetric(perCall/perRecord, "state/record")
}
