package config_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/mapping"
)

// recordingEnv is a fake environment that records the variables asked for.
type recordingEnv struct {
	mu    sync.Mutex
	vars  map[string]string
	asked []string
}

func (e *recordingEnv) lookup(name string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.asked = append(e.asked, name)
	v, ok := e.vars[name]
	return v, ok
}

func newRecordingEnv() *recordingEnv {
	return &recordingEnv{vars: map[string]string{
		"CRM_URL":     "https://crm.example.com/hook",
		"CRM_TOKEN":   "crm-tok-1",
		"CRM_SECRET":  "whsec_c2VjcmV0",
		"REGION1":     "eu",
		"DB_PASSWORD": "db-pa55",
	}}
}

// webhookEnv is the webhook_env of the run-time tests.
var webhookEnv = []string{"CRM_*", "REGION?"}

// A run-time webhook reads through ${VAR} and env() only the variables of
// webhook_env; every other one is refused when the definition loads and never
// looked up.
func TestParseRuntimeWebhookEnv(t *testing.T) {
	t.Parallel()
	const head = "name: crm\nevents: [call.ended]\n"
	tests := []struct {
		name    string
		data    string
		env     []string // webhook_env; nil is the default (none)
		want    []string // every error, formatted; none means it loads
		header  string   // with no error: the expected X-Value header of a render
		urlWant string   // with no error: the expected URL of a render
	}{
		{name: "allowed ${VAR} by glob", data: head + "url: ${CRM_URL}\n", env: webhookEnv, urlWant: "https://crm.example.com/hook"},
		{name: "allowed ${VAR} by ?", data: head + "url: https://x.example.com/${REGION1}\n", env: webhookEnv, urlWant: "https://x.example.com/eu"},
		{name: "allowed secret", data: head + "url: https://x.example.com/\nsecrets: [\"${CRM_SECRET}\"]\n", env: webhookEnv, urlWant: "https://x.example.com/"},
		{
			name: "refused ${VAR} in secrets",
			data: head + "url: https://x.example.com/\nsecrets: [\"${DB_PASSWORD}\"]\n", env: webhookEnv,
			want: []string{`4:11: secrets[0]: ${DB_PASSWORD}: not in webhook_env, the variables webhooks created at run time may read`},
		},
		{
			name: "refused ${VAR} with a default",
			data: head + "url: https://x.example.com/${DB_PASSWORD:-x}\n", env: webhookEnv,
			want: []string{`3:6: url: ${DB_PASSWORD}: not in webhook_env, the variables webhooks created at run time may read`},
		},
		{
			name: "default webhook_env refuses every variable",
			data: head + "url: ${CRM_URL}\n",
			want: []string{`3:6: url: ${CRM_URL}: not in webhook_env, the variables webhooks created at run time may read`},
		},
		{
			name: "refused ${VAR} in JSON",
			data: `{"name": "crm", "events": ["call.ended"], "url": "https://x.example.com/", "headers": {"X-Value": "\"${DB_PASSWORD}\""}}`, env: webhookEnv,
			want: []string{`1:99: headers.X-Value: ${DB_PASSWORD}: not in webhook_env, the variables webhooks created at run time may read`},
		},
		{name: "$${VAR} is a literal", data: head + "url: https://x.example.com/\nheaders: {X-Value: '\"$${DB_PASSWORD}\"'}\n", env: webhookEnv, header: "${DB_PASSWORD}"},
		{name: "allowed env()", data: head + "url: https://x.example.com/\nheaders: {X-Value: 'env(\"CRM_TOKEN\")'}\n", env: webhookEnv, header: "crm-tok-1"},
		{name: "allowed env() in a pipe", data: head + "url: https://x.example.com/\nheaders: {X-Value: '\"CRM_TOKEN\" | env()'}\n", env: webhookEnv, header: "crm-tok-1"},
		{
			name: "refused env()",
			data: head + "url: https://x.example.com/\nheaders: {X-Value: 'env(\"DB_PASSWORD\")'}\n", env: webhookEnv,
			want: []string{`4:20: headers.X-Value: line 1, column 5: env("DB_PASSWORD"): not in webhook_env, the variables webhooks created at run time may read`},
		},
		{
			name: "refused env() in a pipe",
			data: head + "url: https://x.example.com/\nparams:\n  p: '\"DB_PASSWORD\" | env() | upper()'\n", env: webhookEnv,
			want: []string{`5:6: params.p: line 1, column 1: env("DB_PASSWORD"): not in webhook_env, the variables webhooks created at run time may read`},
		},
		{
			name: "refused env() in when",
			data: head + "url: https://x.example.com/\nwhen: record.caller.number != env(\"DB_PASSWORD\")\n", env: webhookEnv,
			want: []string{`4:35: when: line 1, column 29: env("DB_PASSWORD"): not in webhook_env, the variables webhooks created at run time may read`},
		},
		{
			name: "refused env() in a URL template",
			data: head + "url: https://x.example.com/?k={{ env(\"DB_PASSWORD\") }}\n", env: webhookEnv,
			want: []string{`3:38: url: line 1, column 33: env("DB_PASSWORD"): not in webhook_env, the variables webhooks created at run time may read`},
		},
		{
			name: "refused env() nested, with another error",
			data: head + "url: https://x.example.com/\nparams:\n  p: 'upper(env(\"DB_PASSWORD\")) + record.nope'\n", env: webhookEnv,
			want: []string{`5:6: params.p: line 1, column 36: type cdr.Call has no field nope`,
				`5:6: params.p: line 1, column 11: env("DB_PASSWORD"): not in webhook_env, the variables webhooks created at run time may read`},
		},
		// A name computed at run time compiles, and reads "" when refused.
		{name: "computed env() name, refused", data: head + "url: https://x.example.com/\nheaders: {X-Value: 'env(\"DB_\" + \"PASSWORD\")'}\n", env: webhookEnv, header: ""},
		{name: "computed env() name, allowed", data: head + "url: https://x.example.com/\nheaders: {X-Value: 'env(\"CRM_\" + \"TOKEN\")'}\n", env: webhookEnv, header: "crm-tok-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRecordingEnv()
			w, err := config.ParseRuntimeWebhook([]byte(tt.data), tt.env, e.lookup)
			if slices.Contains(e.asked, "DB_PASSWORD") {
				t.Errorf("DB_PASSWORD was looked up (asked %v)", e.asked)
			}
			if len(tt.want) > 0 {
				if err == nil {
					t.Fatal("loaded, want an error")
				}
				es, ok := err.(config.Errors)
				if !ok {
					t.Fatalf("error %T %v, want config.Errors", err, err)
				}
				var got []string
				for _, x := range es {
					got = append(got, x.Error())
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
				if strings.Contains(err.Error(), "db-pa55") {
					t.Fatal("the error shows the variable's value")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req, err := w.Compiled.Render(mapping.SampleEvent("call.ended"), "d1")
			if err != nil {
				t.Fatal(err)
			}
			if tt.urlWant != "" && req.URL != tt.urlWant {
				t.Errorf("URL %q, want %q", req.URL, tt.urlWant)
			}
			if got := req.Header.Get("X-Value"); got != tt.header {
				t.Errorf("X-Value %q, want %q", got, tt.header)
			}
			if strings.Contains(req.URL+string(req.Body)+strings.Join(req.Header.Values("X-Value"), ""), "db-pa55") {
				t.Error("the request shows DB_PASSWORD")
			}
		})
	}
}

// ParseWebhook (trusted definitions) and the config file's webhooks may read
// any variable, whatever webhook_env says.
func TestConfigWebhooksReadAnyVariable(t *testing.T) {
	t.Parallel()
	e := newRecordingEnv()
	doc := "webhook_env: [CRM_*]\nwebhooks:\n  - name: crm\n    events: [call.ended]\n    url: https://x.example.com/${DB_PASSWORD}\n" +
		"    headers: {X-Value: 'env(\"DB_PASSWORD\")'}\n"
	cfg, err := config.Load([]byte(doc), "c.yaml", e.lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.WebhookEnv, []string{"CRM_*"}) {
		t.Errorf("WebhookEnv %q", cfg.WebhookEnv)
	}
	one := "name: crm\nevents: [call.ended]\nurl: https://x.example.com/${DB_PASSWORD}\nheaders: {X-Value: 'env(\"DB_PASSWORD\")'}\n"
	w, err := config.ParseWebhook([]byte(one), e.lookup)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []*config.Webhook{&cfg.Webhooks[0], w} {
		req, err := w.Compiled.Render(mapping.SampleEvent("call.ended"), "d1")
		if err != nil {
			t.Fatal(err)
		}
		if req.URL != "https://x.example.com/db-pa55" || req.Header.Get("X-Value") != "db-pa55" {
			t.Errorf("URL %q, X-Value %q", req.URL, req.Header.Get("X-Value"))
		}
	}
}

func TestWebhookEnvKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string // nil: loads
		env  []string
	}{
		{name: "default", doc: "listen: 127.0.0.1:8080\n"},
		{name: "names and patterns", doc: "webhook_env: [CRM_TOKEN, \"CRM_*\", REGION?, '*_PUBLIC']\n", env: []string{"CRM_TOKEN", "CRM_*", "REGION?", "*_PUBLIC"}},
		{name: "block list", doc: "webhook_env:\n  - A\n  - B_*\n", env: []string{"A", "B_*"}},
		{name: "bad pattern", doc: "webhook_env: [CRM-*, 'X[1]']\n", want: []string{
			`c.yaml:1:15: webhook_env[0]: "CRM-*" is not a variable name or pattern: use letters, digits and '_', with * for any run of characters and ? for one (CRM_*)`,
			`c.yaml:1:22: webhook_env[1]: "X[1]" is not a variable name or pattern: use letters, digits and '_', with * for any run of characters and ? for one (CRM_*)`,
		}},
		{name: "not a list", doc: "webhook_env: CRM_*\n", want: []string{`c.yaml:1:14: webhook_env: must be a list, not a string`}},
		{name: "not strings", doc: "webhook_env: [1]\n", want: []string{`c.yaml:1:15: webhook_env[0]: must be a string, not an integer`}},
		{name: "typo suggests the key", doc: "webhook_envs: [A]\n", want: []string{`c.yaml:1:1: webhook_envs: unknown key (did you mean "webhook_env"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load([]byte(tt.doc), "c.yaml", func(string) (string, bool) { return "", false })
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(cfg.WebhookEnv, tt.env) {
					t.Fatalf("WebhookEnv %q, want %q", cfg.WebhookEnv, tt.env)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// FuzzParseRuntimeWebhook: whatever the definition, a variable outside
// webhook_env is never looked up, and no request rendered from a definition
// that loads holds its value.
func FuzzParseRuntimeWebhook(f *testing.F) {
	f.Add([]byte("name: a\nurl: ${CRM_URL}\nevents: [call.ended]\nheaders: {X-A: 'env(\"CRM_TOKEN\")'}\n"))
	f.Add([]byte("name: a\nurl: https://a.example.com/${DB_PASSWORD:-x}\nevents: [call.ended]\n"))
	f.Add([]byte(`{"name": "a", "url": "https://a.example.com/?k={{ env('DB_PASS' + 'WORD') }}", "events": ["call.ended", "queue.ended"],` +
		` "params": {"p": "\"DB_PASSWORD\" | env()", "q": "env(record.caller.number)"}, "when": "env(\"REGION1\") != \"\""}`))
	allowed := func(name string) bool {
		return strings.HasPrefix(name, "CRM_") || (len(name) == 7 && strings.HasPrefix(name, "REGION"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newRecordingEnv()
		w, err := config.ParseRuntimeWebhook(data, webhookEnv, e.lookup)
		check := func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, name := range e.asked {
				if !allowed(name) {
					t.Fatalf("looked up %q, outside webhook_env", name)
				}
			}
		}
		check()
		if err != nil {
			return
		}
		for _, et := range w.Spec.Events {
			req, err := w.Compiled.Render(mapping.SampleEvent(et), "d1")
			check()
			if err != nil {
				continue
			}
			all := req.URL + string(req.Body)
			for _, vs := range req.Header {
				all += strings.Join(vs, "")
			}
			if strings.Contains(all, "db-pa55") {
				t.Fatalf("request holds DB_PASSWORD's value: %s", all)
			}
		}
	})
}
