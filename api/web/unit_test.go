package web

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/internal/webhookset"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://crm.example.com/api/calls", "https://crm.example.com/api/calls"},
		{"https://user:pw@crm.example.com/x", "https://•••@crm.example.com/x"},
		{"https://tok3n@crm.example.com", "https://•••@crm.example.com"},
		{"https://crm.example.com/x?api_key=abc&n=1", "https://crm.example.com/x?api_key=•••&n=1"},
		{"https://h/x?Token=a&access_token=b&x_secret=c#frag", "https://h/x?Token=•••&access_token=•••&x_secret=•••#frag"},
		{"https://h/x?monkey=1&keyboard=2", "https://h/x?monkey=1&keyboard=2"},
		{"https://h/{{ record.call_id }}?sig=1", "https://h/{{ record.call_id }}?sig=•••"},
		{"https://h/path@x", "https://h/path@x"},
		{"http://a:b@h:8080/p?q=1", "http://•••@h:8080/p?q=1"},
		{"", ""},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseLines(t *testing.T) {
	t.Parallel()
	pairs, errs := parseLines("params", "a: x\n\n# note\nb.c: y ? 1 : 2\n  + 3\r\nbad line\n: novalue\na: again\n")
	if len(pairs) != 2 || pairs[0] != (kv{K: "a", V: "x", Line: 1}) || pairs[1] != (kv{K: "b.c", V: "y ? 1 : 2\n+ 3", Line: 4}) {
		t.Errorf("pairs %+v", pairs)
	}
	want := []string{
		`params: line 6: want ` + "`name: value`" + `, got "bad line"`,
		`params: line 7: want ` + "`name: value`" + `, got ": novalue"`,
		`params: line 8: "a" is already on line 1`,
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
	if got := formatLines(pairs); got != "a: x\nb.c: y ? 1 : 2\n  + 3\n" {
		t.Errorf("formatLines %q", got)
	}
}

// fullForm sets every field of the editor.
func fullForm() url.Values {
	return url.Values{
		"name": {"crm2"}, "url": {"https://crm.example.com/api/{{ record.call_id }}"}, "events": {"queue.ended", "call.ended"},
		"when": {`record.caller.number != ""`}, "method": {"PUT"}, "encoding": {"xml"}, "date_format": {"%Y-%m-%d %H:%M:%S"},
		"timezone": {"Europe/Kyiv"}, "params": {"z_last: record.call_id\na.first: record.caller.number\nstart: date(record.started_at)"},
		"headers": {"X-Manager: record.custom.Manager ?? \"\""}, "hangup_causes": {"busy: Busy\nno_answer: No Answer"},
		"xml_root": {"call"}, "jsonrpc_method": {""}, "active": {"on"}, "delay": {"5s"}, "debounce": {"10s"}, "timeout": {"7s"},
		"retry_attempts": {"5"}, "retry_schedule": {"fixed"}, "retry_interval": {"20s"}, "retry_max_interval": {"5m"},
		"retry_jitter": {"0.2"}, "secrets": {"whsec_c2VjcmV0LWtleS1vZi1jcm0=\n\n"}, "concurrency": {"2"}, "ordered": {"on"},
		"failing_after": {"7"}, "pause_on_failing": {"on"}, "retry_on": {"409, 423"},
	}
}

func TestSpecJSONGolden(t *testing.T) {
	t.Parallel()
	spec, errs := specJSON(formValues(fullForm()), nil)
	if len(errs) > 0 {
		t.Fatalf("form errors: %v", errs)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, spec, "", "  "); err != nil {
		t.Fatalf("spec is not JSON: %v\n%s", err, spec)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "spec.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("spec JSON differs from %s:\n%s", golden, pretty.String())
	}
	// The config loader takes it as written, every setting applied.
	w, err := config.ParseWebhook(spec, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("ParseWebhook: %v", err)
	}
	if w.Retry.Attempts != 5 || w.Retry.Jitter != 0.2 || w.Timeout != 7*time.Second || !w.Ordered || !w.PauseOnFailing ||
		w.Concurrency != 2 || w.FailingAfter != 7 || len(w.RetryOn4xx) != 2 || w.Spec.XMLRoot != "call" || w.Spec.Method != "PUT" ||
		w.Spec.Params[0].Name != "z_last" || len(w.Secrets) != 1 || w.Delay != 5*time.Second {
		t.Errorf("loaded webhook does not carry the form's settings: %+v", w)
	}
}

func TestFormRoundTrip(t *testing.T) {
	t.Parallel()
	in := formValues(fullForm())
	spec, _ := specJSON(in, nil)
	out, secrets, err := formOf(spec)
	if err != nil {
		t.Fatal(err)
	}
	if secrets != 1 {
		t.Errorf("secret count %d", secrets)
	}
	in.Secrets = ""
	in.Params += "\n"
	in.Headers += "\n"
	in.HangupCauses += "\n"
	in.RetryOn = "409, 423"
	if a, b := mustJSON(t, in), mustJSON(t, out); a != b {
		t.Errorf("round trip:\n got %s\nwant %s", b, a)
	}
	// A Spec of the set reads back the same way (ordered params).
	var s webhookset.Spec
	if err := json.Unmarshal(spec, &s); err != nil {
		t.Fatal(err)
	}
	out2, _, err := formOf(s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, out), mustJSON(t, out2); a != b {
		t.Errorf("through webhookset.Spec:\n got %s\nwant %s", b, a)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSpecJSONKeepsStoredSecrets(t *testing.T) {
	t.Parallel()
	stored := []byte(`{"name":"x","url":"https://u:pw@h/p?token=t","events":["call.ended"],"secrets":["whsec_a","whsec_b"]}`)
	f, n, err := formOf(stored)
	if err != nil || n != 2 {
		t.Fatalf("formOf: %d secrets, %v", n, err)
	}
	if f.URL != "https://•••@h/p?token=•••" {
		t.Fatalf("form URL %q", f.URL)
	}
	var got map[string]any
	spec, _ := specJSON(f, stored)
	_ = json.Unmarshal(spec, &got)
	if got["url"] != "https://u:pw@h/p?token=t" || len(got["secrets"].([]any)) != 2 {
		t.Errorf("unchanged form: url %v secrets %v", got["url"], got["secrets"])
	}
	f.URL, f.Secrets = "https://h2/p", "whsec_new"
	spec, _ = specJSON(f, stored)
	got = nil
	_ = json.Unmarshal(spec, &got)
	if got["url"] != "https://h2/p" || len(got["secrets"].([]any)) != 1 || got["secrets"].([]any)[0] != "whsec_new" {
		t.Errorf("changed form: url %v secrets %v", got["url"], got["secrets"])
	}
}

func TestSparkline(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)
	s := newSparkline(since, []OutcomeBucket{
		{Start: since, OK: 10},
		{Start: since.Add(5 * time.Hour), OK: 3, Failed: 2},
		{Start: since.Add(23 * time.Hour), Failed: 1},
		{Start: since.Add(24 * time.Hour), OK: 99}, // outside
		{Start: since.Add(-time.Hour), OK: 99},     // outside
	})
	if len(s.Bars) != 24 || s.OK != 13 || s.Failed != 3 || s.Width != 120 || s.Height != 24 {
		t.Fatalf("sparkline %d bars, %d ok, %d failed, %dx%d", len(s.Bars), s.OK, s.Failed, s.Width, s.Height)
	}
	if b := s.Bars[0]; b.OKH != 24 || b.FailH != 0 || b.OKY != 0 {
		t.Errorf("fullest hour %+v, want the full height", b)
	}
	// 5 of max 10 -> 12 px: 2 failed of 5 -> 4 px (rounded down), 8 ok.
	if b := s.Bars[5]; b.OKH+b.FailH != 12 || b.FailH != 4 || b.FailY+b.FailH != b.OKY || b.OKY+b.OKH != 24 {
		t.Errorf("mixed hour %+v", b)
	}
	// 1 of 10 -> at least 2 px, and a failure shows at least 1 px.
	if b := s.Bars[23]; b.FailH != 2 || b.OKH != 0 || b.X != 115 {
		t.Errorf("small hour %+v", b)
	}
	if b := s.Bars[1]; b.OKH != 0 || b.FailH != 0 {
		t.Errorf("empty hour %+v", b)
	}
	if !strings.Contains(s.Bars[5].Title, "Dec 4 00:00 UTC: 3 ok, 2 failed") {
		t.Errorf("title %q", s.Bars[5].Title)
	}
}

func TestParseLocal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-01-02T15:04", time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC), true},
		{"2026-01-02T15:04:05", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), true},
		{"2026-01-02T15:04:05+02:00", time.Date(2026, 1, 2, 13, 4, 5, 0, time.UTC), true},
		{"", time.Time{}, true},
		{"2026-01-02", time.Time{}, false},
		{"tomorrow", time.Time{}, false},
	} {
		got, err := parseLocal("since", tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseLocal(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "since: ") {
			t.Errorf("error %q does not name the field", err)
		}
	}
}

