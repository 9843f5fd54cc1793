package ari

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// sameDecode decodes b with the fast decoder and with encoding/json alone
// and fails unless both give the same Event, or the same error.
func sameDecode(t *testing.T, b []byte) {
	t.Helper()
	fast, ferr := decodeEvent(b, true)
	std, serr := decodeEvent(b, false)
	if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
		t.Fatalf("%q: fast error %v, encoding/json error %v", b, ferr, serr)
	}
	if !reflect.DeepEqual(fast, std) {
		t.Fatalf("%q:\nfast          %+v\nencoding/json %+v", b, fast, std)
	}
}

// decodeCases are inputs the fast decoder must decode itself (fast) or
// leave to encoding/json, with the same result either way.
var decodeCases = []struct {
	name string
	in   string
	fast bool // the fast decoder handles it without falling back
}{
	{"minimal", `{"type":"X","timestamp":"2026-11-23T06:30:25.465+0000"}`, true},
	{"whitespace", " \t\r\n{ \"type\" : \"X\" , \"timestamp\" : \"2026-11-23T06:30:25.465+0000\" }\n", true},
	{"unknown members skipped", `{"type":"X","a":[1,-2.5e3,{"b":[]},true,false,null,"\u00e9"],"timestamp":"2026-11-23T06:30:25Z"}`, true},
	{"utf-8 string", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","channel":{"caller":{"name":"Zoë 名前"}}}`, true},
	{"escaped string", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","value":"a\"b\\c\/\u00e9\ud83d\ude00"}`, true},
	{"invalid utf-8 repaired", "{\"type\":\"X\",\"timestamp\":\"2026-11-23T06:30:25Z\",\"value\":\"a\xffb\"}", true},
	{"lone surrogate repaired", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","value":"\ud800"}`, true},
	{"channelvars raw", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","channel":{"channelvars":{"A":"1"}}}`, true},
	{"channelvars null", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","channel":{"channelvars":null}}`, true},
	{"channelvars string", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","channel":{"channelvars":"x"}}`, true},
	{"numbers and bool", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","cause":-16,"soft":true,"channel":{"dialplan":{"priority":0}}}`, true},
	{"bridge", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","bridge":{"id":"b1","channels":["a","b"]}}`, true},
	{"dial", `{"type":"Dial","timestamp":"2026-11-23T06:30:25Z","caller":{"id":"1"},"peer":{"id":"2"},"dialstatus":"ANSWER","dialstring":"PJSIP/1"}`, true},

	{"null channel", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","channel":null}`, false},
	{"null string", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","value":null}`, false},
	{"duplicate field", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","type":"Y"}`, false},
	{"duplicate channel merges", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","channel":{"id":"1"},"channel":{"name":"n"}}`, false},
	{"case-folded key", `{"Type":"X","timestamp":"2026-11-23T06:30:25Z"}`, false},
	{"escaped key", `{"typ\u0065":"X","timestamp":"2026-11-23T06:30:25Z"}`, false},
	{"kelvin sign key", "{\"type\":\"X\",\"timestamp\":\"2026-11-23T06:30:25Z\",\"channel\":{\"\u212a\":1}}", false},
	{"float cause", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","cause":1.5}`, false},
	{"exponent cause", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","cause":1e2}`, false},
	{"huge priority", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","channel":{"dialplan":{"priority":99999999999999999999}}}`, false},
	{"string cause", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","cause":"16"}`, false},
	{"number type", `{"type":5,"timestamp":"2026-11-23T06:30:25Z"}`, false},
	{"trailing comma", `{"type":"X","timestamp":"2026-11-23T06:30:25Z",}`, false},
	{"trailing data", `{"type":"X","timestamp":"2026-11-23T06:30:25Z"} x`, false},
	{"leading zero", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","cause":01}`, false},
	{"bad escape", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","a":"\x"}`, false},
	{"control byte", "{\"type\":\"X\",\"timestamp\":\"2026-11-23T06:30:25Z\",\"a\":\"\x01\"}", false},
	{"deep nesting", `{"type":"X","timestamp":"2026-11-23T06:30:25Z","a":` + string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)) + `}`, false},
	{"array", `[]`, false},
	{"null", `null`, false},
	{"empty", ``, false},
	{"no type", `{"timestamp":"2026-11-23T06:30:25Z"}`, true},
	{"bad time", `{"type":"X","timestamp":"2026-02-31T00:00:00.000+0000"}`, true},
}

func TestDecodeFastMatchesEncodingJSON(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeFast([]byte(tc.in), new(Event)); got != tc.fast {
				t.Errorf("decodeFast handled it: %v, want %v", got, tc.fast)
			}
			sameDecode(t, []byte(tc.in))
		})
	}
}

// TestDecodeFastRecording checks every line of the recording decodes the
// same both ways, and without falling back to encoding/json.
func TestDecodeFastRecording(t *testing.T) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	for i, l := range lines {
		if !decodeFast(l, new(Event)) {
			t.Errorf("line %d: fast decoder fell back to encoding/json", i+1)
		}
		sameDecode(t, l)
	}
}

// FuzzFastDecode holds the fast decoder to encoding/json's result on any
// input.
func FuzzFastDecode(f *testing.F) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for i, l := range bytes.Split(data, []byte("\n")) {
		if i%25 == 0 {
			f.Add(l)
		}
	}
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameDecode(t, b)
	})
}

// TestDecodeFastCopies checks a decoded event does not share memory with
// its input (the fast decoder reads the input through an unsafe view): the
// caller may reuse its buffer.
func TestDecodeFastCopies(t *testing.T) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		buf := bytes.Clone(l)
		ev, err := DecodeEvent(buf)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		for j := range buf {
			buf[j] = 'x'
		}
		want, err := decodeEvent(l, false)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if !reflect.DeepEqual(ev, want) {
			t.Fatalf("line %d: event changed with its input buffer:\n got %+v\nwant %+v", i+1, ev, want)
		}
	}
}

// BenchmarkDecodeEvent decodes the recording's lines with the fast decoder
// and with encoding/json alone: the figure is events per second on one core.
func BenchmarkDecodeEvent(b *testing.B) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	for _, bc := range []struct {
		name string
		fast bool
	}{{"fast", true}, {"encoding-json", false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for _, l := range lines {
					if _, err := decodeEvent(l, bc.fast); err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
