package cdr_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// utcTimes sets every time.Time reachable from v to UTC, so events that
// differ only in how an instant's zone is represented compare equal.
func utcTimes(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			utcTimes(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				utcTimes(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			utcTimes(v.Index(i))
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

// FuzzEventJSON decodes arbitrary bytes as an event. Decoding and validating
// must never panic, and an event that decodes and validates must survive a
// re-encode: the second decode is valid, equal to the first (times compared
// as instants) and encodes to the same bytes.
func FuzzEventJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"id":"e","type":"App.QueueWebhook","time":"2024-03-01T11:00:00+02:00","source":{"kind":"teams","name":"t"},"record":{"id":"q","kind":"queue","source":{"kind":"teams"},"direction":"inbound","started_at":"2024-03-01T11:00:00+00:00","met_service_level":null}}`,
		`{"id":"e","type":"ivr.ended","time":"2024-03-01T11:00:00Z","source":{"kind":"teams"},"record":{"id":"i","kind":"ivr","source":{"kind":"teams"},"direction":"unknown","started_at":"2024-03-01T11:00:00.123456789-05:30","data_values":["","","","","","","","","","","","","","","","","","","",""],"inputs":[null]}}`,
		`{"id":"e","type":"call.ended","time":"2024-03-01T11:00:00Z","source":{"kind":"ari"},"record":{"id":"c","kind":"call","source":{"kind":"ari"},"direction":"inbound","started_at":"2024-03-01T11:00:00Z","custom":{"a":"\u0000\ud800"},"legs":[]}}`,
		`{"type":"test","record":null}`,
		`{"type":"source.connected","record":{"kind":"source"}}`,
		`null`, `[]`, `{}`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e1 cdr.Event
		if json.Unmarshal(data, &e1) != nil {
			return
		}
		if e1.Validate() != nil {
			return
		}
		b1, err := json.Marshal(e1)
		if err != nil {
			t.Fatalf("valid event does not encode: %v\n%#v", err, e1)
		}
		var e2 cdr.Event
		if err := json.Unmarshal(b1, &e2); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, b1)
		}
		if err := e2.Validate(); err != nil {
			t.Fatalf("re-decoded event invalid: %v\n%s", err, b1)
		}
		b2, err := json.Marshal(e2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b1, b2)
		}
		utcTimes(reflect.ValueOf(&e1))
		utcTimes(reflect.ValueOf(&e2))
		if !reflect.DeepEqual(e1, e2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", e1, e2)
		}
	})
}

func benchEvents(b *testing.B) []goldenEvent {
	b.Helper()
	var out []goldenEvent
	for _, g := range goldenEvents() {
		switch g.file {
		case "call.ended-answered.json", "queue.ended-met.json", "ivr.ended.json":
			out = append(out, g)
		}
	}
	return out
}

func BenchmarkEventMarshal(b *testing.B) {
	for _, g := range benchEvents(b) {
		b.Run(string(g.event.Type), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(g.event); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEventUnmarshal(b *testing.B) {
	for _, g := range benchEvents(b) {
		data, err := json.Marshal(g.event)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(g.event.Type), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var e cdr.Event
				if err := json.Unmarshal(data, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEventValidate(b *testing.B) {
	for _, g := range benchEvents(b) {
		b.Run(string(g.event.Type), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := g.event.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEventID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = cdr.EventID(cdr.TypeCallEnded, "ari:pbx1:1700000000.1")
	}
}
