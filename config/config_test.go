package config_test

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/mapping"
)

var update = flag.Bool("update", false, "rewrite the .err golden files of testdata/bad")

// env returns a lookup over a fixed environment.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustLoad(t *testing.T, data []byte, lookup func(string) (string, bool)) *config.Config {
	t.Helper()
	cfg, err := config.Load(data, "test.yaml", lookup)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

func TestExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, data, env(
		"CDRGW_ADMIN_TOKEN", "admin-tok",
		"TEAMS_TOKEN", "teams-tok",
		"ARI_PASSWORD", "ari-pw",
		"CRM_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	))
	if len(cfg.Webhooks) != 1 {
		t.Fatalf("got %d webhooks, want 1", len(cfg.Webhooks))
	}
	w := cfg.Webhooks[0]
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"store", cfg.Store, "sqlite://cdrgw.db"},
		{"listen", cfg.Listen, "127.0.0.1:8080"},
		{"admin_token", cfg.AdminToken, "admin-tok"},
		{"allow_private_targets", cfg.AllowPrivateTargets, false},
		{"shutdown_timeout (default)", cfg.ShutdownTimeout, 30 * time.Second},
		{"max_body (default)", cfg.MaxBody, int64(1 << 20)},
		{"sources", cfg.Sources, []config.Source{
			{Name: "teams", Type: "teams", Token: "teams-tok"},
			{Name: "pbx1", Type: "ari", URL: "http://127.0.0.1:8088", Username: "gw", Password: "ari-pw", App: "cdrgw", MaxCallDuration: config.DefaultMaxCallDuration},
			{Name: "sbc", Type: "hep", Listen: "127.0.0.1:9060", MaxCallDuration: config.DefaultMaxCallDuration, MaxDialogs: config.DefaultMaxDialogs},
		}},
		{"name", w.Spec.Name, "crm"},
		{"url", w.Spec.URL, "https://crm.example.com/api/calls"},
		{"events", w.Spec.Events, []cdr.Type{cdr.TypeQueueEnded}},
		{"when", w.Spec.When, `record.wait > 30 || record.agent.name == ""`},
		{"method", w.Spec.Method, "POST"},
		{"encoding", w.Spec.Encoding, "json"},
		{"date_format", w.Spec.DateFormat, "%Y-%m-%d %H:%M:%S"},
		{"timezone", w.Spec.Timezone, "Europe/Kyiv"},
		{"hangup_causes", w.Spec.HangupCauses, map[string]string{"busy": "Busy", "no_answer": "No Answer"}},
		{"params", w.Spec.Params, []mapping.Param{
			{Name: "uniqueid", Expr: "record.call_id"},
			{Name: "src", Expr: "record.caller.number"},
			{Name: "queue", Expr: "record.queue.name"},
			{Name: "start_at", Expr: "date(record.started_at)"},
			{Name: "status", Expr: "cause(record.leave_reason)"},
		}},
		{"headers", w.Spec.Headers, []mapping.Param{{Name: "X-Manager", Expr: `record.custom.Manager ?? ""`}}},
		{"xml.root", w.Spec.XMLRoot, ""},
		{"jsonrpc.method", w.Spec.JSONRPCMethod, ""},
		{"compiled", w.Compiled != nil && w.Compiled.Name() == "crm", true},
		{"active (default)", w.Active, true},
		{"delay", w.Delay, time.Duration(0)},
		{"debounce", w.Debounce, time.Duration(0)},
		{"retry", w.Retry, config.Retry{Attempts: 3, Schedule: "exponential", Interval: 30 * time.Second, MaxInterval: 10 * time.Minute, Jitter: 0.1}},
		{"timeout", w.Timeout, 10 * time.Second},
		{"secrets", w.Secrets, []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{"concurrency (default)", w.Concurrency, 4},
		{"ordered (default)", w.Ordered, false},
		{"failing_after (default)", w.FailingAfter, 5},
		{"pause_on_failing (default)", w.PauseOnFailing, false},
		{"retry_on (default)", w.RetryOn4xx, []int(nil)},
		{"env() sees the lookup", w.Spec.Env("TEAMS_TOKEN"), "teams-tok"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	if got, ok := cfg.Webhook("crm"); !ok || got != &cfg.Webhooks[0] {
		t.Errorf("Webhook(crm) = %p, %v; want the first webhook", got, ok)
	}
	if _, ok := cfg.Webhook("nope"); ok {
		t.Error("Webhook(nope) found a webhook")
	}
	if s, ok := cfg.Source("sbc"); !ok || s.Listen != "127.0.0.1:9060" {
		t.Errorf("Source(sbc) = %+v, %v", s, ok)
	}
	if keys := w.SigningKeys(); len(keys) != 1 || len(keys[0]) != 24 {
		t.Errorf("SigningKeys() = %v, want one 24-byte key", keys)
	}
}

// TestExampleNoEnv loads the design's example with no variable set: it must
// load as written.
func TestExampleNoEnv(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, data, env())
	if cfg.AdminToken != "" || cfg.Sources[0].Token != "" || len(cfg.Webhooks[0].Secrets) != 0 {
		t.Errorf("unset variables did not expand to empty: %+v", cfg)
	}
}

