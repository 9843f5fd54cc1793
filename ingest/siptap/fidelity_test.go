package siptap

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// truth is one line of testdata/ground-truth.jsonl (see the README of the
// SIP lab recordings).
type truth struct {
	CallID   string `json:"call_id"`
	Scenario string `json:"scenario"`
	Caller   struct {
		Number string `json:"number"`
		Name   string `json:"name"`
	} `json:"caller"`
	Callee struct {
		Number string `json:"number"`
	} `json:"callee"`
	StartedAt   float64  `json:"started_at"`
	AnsweredAt  *float64 `json:"answered_at"`
	EndedAt     float64  `json:"ended_at"`
	Disposition string   `json:"disposition"`
	SIPCode     int      `json:"sip_code"`
	Initiator   string   `json:"initiator"`
	Q850Cause   *int     `json:"q850_cause"`
}

func loadTruth(t testing.TB) map[string]truth {
	t.Helper()
	f, err := os.Open("testdata/ground-truth.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]truth{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var tr truth
		if err := json.Unmarshal(sc.Bytes(), &tr); err != nil {
			t.Fatalf("ground truth: %v", err)
		}
		out[tr.CallID] = tr
	}
	if len(out) == 0 {
		t.Fatal("empty ground truth")
	}
	return out
}

// openGz opens a gzipped recording under testdata.
func openGz(t testing.TB, name string) io.Reader {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

// collect runs read and returns the events and the bad-packet errors.
func collect(t testing.TB, read func(emit func(cdr.Event) error, onErr func(error)) error) ([]cdr.Event, []error) {
	t.Helper()
	var evs []cdr.Event
	var bad []error
	err := read(func(e cdr.Event) error {
		if err := e.Validate(); err != nil {
			t.Errorf("event %s %s: %v", e.Type, e.Record.RecordID(), err)
		}
		evs = append(evs, e)
		return nil
	}, func(err error) { bad = append(bad, err) })
	if err != nil {
		t.Fatal(err)
	}
	return evs, bad
}

func unix(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC()
}

func near(a time.Time, b float64) bool {
	d := a.Sub(unix(b))
	return d <= time.Millisecond && d >= -time.Millisecond
}

// compareTruth fails on any call whose record differs from the ground truth.
func compareTruth(t *testing.T, evs []cdr.Event) {
	t.Helper()
	want := loadTruth(t)
	ended := map[string]*cdr.Call{}
	moments := map[string]map[cdr.Type]int{}
	for _, e := range evs {
		c := e.Record.(*cdr.Call)
		if moments[c.CallID] == nil {
			moments[c.CallID] = map[cdr.Type]int{}
		}
		moments[c.CallID][e.Type]++
		if e.Type == cdr.TypeCallEnded {
			ended[c.CallID] = c
		}
	}
	for id, m := range moments {
		if m[cdr.TypeCallStarted] != 1 || m[cdr.TypeCallEnded] != 1 || m[cdr.TypeCallAnswered] > 1 {
			t.Errorf("%s: moments %v, want one call.started, at most one call.answered, one call.ended", id, m)
		}
	}
	if len(ended) != len(want) {
		t.Errorf("got %d ended calls, ground truth has %d", len(ended), len(want))
	}
	for id, w := range want {
		c := ended[id]
		if c == nil {
			t.Errorf("%s (%s): no call.ended", id, w.Scenario)
			continue
		}
		errf := func(field string, got, want any) {
			t.Errorf("%s (%s): %s = %v, want %v", id, w.Scenario, field, got, want)
		}
		if string(c.Disposition) != w.Disposition {
			errf("disposition", c.Disposition, w.Disposition)
		}
		if c.Hangup.SIPCode != w.SIPCode {
			errf("hangup.sip_code", c.Hangup.SIPCode, w.SIPCode)
		}
		if string(c.Hangup.Initiator) != w.Initiator {
			errf("hangup.initiator", c.Hangup.Initiator, w.Initiator)
		}
		if !near(c.StartedAt, w.StartedAt) {
			errf("started_at", c.StartedAt.Format(time.RFC3339Nano), unix(w.StartedAt).Format(time.RFC3339Nano))
		}
		if !near(*c.EndedAt, w.EndedAt) {
			errf("ended_at", c.EndedAt.Format(time.RFC3339Nano), unix(w.EndedAt).Format(time.RFC3339Nano))
		}
		switch {
		case w.AnsweredAt == nil && c.AnsweredAt != nil:
			errf("answered_at", c.AnsweredAt, nil)
		case w.AnsweredAt != nil && (c.AnsweredAt == nil || !near(*c.AnsweredAt, *w.AnsweredAt)):
			errf("answered_at", c.AnsweredAt, unix(*w.AnsweredAt).Format(time.RFC3339Nano))
		}
		wantCause := 0
		if w.Q850Cause != nil {
			wantCause = *w.Q850Cause
		}
		if c.Hangup.Cause != wantCause {
			errf("hangup.cause", c.Hangup.Cause, wantCause)
		}
		if c.Caller.Number != w.Caller.Number || c.Caller.Name != w.Caller.Name {
			errf("caller", c.Caller, w.Caller)
		}
		if c.Callee.Number != w.Callee.Number {
			errf("callee.number", c.Callee.Number, w.Callee.Number)
		}
		if c.Custom["incomplete"] != "" {
			errf("custom.incomplete", c.Custom["incomplete"], "")
		}
	}
}

func TestReadHEPGroundTruth(t *testing.T) {
	t.Parallel()
	evs, bad := collect(t, func(emit func(cdr.Event) error, onErr func(error)) error {
		return ReadHEP(context.Background(), openGz(t, "hep3.bin.gz"), Options{Source: cdr.SourceRef{Kind: "hep", Name: "lab"}}, emit, onErr)
	})
	if len(bad) != 0 {
		t.Errorf("bad packets: %v", bad)
	}
	compareTruth(t, evs)
}

func TestReadPcapGroundTruth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode PcapMode
	}{{"auto", PcapAuto}, {"sip", PcapSIP}, {"hep", PcapHEP}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, bad := collect(t, func(emit func(cdr.Event) error, onErr func(error)) error {
				return ReadPcapMode(context.Background(), openGz(t, "capture.pcapng.gz"), Options{Source: cdr.SourceRef{Kind: "sip", Name: "lab"}}, tc.mode, emit, onErr)
			})
			for _, err := range bad {
				var be *BadPacketError
				if !errors.As(err, &be) {
					t.Errorf("bad packet error %v is not a *BadPacketError", err)
				}
			}
			if len(bad) != 0 {
				t.Errorf("bad packets: %v", bad)
			}
			compareTruth(t, evs)
		})
	}
}
