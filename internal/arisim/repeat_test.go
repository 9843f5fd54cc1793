package arisim

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest/ari"
)

// ended runs events through the ARI tracker and returns its call.ended records.
func ended(t *testing.T, events [][]byte) []*cdr.Call {
	t.Helper()
	var out []*cdr.Call
	err := ari.ReadRecording(context.Background(), bytes.NewReader(bytes.Join(events, []byte("\n"))), ari.Options{System: "pbx"},
		func(e cdr.Event) error {
			if c, ok := e.Record.(*cdr.Call); ok && e.Type == cdr.TypeCallEnded {
				out = append(out, c)
			}
			return nil
		}, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRepeat replays three rounds of the recording through the tracker:
// every round gives the same calls as the recording alone (same numbers,
// times shifted by the round's offset) under ids no other round uses.
func TestRepeat(t *testing.T) {
	evs := load(t)
	const rounds = 3
	rep, err := Repeat(evs, rounds)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != rounds*len(evs) {
		t.Fatalf("len = %d, want %d", len(rep), rounds*len(evs))
	}
	for i := range evs {
		if !bytes.Equal(rep[i], evs[i]) {
			t.Fatalf("round 0 event %d changed", i)
		}
	}
	// The recording spans 06:30:25.465 to 06:32:52.157: 146 s, so S = 148 s.
	const step = 148 * time.Second
	if got, want := eventTime(rep[len(evs)]), eventTime(evs[0]).Add(step); !got.Equal(want) {
		t.Errorf("round 1 starts at %v, want %v", got, want)
	}
	once := ended(t, evs)
	all := ended(t, rep)
	if len(once) < 10 || len(all) != rounds*len(once) {
		t.Fatalf("call.ended: %d for one round, %d for %d rounds", len(once), len(all), rounds)
	}
	ids := map[string]bool{}
	for i, c := range all {
		if ids[c.ID] {
			t.Errorf("call id %s repeats", c.ID)
		}
		ids[c.ID] = true
		r, w := i/len(once), once[i%len(once)]
		shift := time.Duration(r) * step
		if c.Disposition != w.Disposition || c.Duration != w.Duration || c.Billsec != w.Billsec ||
			c.Caller != w.Caller || c.Callee != w.Callee || !c.StartedAt.Equal(w.StartedAt.Add(shift)) || len(c.Legs) != len(w.Legs) {
			t.Errorf("round %d call %d = %+v, want %+v shifted by %v", r, i%len(once), c, w, shift)
		}
	}
	if _, err := Repeat([][]byte{[]byte(`{"type":"X"}`)}, 2); err == nil || !strings.Contains(err.Error(), "event 1: field timestamp") {
		t.Errorf("no timestamp: err = %v", err)
	}
}

// TestRate checks the fixed-rate replay and OnSend: 40 events at 200/s
// take at least 195 ms, are reported in order, each before it is read.
func TestRate(t *testing.T) {
	evs := Synthetic(40, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var (
		mu   sync.Mutex
		idx  []int
		when []time.Time
	)
	s := Start(Options{Username: "gw", Password: "gw", Events: evs, Rate: 200, Speed: 0.0001,
		OnSend: func(i int, at time.Time) { mu.Lock(); idx = append(idx, i); when = append(when, at); mu.Unlock() }})
	defer s.Close()
	ws := dial(t, s, "subscribeAll=true&app=x")
	defer ws.Close()
	for i := range evs {
		var m string
		if err := websocket.Message.Receive(ws, &m); err != nil {
			t.Fatal(err)
		}
		got := time.Now()
		mu.Lock()
		if len(idx) <= i || idx[i] != i || when[i].After(got) {
			t.Errorf("event %d read before OnSend reported it (reported %v)", i, idx)
		}
		mu.Unlock()
		if m != string(evs[i]) {
			t.Fatalf("event %d = %.60s", i, m)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if took := when[len(when)-1].Sub(when[0]); took < 195*time.Millisecond || took > 5*time.Second {
		t.Errorf("40 events at 200/s took %v, want about 195 ms", took)
	}
}
