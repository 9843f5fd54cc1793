package ari

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

func FuzzDecodeEvent(f *testing.F) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for i, l := range bytes.Split(data, []byte("\n")) {
		if i%40 == 0 {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"type":"X","timestamp":"2026-02-31T00:00:00.000+0000"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err == nil && ev.At.IsZero() {
			t.Fatal("decoded event without time")
		}
	})
}

// FuzzTracker feeds the recording's events in an order, with duplicates and
// gaps, chosen by the fuzzer: the tracker must not panic, must emit only
// valid events, and after Flush past max_call_duration must hold no call.
func FuzzTracker(f *testing.F) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	var evs []*Event
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		ev, err := DecodeEvent(l)
		if err != nil {
			f.Fatal(err)
		}
		evs = append(evs, ev)
	}
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, uint16(0))
	f.Add([]byte{200, 3, 3, 3, 17, 250, 90, 91, 92}, uint16(300))
	f.Add(bytes.Repeat([]byte{1}, 64), uint16(900))
	f.Fuzz(func(t *testing.T, script []byte, start uint16) {
		tr := NewTracker(Options{System: "pbx", MaxCallDuration: time.Hour, IVRVariables: []string{"IVR_CHOICE"}, KeepVariables: []string{"SCENARIO"}})
		started := map[string]bool{}
		check := func(out []cdr.Event) {
			for _, e := range out {
				if err := e.Validate(); err != nil {
					t.Fatalf("invalid %s: %v", e.Type, err)
				}
				switch e.Type {
				case cdr.TypeCallStarted:
					started[e.Record.RecordID()] = true
				case cdr.TypeCallEnded:
					delete(started, e.Record.RecordID())
				}
			}
		}
		// Each script byte picks the next event: a step forward (0-199),
		// a jump back (duplicates, 200-239) or a skip (missing events, 240+).
		i := int(start) % len(evs)
		for _, b := range script {
			switch {
			case b < 200:
				i += int(b%8) + 1
			case b < 240:
				i -= int(b - 199)
			default:
				i += int(b-239) * 7
			}
			i = ((i % len(evs)) + len(evs)) % len(evs)
			check(tr.Handle(evs[i]))
		}
		check(tr.Flush(evs[len(evs)-1].At.Add(2 * time.Hour)))
		if tr.Live() != 0 || len(started) != 0 {
			t.Fatalf("after Flush: %d live calls, %d started calls never ended", tr.Live(), len(started))
		}
	})
}
