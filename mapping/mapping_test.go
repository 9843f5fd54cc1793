package mapping

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// crmSpec is the webhook of DESIGN.md §4, extended to show every kind of value.
func crmSpec(encoding string) Spec {
	return Spec{
		Name:          "crm",
		URL:           "https://crm.example.com/api/calls?src=cdrgw",
		Events:        []cdr.Type{cdr.TypeQueueEnded, cdr.TypeTest},
		When:          `record.wait > 30 || record.agent.name == ""`,
		Method:        "POST",
		Encoding:      encoding,
		DateFormat:    "%Y-%m-%d %H:%M:%S",
		Timezone:      "Europe/Kyiv",
		HangupCauses:  map[string]string{"busy": "Busy", "no_answer": "No Answer", "answered": "Answered"},
		XMLRoot:       "call",
		JSONRPCMethod: "calls.add",
		Params: []Param{
			{"uniqueid", "record.call_id"},
			{"src", "record.caller.number"},
			{"queue", "record.queue.name"},
			{"start_at", "date(record.started_at)"},
			{"status", "cause(record.leave_reason)"},
			{"caller.name", "record.caller.name"},
			{"caller.number", "record.caller.number"},
			{"ended_at", "record.ended_at"},
			{"wait", "record.wait"},
			{"met_sla", "record.met_service_level"},
			{"callback", "record.callback_request_id == \"\" ? nil : record.callback_request_id"},
			{"note", `"<b>&'\"" + record.custom.Priority`},
			{"agent", "record.agent"},
		},
		Headers: []Param{
			{"X-Manager", `record.custom.Manager ?? ""`},
			{"X-Event", "event.type"},
		},
	}
}

// requestText is the HTTP/1.1 text of r: request line, headers sorted, a
// blank line and the body.
func requestText(t *testing.T, r *Request) string {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatalf("rendered URL %q does not parse: %v", r.URL, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\nHost: %s\n", r.Method, u.RequestURI(), u.Host)
	var lines []string
	for k, vs := range r.Header {
		for _, v := range vs {
			lines = append(lines, k+": "+v)
		}
	}
	if r.Body != nil {
		lines = append(lines, fmt.Sprintf("Content-Length: %d", len(r.Body)))
	}
	slices.Sort(lines)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	b.Write(r.Body)
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func mustCompile(t testing.TB, s Spec) *Webhook {
	t.Helper()
	w, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return w
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{EncodingQuery, EncodingForm, EncodingJSON, EncodingXML, EncodingJSONRPC} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			w := mustCompile(t, crmSpec(enc))
			r, err := w.Render(SampleEvent(cdr.TypeQueueEnded), "dlv_0123456789")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, enc+".golden", requestText(t, r))
		})
	}
}

// TestGoldenEveryType renders one map over every event type's sample.
func TestGoldenEveryType(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, et := range cdr.Types {
		ev := SampleEvent(et)
		if err := ev.Validate(); err != nil {
			t.Fatalf("SampleEvent(%s) is not valid: %v", et, err)
		}
		w := mustCompile(t, Spec{
			Name: "all", URL: "https://hooks.example.com/{{ event.type }}", Events: []cdr.Type{et}, DateFormat: "unix",
			Params: []Param{{"id", "event.id"}, {"time", "event.time"}, {"source", "event.source.name"}, {"record", "record"}},
		})
		r, err := w.Render(ev, "d")
		if err != nil {
			t.Fatalf("%s: %v", et, err)
		}
		b.WriteString(requestText(t, r) + "\n\n")
	}
	golden(t, "every_type.golden", b.String())
}

func TestSampleEventDeterministic(t *testing.T) {
	t.Parallel()
	a, b := SampleEvent(cdr.TypeCallEnded), SampleEvent(cdr.TypeCallEnded)
	if fmt.Sprintf("%+v", a.Record) != fmt.Sprintf("%+v", b.Record) || a.ID != b.ID || !a.Time.Equal(b.Time) {
		t.Fatal("SampleEvent is not deterministic")
	}
	if ev := SampleEvent("nope"); ev.Record != nil {
		t.Fatalf("unknown type: got record %T", ev.Record)
	}
}

