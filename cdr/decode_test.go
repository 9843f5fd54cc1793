package cdr

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// decodeSeeds are inputs that reach the fast decoder's corners: nulls in
// every kind of field, escapes, repeated members, case-folded keys, numbers
// encoding/json refuses for an int, a record before its type.
var decodeSeeds = []string{
	`{"record":{"id":"q","kind":"queue","source":{"kind":"teams"},"direction":"inbound","started_at":"2024-03-01T11:00:00+00:00"},"type":"queue.ended","id":"e","time":"2024-03-01T11:00:00+02:00","source":{"kind":"teams","name":"t"}}`,
	`{"id":"e","type":"App.QueueWebhook","time":"2024-03-01T11:00:00+02:00","source":{"kind":"teams","name":"t"},"record":{"id":"q","kind":"queue","source":{"kind":"teams"},"direction":"inbound","started_at":"2024-03-01T11:00:00+00:00","met_service_level":null,"ended_at":null,"custom":null,"wait":null,"agent":null}}`,
	`{"id":"e","type":"ivr.ended","time":"2024-03-01T11:00:00Z","source":{"kind":"teams"},"record":{"id":"i","kind":"ivr","source":{"kind":"teams"},"direction":"unknown","started_at":"2024-03-01T11:00:00.123456789-05:30","data_values":["","","","","","","","","","","","","","","","","","","",""],"inputs":[null,{"at":null},{"at":"2024-03-01T11:00:00Z","value":"1"}]}}`,
	`{"id":"e","type":"ivr.ended","time":"2024-03-01T11:00:00Z","source":{"kind":"teams"},"record":{"data_values":null,"data_values":["a",null],"inputs":[],"data_values":[]}}`,
	`{"id":"e","type":"call.ended","time":"2024-03-01T11:00:00Z","source":{"kind":"ari"},"record":{"id":"c","kind":"call","source":{"kind":"ari"},"direction":"inbound","started_at":"2024-03-01T11:00:00Z","custom":{"a":"\u0000\ud800","b":null,"a":"x"},"custom":{"c":"d"},"legs":[]}}`,
	`{"id":"e","type":"call.ended","time":"2024-03-01T11:00:00Z","source":{"kind":"ari"},"record":{"legs":[{"channel":"x","answered_at":"2024-03-01T11:00:00Z"},null],"legs":[{}],"hangup":{"cause":16,"sip_code":-0,"initiator":"caller"},"duration":1.0}}`,
	`{"id":"e","type":"call.ended","time":"2024-03-01T11:00:00Z","source":{"kind":"ari"},"record":{"duration":1e3,"billsec":9223372036854775808}}`,
	`{"ID":"e","Type":"call.started","record":{"ID":"x","ſource":{"kind":"k"}}}`,
	`{"id":"\u0065\n","type":"call.started","time":"2024-03-01T11:00:00Z","source":{"kind":"a\u00e9","name":"\xff"},"record":{"id":"x","caller":{"number":"+1 \"2\""},"x":[1,{"y":[true,false,null]}]}}`,
	`{"id":"e","type":"source.connected","time":"2024-03-01T11:00:00Z","source":{"kind":"cdrgw"},"record":{"id":"s","kind":"source","source":{"kind":"ari","name":"p"},"status":"connected","at":"2024-03-01T11:00:00Z","error":""}}`,
	`{"id":"e","type":"webhook.failing","time":"2024-03-01T11:00:00Z","source":{"kind":"cdrgw"},"record":{"id":"w","kind":"webhook","webhook":"crm","at":"2024-03-01T11:00:00Z","consecutive_failures":5,"last_status":500,"paused":true,"paused":null}}`,
	`{"id":"e","type":"test","time":"2024-03-01T11:00:00Z","record":{"met_service_level":true,"met_service_level":false,"started_at":null,"started_at":1}}`,
	`{"type":"test","record":null}`, `{"type":"test","record":[]}`, `{"type":"nope","record":{}}`, `{"type":"test"}`,
	`{"type":"test","record":{}} x`, ` {"type":"test","record":{}} `, `{"type":"test","record":{},}`,
	`null`, `[]`, `{}`, `"x"`, `{"type":"test","record":{"time":"2024-13-01T00:00:00Z"}}`,
}

// FuzzDecodeFast checks the one-pass decoder against encoding/json
// (decodeStd): whatever the fast decoder accepts, encoding/json decodes
// without error to an equal event; and UnmarshalJSON fails exactly when
// decodeStd does.
func FuzzDecodeFast(f *testing.F) {
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
		var ref Event
		refErr := ref.decodeStd(data)
		var fast Event
		if decodeEventFast(data, &fast) {
			if refErr != nil {
				t.Fatalf("fast decoder accepts what encoding/json refuses (%v):\n%s", refErr, data)
			}
			if !reflect.DeepEqual(fast, ref) {
				t.Fatalf("decoders differ on\n%s\nfast: %#v\nstd:  %#v", data, fast, ref)
			}
		}
		var e Event
		if err := e.UnmarshalJSON(data); (err != nil) != (refErr != nil) {
			t.Fatalf("UnmarshalJSON error %v, encoding/json error %v", err, refErr)
		}
	})
}

// TestDecodeFastTakesStoredEvents checks that the fast decoder, not the
// fallback, decodes what cdrgw stores: the golden events and their
// re-encodings (json.Marshal of a decoded event, as the stores write).
func TestDecodeFastTakesStoredEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var ref Event
		if err := ref.decodeStd(data); err != nil {
			continue // not an event file
		}
		enc, err := json.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range [][]byte{data, enc} {
			var got Event
			if !decodeEventFast(in, &got) {
				t.Errorf("%s: fast decoder falls back on\n%s", filepath.Base(p), in)
				continue
			}
			if !reflect.DeepEqual(got, ref) {
				t.Errorf("%s: fast decoder gives\n%#v\nwant\n%#v", filepath.Base(p), got, ref)
			}
		}
	}
}

// TestDecodeFastFallsBack lists inputs the fast decoder must leave to
// encoding/json, for the case-insensitive keys and the errors.
func TestDecodeFastFallsBack(t *testing.T) {
	for _, s := range []string{
		`{"ID":"e","type":"test","time":"2024-03-01T11:00:00Z","record":{}}`,
		`{"id":"e","type":"test","record":{"Wait":1}}`,
		`{"type":"test","record":null}`,
		`{"type":"test","record":{"wait":1.5}}`,
		`{"type":"test","record":{}} x`,
	} {
		var e Event
		if decodeEventFast([]byte(s), &e) {
			t.Errorf("fast decoder took %s", s)
		}
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.json"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		var e Event
		if e.decodeStd(data) != nil {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		switch name {
		case "call.ended-answered", "queue.ended-met", "ivr.ended":
		default:
			continue
		}
		for _, dec := range []struct {
			name string
			f    func(*Event, []byte) error
		}{
			{"std", (*Event).decodeStd},
			{"fast", (*Event).UnmarshalJSON},
		} {
			b.Run(name+"/"+dec.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					var e Event
					if err := dec.f(&e, data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