func TestSessionsUnit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	a := newSessions("token-a", time.Hour, func() time.Time { return now })
	b := newSessions("token-b", time.Hour, func() time.Time { return now })
	se, v := a.issue()
	if _, ok := a.parse(v); !ok {
		t.Fatal("own cookie refused")
	}
	if _, ok := b.parse(v); ok {
		t.Error("a cookie signed under another token is accepted")
	}
	a2 := newSessions("token-a", time.Hour, func() time.Time { return now })
	if _, ok := a2.parse(v); !ok {
		t.Error("a replica with the same token refuses the cookie")
	}
	if !a.checkCSRF(se, a.csrf(se)) || a.checkCSRF(se, "") || a.checkCSRF(se, b.csrf(se)) {
		t.Error("CSRF check")
	}
	se2, _ := a.issue()
	if a.checkCSRF(se2, a.csrf(se)) {
		t.Error("one session's CSRF token works for another")
	}
	if !a.checkToken("token-a", "token-a") || a.checkToken("token-a", "token-") || a.checkToken("", "") {
		t.Error("token check")
	}
}

func FuzzSpecForm(f *testing.F) {
	f.Add("a: x\nb: y", "X-A: 1", "busy: Busy", "https://u:p@h/?token=1")
	f.Add("  cont\n:\n\x00: \xff", "", "", "")
	f.Fuzz(func(t *testing.T, params, headers, causes, u string) {
		// Browsers send UTF-8; JSON would replace invalid bytes anyway.
		params = strings.ToValidUTF8(params, "\uFFFD")
		form := specForm{Name: "f", URL: u, Params: params, Headers: headers, HangupCauses: causes, Events: []string{"call.ended"}}
		spec, _ := specJSON(form, nil)
		if !json.Valid(spec) {
			t.Fatalf("invalid JSON %q", spec)
		}
		back, _, err := formOf(spec)
		if err != nil {
			t.Fatalf("formOf(%s): %v", spec, err)
		}
		p1, _ := parseLines("params", params)
		p2, _ := parseLines("params", back.Params)
		if len(p1) != len(p2) {
			t.Fatalf("params %q -> %q: %d pairs, then %d", params, back.Params, len(p1), len(p2))
		}
		for i := range p1 {
			if p1[i].K != p2[i].K || p1[i].V != p2[i].V {
				t.Fatalf("pair %d: %+v then %+v", i, p1[i], p2[i])
			}
		}
		_ = redactURL(u)
	})
}