func TestEmbeddedExample(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, config.Example, env())
	if !cfg.AllowPrivateTargets || cfg.Store != "sqlite://cdrgw.db" || cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("example: %+v", cfg)
	}
	if len(cfg.Sources) != 1 || cfg.Sources[0].Type != "teams" || cfg.Sources[0].Token != "" {
		t.Errorf("example sources: %+v", cfg.Sources)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].Spec.URL != "http://127.0.0.1:9999/cdr" || cfg.Webhooks[0].Spec.Encoding != "json" {
		t.Errorf("example webhooks: %+v", cfg.Webhooks)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, []byte("webhooks:\n  - {name: w, url: 'http://x.example/', events: [test]}\n"), env())
	want := config.Config{Store: "sqlite://cdrgw.db", Listen: "127.0.0.1:8080", ShutdownTimeout: 30 * time.Second, MaxBody: 1 << 20}
	got := *cfg
	got.Webhooks = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config defaults = %+v, want %+v", got, want)
	}
	w := cfg.Webhooks[0]
	if !w.Active || w.Timeout != 10*time.Second || w.Concurrency != 4 || w.FailingAfter != 5 ||
		w.Retry != (config.Retry{Attempts: 3, Schedule: "exponential", Interval: 30 * time.Second, MaxInterval: 10 * time.Minute, Jitter: 0.1}) {
		t.Errorf("webhook defaults = %+v", w)
	}
	empty := mustLoad(t, nil, env())
	if empty.Store != config.DefaultStore || len(empty.Webhooks) != 0 {
		t.Errorf("empty file = %+v", empty)
	}
}

// TestBad loads every testdata/bad/*.yaml and compares the whole error text
// with the .err golden file beside it.
func TestBad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(f)
			_, err = config.Load(data, name, env("ARI_PASSWORD", "hunter2"))
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.Line == 0 || e.File != name {
					t.Errorf("error without position or file: %#v", e)
				}
				if strings.Contains(e.Error(), "hunter2") || strings.Contains(e.Error(), "c2VjcmV0") {
					t.Errorf("error leaks a secret: %s", e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	lookup := env("A", "alpha", "EMPTY", "", "N", "7", "T", "true", "SPACE", "a b: c # d")
	tests := []struct {
		name, in, want string
	}{
		{"plain", "${A}", "alpha"},
		{"inside text", "x-${A}-y", "x-alpha-y"},
		{"unset is empty", "[${UNSET}]", "[]"},
		{"default when unset", "${UNSET:-dflt}", "dflt"},
		{"default when empty", "${EMPTY:-dflt}", "dflt"},
		{"default unused", "${A:-dflt}", "alpha"},
		{"escaped dollar", "$$", "$"},
		{"escaped variable", "$${A}", "${A}"},
		{"bare dollar kept", "$A and $", "$A and $"},
		{"value is not YAML", "${SPACE}", "a b: c # d"},
		{"two variables", "${A}${N}", "alpha7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, quote := range []string{`"`, `'`, ``} {
				if quote == "" && strings.HasPrefix(tt.in, "[") {
					continue
				}
				doc := "admin_token: " + quote + tt.in + quote + "\n"
				cfg, err := config.Load([]byte(doc), "", lookup)
				if err != nil {
					t.Fatalf("%s: %v", doc, err)
				}
				if cfg.AdminToken != tt.want {
					t.Errorf("%s gives %q, want %q", doc, cfg.AdminToken, tt.want)
				}
			}
		})
	}
}

func TestExpandInFlowMapping(t *testing.T) {
	t.Parallel()
	doc := "sources:\n  - {name: t, type: teams, token: ${TOK}}   # braces of ${} are not flow syntax\n  - {name: u, type: teams, token: ${NONE:-x}}\n"
	cfg := mustLoad(t, []byte(doc), env("TOK", "s3cret,}{"))
	if cfg.Sources[0].Token != "s3cret,}{" || cfg.Sources[1].Token != "x" {
		t.Errorf("tokens = %q, %q", cfg.Sources[0].Token, cfg.Sources[1].Token)
	}
}

