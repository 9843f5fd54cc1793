package file

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// sampleEvents returns events of every record kind: the real Master.csv
// calls plus hand-built queue, IVR and status records.
func sampleEvents(t testing.TB) []cdr.Event {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", "master.csv"))
	if err != nil {
		t.Fatal(err)
	}
	events, errs := readAll(t, in, Options{Format: FormatCSV, Location: time.UTC, Name: "Master.csv"})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	at := time.Date(2026, 11, 23, 6, 30, 0, 0, time.UTC)
	end := at.Add(90 * time.Second)
	yes := true
	teams := cdr.SourceRef{Kind: "teams", Name: "teams"}
	q := &cdr.Queue{
		Base: cdr.Base{ID: "teams:queue:c1", Kind: cdr.KindQueue, Source: teams, CallID: "c1", Direction: cdr.DirectionInbound,
			Caller:    cdr.Party{Number: "+15550001001", Name: "Alice", UserID: "u1", UPN: "alice@example.com"},
			StartedAt: at, EndedAt: &end, Custom: map[string]string{"Manager": "Bob"}},
		ScenarioID: "s1", Queue: cdr.Named{ID: "q1", Name: "Support"}, Agent: cdr.Agent{Name: "Agent One", ID: "a1"},
		CallLength: 90, Wait: 30, Talk: 60, MetServiceLevel: &yes, LeaveReason: "Answered",
		Transfer: cdr.Transfer{Type: "blind", ToID: "x", ToName: "Sales"},
	}
	ivr := &cdr.IVR{
		Base: cdr.Base{ID: "teams:ivr:c1", Kind: cdr.KindIVR, Source: teams, CallID: "c1", Direction: cdr.DirectionInbound,
			StartedAt: at, EndedAt: &end},
		IVR: cdr.Named{ID: "i1", Name: "Main"}, CallLength: 20,
		Inputs:     []cdr.IVRInput{{ID: "in1", At: &at, Block: "menu", BlockType: "Menu", Parameter: "choice", Value: "2"}},
		DataValues: make([]string, cdr.DataValueCount),
	}
	ivr.DataValues[6] = "seven"
	src := &cdr.SourceStatus{ID: "src:pbx1:1", Kind: cdr.KindSource, Source: cdr.SourceRef{Kind: "ari", Name: "pbx1"}, Status: "disconnected", At: at, Error: "EOF"}
	return append(events,
		cdr.NewEvent(cdr.TypeQueueEnded, end, teams, q),
		cdr.NewEvent(cdr.TypeIVREnded, end, teams, ivr),
		cdr.NewEvent(cdr.TypeSourceDisconnected, at, src.Source, src),
	)
}

func marshalLines(t testing.TB, events []cdr.Event) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, ev := range events {
		j, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJSONLRoundTrip(t *testing.T) {
	t.Parallel()
	want := sampleEvents(t)
	lines := marshalLines(t, want)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"lines", lines},
		{"crlf and blank lines", append([]byte("\r\n  \n"), bytes.ReplaceAll(lines, []byte("\n"), []byte("\r\n\n"))...)},
		{"no final newline", bytes.TrimSuffix(lines, []byte("\n"))},
		{"bom", append([]byte("\xEF\xBB\xBF"), lines...)},
		{"array", []byte("[" + strings.Join(strings.Split(strings.TrimSpace(string(lines)), "\n"), ",\n") + "]")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, f := range []Format{FormatJSONL, ""} {
				got, errs := readAll(t, tc.in, Options{Format: f, Name: "events.jsonl"})
				if len(errs) != 0 {
					t.Fatalf("format %q: errors %q", f, errs)
				}
				if !reflect.DeepEqual(got, want) {
					// The records must be equal field by field; show the first difference.
					for i := range min(len(got), len(want)) {
						if !reflect.DeepEqual(got[i], want[i]) {
							t.Fatalf("format %q: event %d differs:\n got %s\nwant %s", f, i, mustJSON(t, got[i]), mustJSON(t, want[i]))
						}
					}
					t.Fatalf("format %q: %d events, want %d", f, len(got), len(want))
				}
			}
		})
	}
}

func TestJSONLLongLine(t *testing.T) {
	t.Parallel()
	ev := sampleEvents(t)[0]
	c := ev.Record.(*cdr.Call)
	c.UserField = strings.Repeat("x", 300<<10) // longer than the 64 KiB read buffer
	in := marshalLines(t, []cdr.Event{ev, ev})
	got, errs := readAll(t, in, Options{Format: FormatJSONL})
	if len(errs) != 0 || len(got) != 2 || got[1].Record.(*cdr.Call).UserField != c.UserField {
		t.Fatalf("%d events, errors %q", len(got), errs)
	}
}

