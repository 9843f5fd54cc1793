package webhookset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// Webhooks created at run time read through ${VAR} and env() only the
// variables of webhook_env: whoever holds the admin token cannot read the
// gateway's other variables through a create, a preview or a test send.
// (Not parallel: t.Setenv.)
func TestRuntimeWebhookEnv(t *testing.T) {
	t.Setenv("CDRGW_T7_CRM_TOKEN", "crm-tok-1")
	t.Setenv("CDRGW_T7_DB_PASSWORD", "db-pa55")
	const envYAML = "webhook_env: [CDRGW_T7_CRM_*]\n"
	const refused = "not in webhook_env, the variables webhooks created at run time may read"
	tests := []struct {
		name   string
		extra  string // added to the spec
		path   string // the error's path; "" when the spec loads
		msg    string // the error's message
		header string // when it loads: the X-Value header of the preview
	}{
		{name: "allowed ${VAR}", extra: `"headers": {"X-Value": "\"${CDRGW_T7_CRM_TOKEN}\""}`, header: "crm-tok-1"},
		{name: "allowed env()", extra: `"headers": {"X-Value": "env(\"CDRGW_T7_CRM_TOKEN\")"}`, header: "crm-tok-1"},
		{name: "refused ${VAR} in secrets", extra: `"secrets": ["${CDRGW_T7_DB_PASSWORD}"]`,
			path: "secrets[0]", msg: "${CDRGW_T7_DB_PASSWORD}: " + refused},
		{name: "refused ${VAR} in a header", extra: `"headers": {"X-Value": "\"${CDRGW_T7_DB_PASSWORD}\""}`,
			path: "headers.X-Value", msg: "${CDRGW_T7_DB_PASSWORD}: " + refused},
		{name: "refused env()", extra: `"headers": {"X-Value": "env(\"CDRGW_T7_DB_PASSWORD\")"}`,
			path: "headers.X-Value", msg: `line 1, column 5: env("CDRGW_T7_DB_PASSWORD"): ` + refused},
		{name: "refused env() of a computed name reads nothing", extra: `"headers": {"X-Value": "env(\"CDRGW_T7_DB_\" + \"PASSWORD\")"}`, header: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newFakeEngine()
			set := webhookset.New(mustConfig(t, envYAML), backends(t)[0].open(t), eng, nil)
			if err := set.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			sp := spec("crm", "https://crm.example.com/", tt.extra)
			checkErr := func(what string, err error) {
				t.Helper()
				var es config.Errors
				if !errors.As(err, &es) || len(es) != 1 || es[0].Path != tt.path || es[0].Msg != tt.msg {
					t.Fatalf("%s: error %v, want %s: %s", what, err, tt.path, tt.msg)
				}
				if strings.Contains(err.Error(), "db-pa55") {
					t.Fatalf("%s: the error shows the variable's value", what)
				}
			}
			w, err := set.Compile(sp) // the preview
			if tt.path != "" {
				checkErr("preview", err)
				_, err = set.Test(t.Context(), sp, mapping.SampleEvent("call.ended"))
				checkErr("test send", err)
				_, err = set.Create(t.Context(), sp)
				checkErr("create", err)
				if len(eng.tested) != 0 || len(eng.names()) != 0 {
					t.Fatalf("the engine got a refused webhook: tested %d, runs %v", len(eng.tested), eng.names())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req, err := webhookset.Preview(w, mapping.SampleEvent("call.ended"))
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Header.Get("X-Value"); got != tt.header {
				t.Fatalf("X-Value %q, want %q", got, tt.header)
			}
			if _, err := set.Create(t.Context(), sp); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A stored webhook that reads a variable outside webhook_env (written to the
// store before webhook_env was narrowed, or by a gateway with a wider one)
// does not load; it is listed with the reason.
func TestStoredWebhookOutsideWebhookEnv(t *testing.T) {
	t.Setenv("CDRGW_T7_DB_PASSWORD", "db-pa55")
	st := backends(t)[0].open(t)
	if err := st.PutWebhook(t.Context(), store.StoredWebhook{Name: "leak",
		Spec: spec("leak", "https://crm.example.com/", `"headers": {"X-P": "env(\"CDRGW_T7_DB_PASSWORD\")"}`)}); err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine()
	set := webhookset.New(mustConfig(t, "webhook_env: [CDRGW_T7_CRM_*]\n"), st, eng, nil)
	if err := set.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	e, ok := set.Get("leak")
	want := `headers.X-P: line 1, column 5: env("CDRGW_T7_DB_PASSWORD"): not in webhook_env`
	if !ok || e.Webhook != nil || !strings.Contains(e.Err, want) {
		t.Fatalf("entry %+v, want Err with %q", e, want)
	}
	if len(eng.names()) != 0 {
		t.Fatalf("engine runs %v", eng.names())
	}
}
