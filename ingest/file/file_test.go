package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York on machines without zoneinfo

	"github.com/cdrgw/cdrgw/cdr"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// readAll reads input with opts and returns the events and the error
// messages, failing the test on a returned error.
func readAll(t testing.TB, input []byte, opts Options) ([]cdr.Event, []string) {
	t.Helper()
	var events []cdr.Event
	var errs []string
	err := Read(context.Background(), bytes.NewReader(input), opts,
		func(ev cdr.Event) error { events = append(events, ev); return nil },
		func(err error) {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("onErr got %T (%v), want *LineError", err, err)
			}
			errs = append(errs, err.Error())
		})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return events, errs
}

// render prints one event JSON per line, then the errors as "error: ..." lines.
func render(t testing.TB, events []cdr.Event, errs []string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, ev := range events {
		j, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("marshal %s: %v", ev.ID, err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	for _, e := range errs {
		b.WriteString("error: " + e + "\n")
	}
	return b.Bytes()
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s", path, i+1, g, w)
			}
		}
	}
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Format
		err  string
	}{
		{"teams", FormatTeams, ""},
		{"CSV", FormatCSV, ""},
		{" jsonl ", FormatJSONL, ""},
		{"", "", ""},
		{"auto", "", ""},
		{"xml", "", `input format "xml" is not one of teams, csv, jsonl, auto`},
	} {
		got, err := ParseFormat(tc.in)
		var msg string
		if err != nil {
			msg = err.Error()
		}
		if got != tc.want || msg != tc.err {
			t.Errorf("ParseFormat(%q) = %q, %q; want %q, %q", tc.in, got, msg, tc.want, tc.err)
		}
	}
}

func TestDetect(t *testing.T) {
	t.Parallel()
	event := `{"id":"evt_1","type":"call.ended","time":"2026-11-23T06:30:32Z","source":{"kind":"csv","name":"x"},"record":{"id":"csv:1"}}`
	for _, tc := range []struct {
		name string
		head string
		want Format
	}{
		{"empty", "", FormatCSV},
		{"master.csv", `"","+15550001001","2001","internal"`, FormatCSV},
		{"unquoted csv", `,1001,2001,internal`, FormatCSV},
		{"header csv", "accountcode,src,dst", FormatCSV},
		{"event line", event + "\n" + event, FormatJSONL},
		{"event with bom and blanks", "\xEF\xBB\xBF \n\t" + event, FormatJSONL},
		{"event array", "[\n " + event + "]", FormatJSONL},
		{"record before type", `{"record":{},"id":"x","type":"call.ended"}`, FormatJSONL},
		{"cut after record key", `{"id":"x","type":"call.ended","source":{"kind":"csv"},"record":{"id":"csv:1","caller":{"num`, FormatJSONL},
		{"teams object", `{"CallId":"abc","QueueId":"q1","QueueName":"Support"}`, FormatTeams},
		{"teams array", `[{"CallId":"abc","Type":"App.QueueWebhook","IvrId":"i"}]`, FormatTeams},
		{"teams with nested type and record", `{"CallId":"abc","Meta":{"type":"x","record":1}}`, FormatTeams},
		{"type only", `{"type":"call.ended","id":"x"}`, FormatTeams},
		{"array of non-objects", `[1,2,3]`, FormatTeams},
		{"empty array", `[]`, FormatTeams},
		{"broken json", `{"type":`, FormatTeams},
	} {
		if got := Detect([]byte(tc.head)); got != tc.want {
			t.Errorf("%s: Detect = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLineErrorFormat(t *testing.T) {
	t.Parallel()
	inner := errors.New("start: bad")
	for _, tc := range []struct {
		e    LineError
		want string
	}{
		{LineError{File: "calls.csv", Line: 12, Err: inner}, "calls.csv:12: start: bad"},
		{LineError{File: "q.json", Line: 3, Record: true, Err: inner}, "q.json: record 3: start: bad"},
		{LineError{Line: 4, Err: inner}, "line 4: start: bad"},
		{LineError{Line: 2, Record: true, Err: inner}, "record 2: start: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(&tc.e, inner) {
			t.Errorf("%q does not unwrap to the inner error", tc.want)
		}
	}
}

// TestReadDetects checks that Read with no format picks the right reader.
func TestReadDetects(t *testing.T) {
	t.Parallel()
	csvIn, err := os.ReadFile(filepath.Join("testdata", "master.csv"))
	if err != nil {
		t.Fatal(err)
	}
	events, errs := readAll(t, csvIn, Options{Location: time.UTC, Name: "Master.csv"})
	if len(errs) != 0 || len(events) != 34 {
		t.Fatalf("detected csv: %d events, errors %q; want 34, none", len(events), errs)
	}
	lines := render(t, events, nil)
	back, errs := readAll(t, lines, Options{Name: "events.jsonl"})
	if len(errs) != 0 || len(back) != 34 {
		t.Fatalf("detected jsonl: %d events, errors %q; want 34, none", len(back), errs)
	}
}

func TestReadCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, f := range []Format{FormatCSV, FormatJSONL, ""} {
		err := Read(ctx, strings.NewReader(""), Options{Format: f}, func(cdr.Event) error { return nil }, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("format %q: Read = %v, want context.Canceled", f, err)
		}
	}
}

func TestReadEmitError(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "master.csv"))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("sink down")
	n := 0
	err = Read(context.Background(), bytes.NewReader(in), Options{Location: time.UTC},
		func(cdr.Event) error { n++; return stop }, nil)
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Read = %v after %d events, want %v after 1", err, n, stop)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadIOError(t *testing.T) {
	t.Parallel()
	for _, f := range []Format{FormatCSV, FormatJSONL, ""} {
		err := Read(context.Background(), failingReader{}, Options{Format: f, Name: "x.csv"}, func(cdr.Event) error { return nil }, nil)
		if err == nil || err.Error() != "read x.csv: disk on fire" {
			t.Errorf("format %q: Read = %v, want read x.csv: disk on fire", f, err)
		}
	}
}