func TestJSONLErrors(t *testing.T) {
	t.Parallel()
	good := string(marshalLines(t, sampleEvents(t)[:1]))
	invalid := strings.Replace(good, `"started_at":"2026-11-23T06:30:25Z"`, `"started_at":"0001-01-01T00:00:00Z"`, 1)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not json", "hello\n", `e.jsonl:2: invalid character 'h' looking for beginning of value`},
		{"unknown type", `{"id":"x","type":"call.exploded","time":"2026-11-23T06:30:25Z","source":{"kind":"csv"},"record":{}}` + "\n", `e.jsonl:2: type: "call.exploded" is not a known event type`},
		{"no record", `{"id":"x","type":"call.ended","time":"2026-11-23T06:30:25Z","source":{"kind":"csv"}}` + "\n", `e.jsonl:2: record: is required`},
		{"invalid record", invalid, `e.jsonl:2: record.started_at: is required`},
		{"no time", strings.Replace(good, `"time":"2026-11-23T06:30:32Z",`, "", 1), `e.jsonl:2: time: is required`},
		{"truncated", good[:len(good)/2] + "\n", `e.jsonl:2: unexpected end of JSON input`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			events, errs := readAll(t, []byte(good+tc.in+good), Options{Format: FormatJSONL, Name: "e.jsonl"})
			if len(errs) != 1 || errs[0] != tc.want {
				t.Fatalf("errors %q, want [%q]", errs, tc.want)
			}
			if len(events) != 2 {
				t.Fatalf("%d events, want the 2 good lines", len(events))
			}
		})
	}
}

func TestJSONArrayErrors(t *testing.T) {
	t.Parallel()
	good := strings.TrimSpace(string(marshalLines(t, sampleEvents(t)[:1])))
	for _, tc := range []struct {
		name, in, want string
		events         int
	}{
		{"bad element", "[" + good + `,{"type":"call.ended"},` + good + "]", `a.json: record 1: record: is required`, 2},
		{"syntax error stops", "[" + good + `,{"type":` + "]", `a.json: record 1: invalid character ']' looking for beginning of value`, 1},
		{"truncated", "[" + good + ",", `a.json: record 1: unexpected EOF`, 1},
	} {
		events, errs := readAll(t, []byte(tc.in), Options{Format: FormatJSONL, Name: "a.json"})
		if len(errs) != 1 || errs[0] != tc.want || len(events) != tc.events {
			t.Errorf("%s: %d events, errors %q; want %d, [%q]", tc.name, len(events), errs, tc.events, tc.want)
		}
	}
}

func FuzzJSONL(f *testing.F) {
	lines := marshalLines(f, sampleEvents(f))
	f.Add(lines)
	for _, l := range bytes.SplitAfter(lines, []byte("\n"))[30:] {
		f.Add(l)
	}
	f.Add([]byte("[" + strings.Join(strings.Split(strings.TrimSpace(string(lines)), "\n")[:2], ",") + "]"))
	f.Add([]byte(`{"id":"x","type":"test","time":"2026-11-23T06:30:25Z","source":{"kind":"k"},"record":{"data_values":null}}`))
	f.Add([]byte("\n\n{}\n[]\nnull\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		err := Read(context.Background(), bytes.NewReader(in), Options{Format: FormatJSONL, Name: "f.jsonl"},
			func(ev cdr.Event) error {
				if err := ev.Validate(); err != nil {
					t.Fatalf("emitted an invalid event: %v", err)
				}
				if _, err := json.Marshal(ev); err != nil {
					t.Fatalf("emitted an event that does not marshal: %v", err)
				}
				return nil
			},
			func(err error) {
				if _, ok := err.(*LineError); !ok {
					t.Fatalf("onErr got %T", err)
				}
			})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		// Detect must not panic on any head either.
		_ = Detect(in)
	})
}

func BenchmarkJSONL(b *testing.B) {
	lines := marshalLines(b, sampleEvents(b))
	data := bytes.Repeat(lines, 100)
	n := bytes.Count(data, []byte("\n"))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	total := 0
	for b.Loop() {
		if err := Read(context.Background(), bytes.NewReader(data), Options{Format: FormatJSONL},
			func(cdr.Event) error { total++; return nil }, func(err error) { b.Fatal(err) }); err != nil {
			b.Fatal(err)
		}
	}
	if total != n*b.N {
		b.Fatalf("%d events, want %d", total, n*b.N)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}