// TestExpandTyped checks that an unquoted ${VAR} takes the type its key
// needs, and a quoted one stays a string.
func TestExpandTyped(t *testing.T) {
	t.Parallel()
	lookup := env("T", "true", "N", "7", "J", "0.5", "S", "abc")
	doc := "allow_private_targets: ${T}\nmax_body: ${N}\nwebhooks:\n  - {name: w, url: 'http://x.example/', events: [test], concurrency: ${N}, retry: {jitter: ${J}}, active: ${F:-false}}\n"
	cfg := mustLoad(t, []byte(doc), lookup)
	w := cfg.Webhooks[0]
	if !cfg.AllowPrivateTargets || cfg.MaxBody != 7 || w.Concurrency != 7 || w.Retry.Jitter != 0.5 || w.Active {
		t.Errorf("typed expansion: %+v %+v", cfg, w)
	}
	_, err := config.Load([]byte("allow_private_targets: \"${T}\"\n"), "", lookup)
	if err == nil || !strings.Contains(err.Error(), "allow_private_targets: must be a boolean, not a string") {
		t.Errorf("quoted ${T} error = %v", err)
	}
	_, err = config.Load([]byte("allow_private_targets: ${S}\n"), "", lookup)
	if err == nil || !strings.Contains(err.Error(), "allow_private_targets: must be a boolean") {
		t.Errorf("${S} error = %v", err)
	}
}

func TestKeysAreNotExpanded(t *testing.T) {
	t.Parallel()
	_, err := config.Load([]byte("${K}: 1\n"), "", env("K", "store"))
	if err == nil || !strings.Contains(err.Error(), `["${K}"]: unknown key`) {
		t.Errorf("error = %v, want ${K} reported as an unknown key", err)
	}
}

func TestAdminToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:80", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:8080", false},
		{"example.com:8080", false},
	}
	for _, tt := range tests {
		_, err := config.Load([]byte("listen: \""+tt.listen+"\"\n"), "", env())
		if (err == nil) != tt.ok {
			t.Errorf("listen %s without admin_token: error = %v, want ok=%v", tt.listen, err, tt.ok)
		}
		if !tt.ok {
			mustLoad(t, []byte("listen: \""+tt.listen+"\"\nadmin_token: x\n"), env())
		}
	}
}

func TestMaxBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{"'1024'", 1024, true},
		{"512KiB", 512 << 10, true},
		{"1MiB", 1 << 20, true},
		{"2 MB", 2_000_000, true},
		{"1GiB", 1 << 30, true},
		{"3K", 3 << 10, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"1.5MiB", 0, false},
		{"1TiB", 0, false},
		{"99999999999999999999GiB", 0, false},
		{"lots", 0, false},
	}
	for _, tt := range tests {
		cfg, err := config.Load([]byte("max_body: "+tt.in+"\n"), "", env())
		if (err == nil) != tt.ok {
			t.Errorf("max_body %s: error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && cfg.MaxBody != tt.want {
			t.Errorf("max_body %s = %d, want %d", tt.in, cfg.MaxBody, tt.want)
		}
	}
}

func TestErrorsAs(t *testing.T) {
	t.Parallel()
	_, err := config.Load([]byte("bogus: 1\nlisen: x\n"), "c.yaml", env())
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("errors.As(Errors) = %v, %v", errs, err)
	}
	var perrs *config.Errors
	if !errors.As(err, &perrs) || len(*perrs) != 2 {
		t.Fatalf("errors.As(*Errors) = %v", perrs)
	}
	var one *config.Error
	if !errors.As(err, &one) || one.Path != "bogus" || one.Line != 1 || one.Column != 1 {
		t.Fatalf("errors.As(*Error) = %#v", one)
	}
	if got, want := err.Error(), "c.yaml:1:1: bogus: unknown key\nc.yaml:2:1: lisen: unknown key (did you mean \"listen\"?)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e := &config.Error{Path: "x", Msg: "m"}
	if e.Error() != "x: m" {
		t.Errorf("Error without position = %q", e.Error())
	}
	e = &config.Error{Line: 3, Column: 4, Msg: "m"}
	if e.Error() != "3:4: m" {
		t.Errorf("Error without file = %q", e.Error())
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	t.Parallel()
	doc := `webhooks:
  - name: a
    url: https://a.example.com/
    events: [queue.ended]
    retry: &retry {attempts: 7, schedule: fixed}
    headers: &h
      X-A: '"a"'
  - name: b
    url: https://b.example.com/
    events: [queue.ended]
    retry:
      <<: *retry
      attempts: 2
    headers: *h
`
	cfg := mustLoad(t, []byte(doc), env())
	a, b := cfg.Webhooks[0], cfg.Webhooks[1]
	if a.Retry.Attempts != 7 || b.Retry.Attempts != 2 || b.Retry.Schedule != "fixed" {
		t.Errorf("retry a=%+v b=%+v", a.Retry, b.Retry)
	}
	if !slices.Equal(b.Spec.Headers, a.Spec.Headers) || len(b.Spec.Headers) != 1 {
		t.Errorf("headers a=%v b=%v", a.Spec.Headers, b.Spec.Headers)
	}
}

