package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/mapping"
)

func TestParseWebhookErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want []string // every error, formatted
	}{
		{
			name: "unknown key with suggestion",
			data: "name: crm\nurl: https://crm.example.com/\nevents: [call.ended]\nretyr: {attempts: 2}\n",
			want: []string{`4:1: retyr: unknown key (did you mean "retry"?)`},
		},
		{
			name: "bad duration",
			data: "name: crm\nurl: https://crm.example.com/\nevents: [call.ended]\ntimeout: 5 minutes\nretry:\n  interval: 30\n",
			want: []string{
				`4:10: timeout: invalid duration "5 minutes": use a number with a unit: ms, s, m or h ("30s", "1m30s")`,
				`6:13: retry.interval: 30 is not a duration: give a unit, like "30s" or "30ms"`,
			},
		},
		{
			name: "wrong field name in an expression (YAML)",
			data: "name: crm\nurl: https://crm.example.com/\nevents: [call.ended]\nparams:\n  src: record.recrd\n",
			want: []string{`5:15: params.src: line 1, column 8: type cdr.Call has no field recrd`},
		},
		{
			name: "unknown name in an expression",
			data: "name: crm\nurl: https://crm.example.com/\nevents: [call.ended]\nparams:\n  src: recrd.call_id\n",
			want: []string{`5:8: params.src: line 1, column 1: unknown name recrd`},
		},
		{
			name: "wrong field name in an expression (JSON)",
			data: "{\n  \"name\": \"crm\",\n  \"url\": \"https://crm.example.com/\",\n  \"events\": [\"call.ended\"],\n" +
				"  \"params\": {\n    \"src\": \"record.recrd\"\n  }\n}\n",
			want: []string{`6:20: params.src: line 1, column 8: type cdr.Call has no field recrd`},
		},
		{
			name: "JSON with several errors, in text order",
			data: `{"name": "a b", "url": "ftp://x", "events": ["call.nope"], "concurrency": 0}`,
			want: []string{
				`1:10: name: invalid webhook name "a b": use letters, digits, '_', '.' and '-'`,
				`1:24: url: invalid URL "ftp://x": want an absolute http:// or https:// URL`,
				`1:46: events[0]: unknown event type "call.nope": want one of ` + typeNames(),
				`1:75: concurrency: must be between 1 and 2147483647, not 0`,
			},
		},
		{
			name: "missing keys",
			data: "name: crm\n",
			want: []string{`1:1: missing key "url"`, `1:1: missing key "events"`},
		},
		{
			name: "not a mapping",
			data: "[1, 2]\n",
			want: []string{`1:1: must be a mapping, not a list`},
		},
		{
			name: "YAML syntax",
			data: "name: crm\nurl: [\n",
			want: []string{`2:6: invalid YAML: sequence end token ']' not found`},
		},
		{
			name: "secret never shown",
			data: "name: crm\nurl: https://crm.example.com/\nevents: [call.ended]\nsecrets: [\"whsec_!!notbase64\"]\n",
			want: []string{`4:11: secrets[0]: invalid secret: want whsec_<base64> (the whsec_ prefix is optional) decoding to a non-empty key`},
		},
		{
			name: "unset variable leaves the URL empty",
			data: "name: crm\nurl: ${CDRGW_TEST_UNSET_URL}\nevents: [call.ended]\n",
			want: []string{`2:6: url: invalid URL "": want an absolute http:// or https:// URL`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := config.ParseWebhook([]byte(tt.data), env())
			if err == nil {
				t.Fatalf("no error; webhook %+v", w)
			}
			if w != nil {
				t.Errorf("webhook %+v returned with an error", w)
			}
			var es config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			got := make([]string, len(es))
			for i, e := range es {
				got[i] = e.Error()
				if e.File != "" {
					t.Errorf("error %q names file %q", got[i], e.File)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func typeNames() string {
	s := make([]string, len(cdr.Types))
	for i, t := range cdr.Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func TestParseWebhookDefaults(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		"name: crm\nurl: https://crm.example.com/\nevents: [call.ended]\n",
		`{"name": "crm", "url": "https://crm.example.com/", "events": ["call.ended"]}`,
	} {
		w, err := config.ParseWebhook([]byte(data), env())
		if err != nil {
			t.Fatal(err)
		}
		want := config.Retry{Attempts: config.DefaultRetryAttempts, Schedule: config.DefaultRetrySchedule,
			Interval: config.DefaultRetryInterval, MaxInterval: config.DefaultRetryMax, Jitter: config.DefaultRetryJitter}
		if w.Name() != "crm" || !w.Active || w.Timeout != config.DefaultTimeout || w.Concurrency != config.DefaultConcurrency ||
			w.FailingAfter != config.DefaultFailingAfter || w.Retry != want || w.Compiled == nil {
			t.Errorf("%s: got %+v", data, w)
		}
	}
}

func TestParseWebhookExpands(t *testing.T) {
	t.Parallel()
	data := `{"name": "crm", "url": "${CRM_URL}/calls", "events": ["call.ended"], "secrets": ["${CRM_SECRET}"],
		"headers": {"Authorization": "'Bearer ' + env('CRM_TOKEN')"}}`
	w, err := config.ParseWebhook([]byte(data), env("CRM_URL", "https://crm.example.com", "CRM_SECRET", "whsec_c2VjcmV0", "CRM_TOKEN", "t0k"))
	if err != nil {
		t.Fatal(err)
	}
	if w.Spec.URL != "https://crm.example.com/calls" || len(w.Secrets) != 1 || w.Secrets[0] != "whsec_c2VjcmV0" {
		t.Errorf("got url %q secrets %q", w.Spec.URL, w.Secrets)
	}
	req, err := w.Compiled.Render(mapping.SampleEvent(cdr.TypeCallEnded), "d1")
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer t0k" {
		t.Errorf("Authorization %q, want the env() value", got)
	}
}

// indent makes a webhook definition the only item of a config file.
func indent(def string) string {
	var b strings.Builder
	b.WriteString("webhooks:\n")
	for i, line := range strings.Split(strings.TrimRight(def, "\n"), "\n") {
		if i == 0 {
			b.WriteString("  - " + line + "\n")
		} else {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}

// TestParseWebhookMatchesLoad checks that ParseWebhook and Load agree on
// every definition of testdata/webhook: the same webhook, or the same errors
// moved by the lines and columns the config file adds.
func TestParseWebhookMatchesLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/webhook/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	lookup := env("CRM_URL", "https://crm.example.com", "CRM_SECRET", "whsec_c2VjcmV0")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			w, werr := config.ParseWebhook(data, lookup)
			cfg, cerr := config.Load([]byte(indent(string(data))), "test.yaml", lookup)
			if (werr == nil) != (cerr == nil) {
				t.Fatalf("ParseWebhook error %v, Load error %v", werr, cerr)
			}
			if werr == nil {
				got, want := *w, cfg.Webhooks[0]
				got.Compiled, want.Compiled, got.Spec.Env, want.Spec.Env = nil, nil, nil, nil
				if !reflect.DeepEqual(got, want) {
					t.Errorf("ParseWebhook %+v\nLoad %+v", got, want)
				}
				return
			}
			var wes, ces config.Errors
			errors.As(werr, &wes)
			errors.As(cerr, &ces)
			if len(wes) != len(ces) {
				t.Fatalf("ParseWebhook:\n%v\nLoad:\n%v", werr, cerr)
			}
			for i := range wes {
				we, ce := *wes[i], *ces[i]
				ce.File = ""
				ce.Line--
				if ce.Line == wes[i].Line { // the first line gains "  - ", the others "    "
					ce.Column -= 4
				}
				ce.Path = strings.TrimPrefix(strings.TrimPrefix(ce.Path, "webhooks[0]"), ".")
				if we != ce {
					t.Errorf("error %d: ParseWebhook %q, Load (moved) %q", i, we.Error(), ce.Error())
				}
			}
		})
	}
}

func TestParseWebhookDurations(t *testing.T) {
	t.Parallel()
	w, err := config.ParseWebhook([]byte(`{"name": "x", "url": "https://x.example.com/", "events": ["queue.ended"],
		"delay": "2s", "debounce": "1m", "timeout": "1500ms", "retry": {"schedule": "fixed", "interval": "5s", "max_interval": "1m", "jitter": 0}}`), env())
	if err != nil {
		t.Fatal(err)
	}
	if w.Delay != 2*time.Second || w.Debounce != time.Minute || w.Timeout != 1500*time.Millisecond ||
		w.Retry != (config.Retry{Attempts: config.DefaultRetryAttempts, Schedule: config.ScheduleFixed, Interval: 5 * time.Second, MaxInterval: time.Minute}) {
		t.Errorf("got %+v", w)
	}
}

func FuzzParseWebhook(f *testing.F) {
	files, _ := filepath.Glob("testdata/webhook/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"name": "crm", "url": "https://crm.example.com/", "events": ["call.ended"], "params": {"a": "record.call_id"}}`))
	f.Add([]byte("name: a\nurl: ${A:-x}\nevents: [queue.ended]\n"))
	f.Add([]byte("[]"))
	lookup := env("A", "https://a.example.com/", "B", "true")
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := config.ParseWebhook(data, lookup)
		if err == nil {
			if w == nil || w.Compiled == nil {
				t.Fatal("no webhook without an error")
			}
			if w.Name() == "" || len(w.Spec.Events) == 0 || w.Concurrency < 1 || w.Timeout <= 0 {
				t.Fatalf("accepted an invalid webhook: %+v", w)
			}
			return
		}
		var es config.Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %T %v is not a non-empty config.Errors", err, err)
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, e := range es {
			if strings.HasPrefix(e.Path, "webhooks") || e.File != "" {
				t.Fatalf("error not relative to the webhook: %q", e.Error())
			}
			if e.Line > lines {
				t.Fatalf("error at line %d of a %d-line text: %q", e.Line, lines, e.Error())
			}
		}
	})
}

// BenchmarkParseWebhook measures the preview's compile step (run as the user
// types) against Load of the same definition as a one-webhook config file,
// the baseline, in the same run.
func BenchmarkParseWebhook(b *testing.B) {
	data, err := os.ReadFile("testdata/webhook/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	file := []byte(indent(string(data)))
	lookup := env("CRM_URL", "https://crm.example.com", "CRM_SECRET", "whsec_c2VjcmV0")
	b.Run("ParseWebhook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := config.ParseWebhook(data, lookup); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Load-baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := config.Load(file, "test.yaml", lookup); err != nil {
				b.Fatal(err)
			}
		}
	})
}
