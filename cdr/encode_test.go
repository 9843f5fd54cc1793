package cdr

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// marshalStd encodes e the way encoding/json did before Event had a
// MarshalJSON: by reflection over the same fields and tags.
func marshalStd(e *Event) ([]byte, error) {
	return json.Marshal(struct {
		ID     string    `json:"id"`
		Type   Type      `json:"type"`
		Time   time.Time `json:"time"`
		Source SourceRef `json:"source"`
		Record Record    `json:"record"`
	}{e.ID, e.Type, e.Time, e.Source, e.Record})
}

// checkEncode checks that Event.MarshalJSON, json.Marshal of an Event and
// AppendEventJSON give marshalStd's bytes, or all fail when it fails.
func checkEncode(t *testing.T, e *Event) {
	t.Helper()
	want, wantErr := marshalStd(e)
	got, err := AppendEventJSON([]byte("prefix"), e)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendEventJSON error %v, encoding/json error %v", err, wantErr)
	}
	if wantErr != nil {
		if _, err := json.Marshal(e); err == nil {
			t.Fatalf("json.Marshal accepts an event encoding/json refused (%v)", wantErr)
		}
		return
	}
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("AppendEventJSON:\n%s\nwant\n%s", got, want)
	}
	for _, v := range []any{e, *e} {
		got, err := json.Marshal(v)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("json.Marshal(%T): %v\n%s\nwant\n%s", v, err, got, want)
		}
	}
}

// FuzzEncode decodes arbitrary events with encoding/json and checks the
// encoder against reflection on each.
func FuzzEncode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.json"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		if e.decodeStd(data) != nil {
			return
		}
		checkEncode(t, &e)
	})
}

// TestEncodeEdges covers what decoded events cannot hold: times out of
// JSON's range and in other zones, nil and foreign records, escapes.
func TestEncodeEdges(t *testing.T) {
	zone := time.FixedZone("X", 5*3600+30*60)
	at := time.Date(2024, 3, 1, 11, 0, 0, 123, zone)
	big := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	met := false
	for name, e := range map[string]Event{
		"nil record":     {ID: "e", Type: TypeTest, Time: at},
		"typed nil":      {ID: "e", Type: TypeCallEnded, Record: (*Call)(nil)},
		"foreign record": {ID: "e", Type: TypeTest, Record: foreignRecord{X: "<&>"}},
		"zone":           {ID: "e\u2028<x>\x01\xff", Type: TypeQueueEnded, Time: at, Record: &Queue{Base: Base{StartedAt: at, EndedAt: &at, Custom: map[string]string{"b": "1", "a": "\"\\"}}, MetServiceLevel: &met}},
		"year 10000":     {ID: "e", Type: TypeTest, Time: big, Record: &Queue{}},
		"leg year 10000": {ID: "e", Type: TypeCallEnded, Record: &Call{Legs: []Leg{{AnsweredAt: &big}}}},
		"input year":     {ID: "e", Type: TypeIVREnded, Record: &IVR{Inputs: []IVRInput{{At: &big}}, DataValues: []string{}}},
		"empty slices":   {ID: "e", Type: TypeCallEnded, Record: &Call{Legs: []Leg{}, Base: Base{Custom: map[string]string{}}}},
		"statuses":       {ID: "e", Type: TypeWebhookFailing, Record: &WebhookStatus{At: at, Paused: true, LastStatus: -1}},
		"source":         {ID: "e", Type: TypeSourceConnected, Record: &SourceStatus{At: big}},
	} {
		t.Run(name, func(t *testing.T) { checkEncode(t, &e) })
	}
}

type foreignRecord struct{ X string }

func (foreignRecord) RecordID() string { return "f" }
func (foreignRecord) RecordKind() Kind { return "foreign" }
func (foreignRecord) Key() string      { return "f" }
func (foreignRecord) Validate() error  { return nil }

func BenchmarkEncodeEvent(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.json"))
	for _, p := range files {
		name := filepath.Base(p)
		if name != "call.ended-answered.json" && name != "queue.ended-met.json" && name != "ivr.ended.json" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		var e Event
		if err := e.decodeStd(data); err != nil {
			b.Fatal(err)
		}
		for _, enc := range []struct {
			name string
			f    func(*Event) ([]byte, error)
		}{
			{"std", marshalStd},
			{"fast", func(e *Event) ([]byte, error) { return e.MarshalJSON() }},
		} {
			b.Run(name+"/"+enc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := enc.f(&e); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