func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		prev := "*a" + string(rune('0'+i-1))
		if i > 9 {
			prev = "*a" + string(rune('a'+i-10))
		}
		name := string(rune('0' + i))
		if i > 9 {
			name = string(rune('a' + i - 10))
		}
		b.WriteString("a" + name + ": &a" + name + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	start := time.Now()
	_, err := config.Load([]byte(b.String()), "", env())
	if err == nil || !strings.Contains(err.Error(), "aliases are expanded") {
		t.Errorf("error = %v, want the alias limit", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestSyntaxError(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"a: [1, 2\n", "a: b\n---\nc: d\n", "\t- x\n", "a: \"\\q\"\n", "a: *nope\n", "x: \uE000\n"} {
		_, err := config.Load([]byte(doc), "f.yaml", env())
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Errorf("%q: error = %v, want config.Errors", doc, err)
		}
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	if _, err := config.LoadFile("testdata/nope.yaml"); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: %v", err)
	}
	_, err := config.LoadFile("testdata/bad/unknown_top.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/bad/unknown_top.yaml:2:1: lisen: ") {
		t.Errorf("LoadFile error = %v, want it to name the file", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/bad/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add(config.Example)
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("{x: ${A:-{}}}\n"))
	lookup := env("A", "1", "B", "true")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Load(data, "fuzz.yaml", lookup)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T %v is not a non-empty config.Errors", err, err)
		}
	})
}

func BenchmarkLoadExample(b *testing.B) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	lookup := env()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Load(data, "example.yaml", lookup); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadManyErrors(b *testing.B) {
	data, err := os.ReadFile("testdata/bad/many_errors.yaml")
	if err != nil {
		b.Fatal(err)
	}
	lookup := env()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Load(data, "many.yaml", lookup); err == nil {
			b.Fatal("no error")
		}
	}
}

func TestSourceKeys(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load([]byte(`
sources:
  - {name: pbx, type: ari, url: "http://127.0.0.1:8088", username: gw, app: cdrgw,
     ivr_contexts: ["ivr-*", menu], ivr_apps: [Read], ivr_variables: [IVR_CHOICE], keep_variables: [CUSTOMER_ID], max_call_duration: 2h}
  - {name: sbc, type: hep, listen: "127.0.0.1:9060", password: k, capture_ids: [2001, 7],
     local_networks: [10.0.0.0/8, "192.168.1.7", "::1"], local_domains: [pbx.example.com], max_dialogs: 1000}
  - {name: tap, type: sip, listen: "127.0.0.1:5060"}
`), "s.yaml", env())
	if err != nil {
		t.Fatal(err)
	}
	ari, hep, sip := cfg.Sources[0], cfg.Sources[1], cfg.Sources[2]
	if !reflect.DeepEqual(ari.IVRContexts, []string{"ivr-*", "menu"}) || !reflect.DeepEqual(ari.IVRApps, []string{"Read"}) ||
		!reflect.DeepEqual(ari.IVRVariables, []string{"IVR_CHOICE"}) || !reflect.DeepEqual(ari.KeepVariables, []string{"CUSTOMER_ID"}) ||
		ari.MaxCallDuration != 2*time.Hour || ari.MaxDialogs != 0 {
		t.Errorf("ari source = %+v", ari)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128")}
	if hep.Password != "k" || !reflect.DeepEqual(hep.CaptureIDs, []uint32{2001, 7}) || !reflect.DeepEqual(hep.LocalNetworks, wantNets) ||
		!reflect.DeepEqual(hep.LocalDomains, []string{"pbx.example.com"}) || hep.MaxDialogs != 1000 || hep.MaxCallDuration != config.DefaultMaxCallDuration {
		t.Errorf("hep source = %+v", hep)
	}
	if sip.MaxDialogs != config.DefaultMaxDialogs || sip.MaxCallDuration != config.DefaultMaxCallDuration {
		t.Errorf("sip source defaults = %+v", sip)
	}
}