// render compiles a one-param JSON map over queue.ended and returns the value.
func render(t *testing.T, s Spec, ev cdr.Event) (string, error) {
	t.Helper()
	if s.Name == "" {
		s.Name = "t"
	}
	if s.URL == "" {
		s.URL = "https://example.com/hook"
	}
	if s.Events == nil {
		s.Events = []cdr.Type{ev.Type}
	}
	w, err := Compile(s)
	if err != nil {
		return "", err
	}
	r, err := w.Render(ev, "id1")
	if err != nil {
		return "", err
	}
	return string(r.Body), nil
}

func TestDate(t *testing.T) {
	t.Parallel()
	q := SampleEvent(cdr.TypeQueueEnded) // started 2025-03-14T09:26:53Z, a Friday
	call := SampleEvent(cdr.TypeCallStarted)
	tests := []struct {
		name, format, zone, expr string
		ev                       cdr.Event
		want                     string
	}{
		{"default rfc3339 utc", "", "", "date(record.started_at)", q, `"2025-03-14T09:26:53Z"`},
		{"rfc3339 zone", "rfc3339", "Europe/Kyiv", "date(record.started_at)", q, `"2025-03-14T11:26:53+02:00"`},
		{"unix", "unix", "", "date(record.started_at)", q, `"1741944413"`},
		{"unix_ms", "unix_ms", "", "date(record.started_at)", q, `"1741944413000"`},
		{"go layout", "2006-01-02 15:04 MST", "America/New_York", "date(record.started_at)", q, `"2025-03-14 05:26 EDT"`},
		{"strftime", "%Y-%m-%d %H:%M:%S", "Asia/Tokyo", "date(record.started_at)", q, `"2025-03-14 18:26:53"`},
		{"strftime names", "%a %A %b %B %y %j %e", "", "date(record.started_at)", q, `"Fri Friday Mar March 25 073 14"`},
		{"strftime 12h", "%I:%M %p %z %Z", "Europe/Kyiv", "date(record.started_at)", q, `"11:26 AM +0200 EET"`},
		{"strftime fraction", "%S.%f %L %s %% %F %T", "", `date("2025-03-14T09:26:53.123456789Z")`, q, `"53.123456 123 1741944413 % 2025-03-14 09:26:53"`},
		{"strftime pm padded day", "%I %p|%e|", "", `date("2025-03-04T21:00:00Z")`, q, `"09 PM| 4|"`},
		{"explicit format", "unix", "", `date(record.started_at, "%d/%m/%Y")`, q, `"14/03/2025"`},
		{"explicit go layout", "", "Europe/Kyiv", `date(record.started_at, "15:04")`, q, `"11:26"`},
		{"dynamic format", "", "", `date(record.started_at, record.custom.Priority == "high" ? "unix" : "rfc3339")`, q, `"1741944413"`},
		{"pointer", "unix", "", "date(record.ended_at)", q, `"1741944538"`},
		{"nil pointer", "unix", "", "date(record.ended_at)", call, `""`},
		{"nil", "", "", "date(nil)", q, `""`},
		{"empty string", "", "", `date("")`, q, `""`},
		{"string with offset", "", "", `date("2025-03-14T11:26:53+02:00")`, q, `"2025-03-14T09:26:53Z"`},
		{"raw time in json uses format", "%H:%M", "Europe/Kyiv", "record.started_at", q, `"11:26"`},
		{"raw time unix is a number", "unix", "", "record.started_at", q, `1741944413`},
		{"raw nil pointer is null", "unix", "", "record.ended_at", call, `null`},
		{"event time", "unix_ms", "", "event.time", q, `1741944538000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := render(t, Spec{DateFormat: tt.format, Timezone: tt.zone, Params: []Param{{"v", tt.expr}}}, tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"v":` + tt.want + `}`; got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

func TestDateRuntimeErrors(t *testing.T) {
	t.Parallel()
	q := SampleEvent(cdr.TypeQueueEnded)
	for _, src := range []string{`date("yesterday")`, `date(record.started_at, record.custom.Priority + "%Q")`, `date(record.custom.Priority)`} {
		_, err := render(t, Spec{Params: []Param{{"v", src}}}, q)
		var re *RenderError
		if !errors.As(err, &re) || re.Field != "params.v" || re.EventType != cdr.TypeQueueEnded {
			t.Fatalf("%s: got %v, want a *RenderError for params.v", src, err)
		}
	}
}

func TestCauseAndEnv(t *testing.T) {
	t.Parallel()
	c := SampleEvent(cdr.TypeCallEnded)
	env := func(name string) string { return map[string]string{"REGION": "eu-1"}[name] }
	tests := []struct{ expr, want string }{
		{"cause(record.hangup.cause)", `"Normal"`},
		{"cause(record.disposition)", `"Answered"`},
		{"cause(record.hangup.sip_code)", `200`},
		{`cause("busy")`, `"Busy"`},
		{`cause("other")`, `"other"`},
		{"cause(nil)", `null`},
		{`env("REGION")`, `"eu-1"`},
		{`env("MISSING")`, `""`},
		{`record.custom.Missing ?? "none"`, `""`}, // a missing key gives ""
		{`record.custom.Missing`, `""`},
		{`record.custom["Manager"]`, `"Taras"`},
		{`record.disposition == "answered" && record.direction in ["inbound"]`, `true`},
		{`upper(record.hangup.initiator)`, `"CALLER"`},
		{`len(record.legs)`, `2`},
		{`map(record.legs, .channel)`, `["PJSIP/trunk-00000021","PJSIP/201-00000022"]`},
		{`record.billsec / 5`, `37`},
		{`webhook.name`, `"t"`},
		{`{"a": 1, "b": [true, nil]}`, `{"a":1,"b":[true,null]}`},
		{`1.5e-7`, `1.5e-7`},
	}
	for _, tt := range tests {
		got, err := render(t, Spec{Env: env, HangupCauses: map[string]string{"16": "Normal", "answered": "Answered", "busy": "Busy"}, Params: []Param{{"v", tt.expr}}}, c)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if want := `{"v":` + tt.want + `}`; got != want {
			t.Fatalf("%s: got %s, want %s", tt.expr, got, want)
		}
	}
}

func TestEnvDefaultsToProcess(t *testing.T) {
	t.Setenv("CDRGW_MAPPING_TEST", "from-process")
	got, err := render(t, Spec{Params: []Param{{"v", `env("CDRGW_MAPPING_TEST")`}}}, SampleEvent(cdr.TypeQueueEnded))
	if err != nil || got != `{"v":"from-process"}` {
		t.Fatalf("got %s, %v", got, err)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	base := func() Spec {
		return Spec{Name: "crm", URL: "https://crm.example.com/x", Events: []cdr.Type{cdr.TypeQueueEnded}, Params: []Param{{"a", "record.wait"}}}
	}
	tests := []struct {
		name string
		edit func(*Spec)
		want []string
	}{
		{"unknown field", func(s *Spec) { s.Params[0].Expr = "date(record.strat_at)" },
			[]string{`webhook "crm": params.a: line 1, column 13: type cdr.Queue has no field strat_at (event type queue.ended)`}},
		{"unknown name", func(s *Spec) { s.Params[0].Expr = "strat_at" },
			[]string{`webhook "crm": params.a: line 1, column 1: unknown name strat_at (event type queue.ended)`}},
		{"second line", func(s *Spec) { s.Params[0].Expr = "record.wait +\n  record.tlak" },
			[]string{`webhook "crm": params.a: line 2, column 10: type cdr.Queue has no field tlak (event type queue.ended)`}},
		{"syntax", func(s *Spec) { s.Params[0].Expr = "record.wait +" },
			[]string{`webhook "crm": params.a: line 1, column 13: unexpected token EOF (event type queue.ended)`}},
		{"type error for one event type", func(s *Spec) {
			s.Events = []cdr.Type{cdr.TypeQueueEnded, cdr.TypeCallEnded}
			s.When = "record.wait > 30"
		}, []string{
			`webhook "crm": when: line 1, column 8: type cdr.Call has no field wait (event type call.ended)`,
			`webhook "crm": params.a: line 1, column 8: type cdr.Call has no field wait (event type call.ended)`,
		}},
		{"when not bool", func(s *Spec) { s.When = "record.wait" },
			[]string{`webhook "crm": when: line 1, column 1: expected bool, but got int (event type queue.ended)`}},
		{"mismatched +", func(s *Spec) { s.Params[0].Expr = "record.caller.number + 1" },
			[]string{`webhook "crm": params.a: line 1, column 22: invalid operation: + (mismatched types string and int) (event type queue.ended)`}},
		{"strftime directive", func(s *Spec) { s.Params[0].Expr = `date(record.started_at, "%Y-%Q")` },
			[]string{`webhook "crm": params.a: line 1, column 25: date format "%Y-%Q": unknown strftime directive %Q (event type queue.ended)`}},
		{"date argument", func(s *Spec) { s.Params[0].Expr = `date(record.wait)` },
			[]string{`webhook "crm": params.a: line 1, column 1: date: argument 1 must be a time or an RFC 3339 string, got int (event type queue.ended)`}},
		{"url expression", func(s *Spec) { s.URL = "https://crm.example.com/{{ record.queue.nme }}" },
			[]string{`webhook "crm": url: line 1, column 41: type cdr.Named has no field nme (event type queue.ended)`}},
		{"url unclosed", func(s *Spec) { s.URL = "https://crm.example.com/{{ record.id" },
			[]string{`webhook "crm": url: "https://crm.example.com/{{ record.id" has {{ without a closing }}`}},
		{"url scheme", func(s *Spec) { s.URL = "ftp://crm.example.com/" },
			[]string{`webhook "crm": url: "ftp://crm.example.com/" is not an absolute http or https URL`}},
		{"url relative", func(s *Spec) { s.URL = "/calls" },
			[]string{`webhook "crm": url: "/calls" is not an absolute http or https URL`}},
		{"method", func(s *Spec) { s.Method = "PATCH" },
			[]string{`webhook "crm": method: "PATCH" is not one of GET, POST, PUT, DELETE`}},
		{"encoding", func(s *Spec) { s.Encoding = "yaml" },
			[]string{`webhook "crm": encoding: "yaml" is not one of query, form, json, xml, jsonrpc`}},
		{"date format strftime", func(s *Spec) { s.DateFormat = "%Y %K" },
			[]string{`webhook "crm": date_format: date format "%Y %K": unknown strftime directive %K`}},
		{"date format lone percent", func(s *Spec) { s.DateFormat = "%Y%" },
			[]string{`webhook "crm": date_format: date format "%Y%" ends with a lone %`}},
		{"date format not a layout", func(s *Spec) { s.DateFormat = "iso" },
			[]string{`webhook "crm": date_format: date format "iso" is not strftime (no %), not unix, unix_ms or rfc3339, and not a Go layout (it holds no layout element)`}},
		{"timezone", func(s *Spec) { s.Timezone = "Mars/Olympus" },
			[]string{`webhook "crm": timezone: "Mars/Olympus" is not an IANA time zone`}},
		{"jsonrpc method", func(s *Spec) { s.Encoding = "jsonrpc" },
			[]string{`webhook "crm": jsonrpc.method: is required for encoding jsonrpc`}},
		{"xml root", func(s *Spec) { s.Encoding, s.XMLRoot = "xml", "1call" },
			[]string{`webhook "crm": xml.root: "1call" is not a valid XML element name`}},
		{"xml name", func(s *Spec) { s.Encoding, s.Params[0].Name = "xml", "caller.first name" },
			[]string{`webhook "crm": params.caller.first name: "first name" is not a valid XML element name`}},
		{"empty param name", func(s *Spec) { s.Params[0].Name = "" },
			[]string{`webhook "crm": params[0]: name is empty`}},
		{"duplicate param", func(s *Spec) { s.Params = append(s.Params, Param{"a", "1"}) },
			[]string{`webhook "crm": params.a: name "a" is used twice`}},
		{"conflicting nest", func(s *Spec) { s.Params = append(s.Params, Param{"a.b", "1"}) },
			[]string{`webhook "crm": params.a.b: name "a.b" nests under "a", which is already a value`}},
		{"conflicting nest reversed", func(s *Spec) { s.Params = []Param{{"a.b", "1"}, {"a", "2"}} },
			[]string{`webhook "crm": params.a: name "a" conflicts with the nested names under it`}},
		{"empty segment", func(s *Spec) { s.Params[0].Name = "a..b" },
			[]string{`webhook "crm": params.a..b: name "a..b" has an empty part`}},
		{"empty expression", func(s *Spec) { s.Params[0].Expr = " " },
			[]string{`webhook "crm": params.a: expression is empty`}},
		{"header name", func(s *Spec) { s.Headers = []Param{{"X Manager", `"x"`}} },
			[]string{`webhook "crm": headers.X Manager: "X Manager" is not a valid header name`}},
		{"duplicate header", func(s *Spec) { s.Headers = []Param{{"X-A", `"x"`}, {"x-a", `"y"`}} },
			[]string{`webhook "crm": headers.x-a: header "x-a" is set twice`}},
		{"events", func(s *Spec) { s.Events = []cdr.Type{"queue.started"} },
			[]string{`webhook "crm": events: "queue.started" is not a known event type`}},
		{"too many nodes", func(s *Spec) { s.Params[0].Expr = strings.Repeat("1+", 1000) + "1" },
			[]string{`webhook "crm": params.a: line 1, column 1002: compilation failed: expression exceeds maximum allowed nodes (event type queue.ended)`}},
		{"all errors at once", func(s *Spec) {
			s.Method, s.Encoding = "GETS", "jsonrpc"
			s.Params = append(s.Params, Param{"b", "nope"})
		}, []string{
			`webhook "crm": method: "GETS" is not one of GET, POST, PUT, DELETE`,
			`webhook "crm": jsonrpc.method: is required for encoding jsonrpc`,
			`webhook "crm": params.b: line 1, column 1: unknown name nope (event type queue.ended)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := base()
			tt.edit(&s)
			w, err := Compile(s)
			if err == nil {
				t.Fatalf("Compile succeeded (%v), want errors", w)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *CompileError
				if !errors.As(e, &ce) {
					t.Fatalf("%T is not a *CompileError: %v", e, e)
				}
				got = append(got, ce.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCompileErrorFields(t *testing.T) {
	t.Parallel()
	_, err := Compile(Spec{Name: "crm", URL: "https://x.example/", Events: []cdr.Type{cdr.TypeQueueEnded}, Params: []Param{{"start_at", "date(record.strat_at)"}}})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	want := CompileError{Webhook: "crm", Field: "params.start_at", EventType: cdr.TypeQueueEnded, Line: 1, Column: 13, Msg: "type cdr.Queue has no field strat_at"}
	if *ce != want {
		t.Fatalf("got %+v, want %+v", *ce, want)
	}
}

func TestURLTemplate(t *testing.T) {
	t.Parallel()
	q := SampleEvent(cdr.TypeQueueEnded)
	tests := []struct{ url, enc, want string }{
		{"https://crm.example.com/queues/{{ record.queue.name }}/calls", "json", "https://crm.example.com/queues/Sales/calls"},
		{"https://crm.example.com/c?agent={{record.agent.name}}&wait={{ record.wait }}", "json", "https://crm.example.com/c?agent=Iryna+Shevchenko&wait=42"},
		{"https://crm.example.com/c?x={{ record.caller.number + '&a=b' }}", "json", "https://crm.example.com/c?x=%2B380441234567%26a%3Db"},
		{"https://crm.example.com/c/{{ record.call_id }}", "query", "https://crm.example.com/c/3f2a9c1e-8d4b-4a67-9e0f-5b1c2d3e4f50?p=Sales"},
		{"https://crm.example.com/c?k=1#frag", "query", "https://crm.example.com/c?k=1&p=Sales#frag"},
		{"https://crm.example.com/c?", "query", "https://crm.example.com/c?p=Sales"},
		{"https://crm.example.com/c?k={{ nil }}", "json", "https://crm.example.com/c?k="},
	}
	for _, tt := range tests {
		w := mustCompile(t, Spec{Name: "u", URL: tt.url, Events: []cdr.Type{q.Type}, Encoding: tt.enc, Method: "GET", Params: []Param{{"p", "record.queue.name"}}})
		r, err := w.Render(q, "")
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if r.URL != tt.want {
			t.Fatalf("%s: got %s, want %s", tt.url, r.URL, tt.want)
		}
	}
	// A templated host that makes the URL invalid is a render error.
	w := mustCompile(t, Spec{Name: "u", URL: "https://{{ record.custom.Host ?? '' }}/x", Events: []cdr.Type{q.Type}})
	var re *RenderError
	if _, err := w.Render(q, ""); !errors.As(err, &re) || re.Field != "url" {
		t.Fatalf("got %v, want a *RenderError for url", err)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	q := SampleEvent(cdr.TypeQueueEnded)
	rec := *q.Record.(*cdr.Queue)
	rec.Custom = map[string]string{"Manager": "Taras\r\nX-Evil: 1"}
	evil := q
	evil.Record = &rec
	w := mustCompile(t, Spec{Name: "h", URL: "https://x.example/", Events: []cdr.Type{q.Type}, Headers: []Param{
		{"X-Manager", `record.custom.Manager ?? ""`}, {"X-Wait", "record.wait"}, {"X-None", "nil"}, {"Content-Type", `"application/vnd.crm+json"`},
	}})
	r, err := w.Render(q, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.Header); got != "map[Content-Type:[application/vnd.crm+json] X-Manager:[Taras] X-Wait:[42]]" {
		t.Fatalf("headers: %s", got)
	}
	_, err = w.Render(evil, "")
	var re *RenderError
	if !errors.As(err, &re) || re.Field != "headers.X-Manager" || err.Error() != `webhook "h": headers.X-Manager: header X-Manager: value contains CR or LF (event type queue.ended)` {
		t.Fatalf("got %v", err)
	}
	for _, v := range []string{"a\nb", "a\rb", "a\x00b"} {
		if err := checkHeaderValue("X", v); err == nil {
			t.Fatalf("%q accepted", v)
		}
	}
	if err := checkHeaderValue("X", "a\tb ü"); err != nil {
		t.Fatal(err)
	}
}

func TestNullsAndNesting(t *testing.T) {
	t.Parallel()
	call := SampleEvent(cdr.TypeCallStarted) // answered_at and ended_at are null
	params := []Param{{"id", "record.call_id"}, {"answered", "record.answered_at"}, {"ended.at", "record.ended_at"}, {"ended.by", "nil"}, {"caller.number", "record.caller.number"}, {"caller.flag", "true"}}
	want := map[string]string{
		EncodingQuery:   "https://x.example/h?id=1710408413.42&caller.number=%2B380441234567&caller.flag=true",
		EncodingForm:    "id=1710408413.42&caller.number=%2B380441234567&caller.flag=true",
		EncodingJSON:    `{"id":"1710408413.42","answered":null,"ended":{"at":null,"by":null},"caller":{"number":"+380441234567","flag":true}}`,
		EncodingJSONRPC: `{"jsonrpc":"2.0","method":"m","params":{"id":"1710408413.42","answered":null,"ended":{"at":null,"by":null},"caller":{"number":"+380441234567","flag":true}},"id":"d9"}`,
		EncodingXML:     `<?xml version="1.0" encoding="UTF-8"?><event><id>1710408413.42</id><caller><number>+380441234567</number><flag>true</flag></caller></event>`,
	}
	for enc, w := range want {
		wh := mustCompile(t, Spec{Name: "n", URL: "https://x.example/h", Events: []cdr.Type{call.Type}, Encoding: enc, JSONRPCMethod: "m", Params: params})
		r, err := wh.Render(call, "d9")
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		got := string(r.Body)
		if enc == EncodingQuery {
			got = r.URL
			if r.Body != nil || r.Header.Get("Content-Type") != "" {
				t.Fatalf("query: body %q, header %v", r.Body, r.Header)
			}
		}
		if got != w {
			t.Fatalf("%s:\ngot  %s\nwant %s", enc, got, w)
		}
	}
}

func TestFormWithGETIsQuery(t *testing.T) {
	t.Parallel()
	q := SampleEvent(cdr.TypeQueueEnded)
	w := mustCompile(t, Spec{Name: "f", URL: "https://x.example/h", Events: []cdr.Type{q.Type}, Method: "get", Encoding: "form", Params: []Param{{"q", "record.queue.name"}}})
	r, err := w.Render(q, "")
	if err != nil || r.Method != "GET" || r.URL != "https://x.example/h?q=Sales" || r.Body != nil {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	q := SampleEvent(cdr.TypeQueueEnded)
	src := `"a<b>&c\"d'e\u0001\u2028\n"`
	want := map[string]string{
		EncodingXML:  `<?xml version="1.0" encoding="UTF-8"?><r><v>a&lt;b&gt;&amp;c&quot;d&apos;e` + "\uFFFD\u2028\n" + `</v></r>`,
		EncodingJSON: `{"v":"a<b>&c\"d'e\u0001\u2028\n"}`,
		EncodingForm: `v=a%3Cb%3E%26c%22d%27e%01%E2%80%A8%0A`,
	}
	for enc, w := range want {
		got, err := render(t, Spec{Encoding: enc, XMLRoot: "r", Params: []Param{{"v", src}}}, q)
		if err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Fatalf("%s:\ngot  %s\nwant %s", enc, got, w)
		}
	}
	if got := string(appendJSONString(nil, "ok\xffé")); got != `"ok\ufffdé"` {
		t.Fatalf("invalid UTF-8: %s", got)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	q := SampleEvent(cdr.TypeQueueEnded)
	tests := []struct{ name, expr, msg string }{
		{"index out of range", "record.transfer.to_id[5:1] + ['a','b'][record.wait]", "index out of range"},
		{"modulo by zero", "record.wait % (record.talk - 83)", "integer divide by zero"},
		{"NaN", "record.talk / (record.wait - 42) - record.talk / (record.wait - 42)", "not finite"},
		{"bad int", `int(record.caller.name)`, "invalid operation: int(Olena Kovalenko)"},
		{"string limit", `reduce(1..20, #acc + #acc, "0123456789")`, "exceeds the limit"},
		{"repeat limit", `repeat("ab", 100000)`, "exceeds the limit"},
		{"loop budget", `len(map(1..100000, # * 2))`, "memory budget exceeded"},
		{"nested loops", `len(map(1..1000, map(1..1000, #)))`, "memory budget exceeded"},
		{"exponential nesting", `let a = [1,1]; let b = [a,a,a,a]; let c = [b,b,b,b]; let d = [c,c,c,c]; let e = [d,d,d,d]; let f = [e,e,e,e]; let g = [f,f,f,f]; let h = [g,g,g,g]; len(flatten([h,h,h,h,h,h,h,h]))`, "value too large"},
		{"value too large to encode", `let a = [record,record,record,record]; let b = [a,a,a,a]; let c = [b,b,b,b]; let d = [c,c,c,c]; [d,d,d,d,d,d,d,d]`, "value too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := render(t, Spec{Params: []Param{{"v", tt.expr}}}, q)
			var re *RenderError
			if !errors.As(err, &re) || re.Field != "params.v" || re.Webhook != "t" || re.EventType != cdr.TypeQueueEnded {
				t.Fatalf("got %v, want a *RenderError for params.v", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not mention %q", err, tt.msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestSkipped(t *testing.T) {
	t.Parallel()
	w := mustCompile(t, crmSpec("json"))
	if _, err := w.Render(SampleEvent(cdr.TypeCallEnded), ""); !errors.Is(err, ErrSkipped) {
		t.Fatalf("unsubscribed: got %v", err)
	}
	ev := SampleEvent(cdr.TypeQueueEnded)
	rec := *ev.Record.(*cdr.Queue)
	rec.Wait = 10 // when: record.wait > 30 || record.agent.name == ""
	ev.Record = &rec
	if _, err := w.Render(ev, ""); !errors.Is(err, ErrSkipped) {
		t.Fatalf("when false: got %v", err)
	}
	if !w.Subscribes(cdr.TypeTest) || w.Subscribes(cdr.TypeIVREnded) || w.Name() != "crm" || w.Spec().JSONRPCMethod != "calls.add" {
		t.Fatal("accessors")
	}
	// A record of the wrong kind is a render error, not a panic.
	bad := SampleEvent(cdr.TypeQueueEnded)
	bad.Record = SampleEvent(cdr.TypeCallEnded).Record
	var re *RenderError
	if _, err := w.Render(bad, ""); !errors.As(err, &re) || re.Field != "record" {
		t.Fatalf("wrong record: got %v", err)
	}
	bad.Record = nil
	if _, err := w.Render(bad, ""); !errors.As(err, &re) {
		t.Fatalf("nil record: got %v", err)
	}
}

func TestConcurrentRender(t *testing.T) {
	t.Parallel()
	w := mustCompile(t, crmSpec("json"))
	want, err := w.Render(SampleEvent(cdr.TypeQueueEnded), "d")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 50 {
				r, err := w.Render(SampleEvent(cdr.TypeQueueEnded), "d")
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(r.Body, want.Body) {
					errs <- fmt.Errorf("body differs: %s", r.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"record.wait > 30", `record.custom.Manager ?? ""`, "date(record.started_at)", `date(record.ended_at, "%Y")`,
		"cause(record.leave_reason)", `env("X")`, "map(record.custom, #)", "1/0", "record.x", "[1,2][5]",
		`reduce(1..10, #acc + #acc, "a")`, "{{", `"a" + 1`, "let x = 1; x * 2", "record.met_service_level ?? false",
		`filter(1..5, # % 2 == 0)`, "toJSON(record)", "string(record.agent)", `record.caller.number matches "^\\+"`,
	} {
		f.Add(s, "record.wait > 0")
	}
	q := SampleEvent(cdr.TypeQueueEnded)
	f.Fuzz(func(t *testing.T, param, when string) {
		for _, enc := range []string{EncodingJSON, EncodingXML, EncodingQuery} {
			w, err := Compile(Spec{Name: "f", URL: "https://x.example/", Events: []cdr.Type{q.Type}, When: when, Encoding: enc,
				Params: []Param{{"v", param}}, Headers: []Param{{"X-V", param}}})
			if err != nil {
				var ce *CompileError
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if !errors.As(e, &ce) {
						t.Fatalf("%T is not a *CompileError", e)
					}
				}
				continue
			}
			_, err = w.Render(q, "d")
			var re *RenderError
			if err != nil && !errors.Is(err, ErrSkipped) && !errors.As(err, &re) {
				t.Fatalf("Render: %T %v", err, err)
			}
		}
	})
}

func BenchmarkRenderJSON(b *testing.B) {
	w := mustCompile(b, Spec{
		Name: "crm", URL: "https://crm.example.com/api/calls", Events: []cdr.Type{cdr.TypeQueueEnded},
		When: `record.wait > 30 || record.agent.name == ""`, DateFormat: "%Y-%m-%d %H:%M:%S", Timezone: "Europe/Kyiv",
		HangupCauses: map[string]string{"answered": "Answered"},
		Params: []Param{
			{"uniqueid", "record.call_id"}, {"src", "record.caller.number"}, {"queue", "record.queue.name"},
			{"start_at", "date(record.started_at)"}, {"status", "cause(record.leave_reason)"}, {"agent", "record.agent.name"},
			{"wait", "record.wait"}, {"talk", "record.talk"}, {"caller.name", "record.caller.name"}, {"direction", "record.direction"},
		},
	})
	ev := SampleEvent(cdr.TypeQueueEnded)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Render(ev, "d"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	s := crmSpec("json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}
