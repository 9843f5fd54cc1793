package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cdrgw/cdrgw/api"
	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/ingest"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/sqlite"
)

const token = "s3cret-token"

// fakeEngine is the delivery engine as the set and the admin API drive it.
type fakeEngine struct {
	mu    sync.Mutex
	order []string
	hooks map[string]delivery.Webhook
}

func (f *fakeEngine) PutWebhook(_ context.Context, w delivery.Webhook) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.hooks[w.Name]; !ok {
		f.order = append(f.order, w.Name)
	}
	f.hooks[w.Name] = w
	return nil
}

func (f *fakeEngine) RemoveWebhook(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.hooks[name]; !ok {
		return fmt.Errorf("remove %q: %w", name, delivery.ErrUnknownWebhook)
	}
	delete(f.hooks, name)
	f.order = slices.DeleteFunc(f.order, func(n string) bool { return n == name })
	return nil
}

func (f *fakeEngine) TestWebhook(_ context.Context, w delivery.Webhook, ev cdr.Event) (delivery.ManualAttempt, error) {
	req, err := w.Renderer.Render(ev, "test-id")
	if errors.Is(err, mapping.ErrSkipped) {
		return delivery.ManualAttempt{}, fmt.Errorf("%w: %w", delivery.ErrSampleSkipped, err)
	}
	if err != nil {
		return delivery.ManualAttempt{}, err
	}
	return delivery.ManualAttempt{OK: true, EventID: ev.ID, EventType: ev.Type, Attempt: store.Attempt{DeliveryID: "test-id", N: 1, Manual: true,
		Request:  store.HTTPRequest{Method: req.Method, URL: req.URL, Body: string(req.Body)},
		Response: &store.HTTPResponse{Status: 200}}}, nil
}

func (f *fakeEngine) Webhooks() []delivery.WebhookInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []delivery.WebhookInfo
	for _, n := range f.order {
		out = append(out, info(f.hooks[n]))
	}
	return out
}

func (f *fakeEngine) Webhook(name string) (delivery.WebhookInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.hooks[name]
	if !ok {
		return delivery.WebhookInfo{}, false
	}
	return info(w), true
}

func info(w delivery.Webhook) delivery.WebhookInfo {
	sp := w.Renderer.(interface{ Spec() mapping.Spec }).Spec()
	return delivery.WebhookInfo{Name: w.Name, Active: w.Active, Events: sp.Events, Encoding: "json", URL: sp.URL}
}

func (f *fakeEngine) SetPaused(context.Context, string, bool) error { return nil }
func (f *fakeEngine) Resend(context.Context, string) (delivery.ManualAttempt, error) {
	return delivery.ManualAttempt{}, errors.New("not used")
}
func (f *fakeEngine) TestSend(context.Context, string) (delivery.ManualAttempt, error) {
	return delivery.ManualAttempt{}, errors.New("not used")
}

type fakeEvents struct{ got store.EventFilter }

func (f *fakeEvents) ListEvents(_ context.Context, fl store.EventFilter) ([]store.EventSummary, string, error) {
	f.got = fl
	return []store.EventSummary{{Seq: 7, ID: "e1", Type: cdr.TypeCallEnded, CallID: fl.CallID, CallerNumber: fl.CallerNumber}}, "s7", nil
}

const cfgYAML = `
webhooks:
  - name: from-file
    url: https://file.example.com/hook
    events: [queue.ended]
`

type fixture struct {
	token  string // the admin token, "" for an open API
	srv    *httptest.Server
	st     *sqlite.Store
	eng    *fakeEngine
	events *fakeEvents
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureToken(t, token)
}

// newFixtureToken is newFixture with the admin token tok ("" for an open API).
func newFixtureToken(t *testing.T, tok string) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cdrgw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, err := config.Load([]byte(cfgYAML), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{hooks: map[string]delivery.Webhook{}}
	hooks, err := webhookset.EngineWebhooks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		eng.PutWebhook(ctx, h)
	}
	// A stored webhook that does not load here.
	if err := st.PutWebhook(ctx, store.StoredWebhook{Name: "broken",
		Spec: []byte(`{"name": "broken", "url": "${CDRGW_TEST_UNSET_9}", "events": ["call.ended"]}`)}); err != nil {
		t.Fatal(err)
	}
	set := webhookset.New(cfg, st, eng, nil)
	if err := set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	board := ingest.NewBoard(nil)
	board.Register("pbx1", "ari")
	board.For("pbx1").Disconnected(errors.New("dial tcp 127.0.0.1:8088: connection refused"))
	events := &fakeEvents{}
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console "+r.URL.Path) })
	h := api.NewHandler(api.Options{Store: st, Operator: eng, Deliveries: st, AdminToken: tok,
		Webhooks: set, Sources: board, Events: events, Console: console})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{token: tok, srv: srv, st: st, eng: eng, events: events}
}

// do sends a request with the admin token and decodes a JSON answer into out.
func (f *fixture) do(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

const crmSpec = `{"name": "crm", "url": "https://crm.example.com/calls", "events": ["call.ended"],
"params": {"id": "record.call_id", "caller": "record.caller.number"}, "secrets": ["whsec_c2VjcmV0"]}`

func TestWebhookCRUD(t *testing.T) {
	f := newFixture(t)

	var created api.WebhookDetail
	if code := f.do(t, "POST", "/api/webhooks", crmSpec, &created); code != http.StatusCreated {
		t.Fatalf("create: %d %+v", code, created)
	}
	if created.Name != "crm" || created.ReadOnly || created.URL != "https://crm.example.com/calls" ||
		created.CreatedAt == nil || len(created.Spec.Params) != 2 || created.Spec.Params[0].Name != "id" ||
		!slices.Equal(created.Spec.Secrets, []string{webhookset.Hidden}) {
		t.Errorf("created %+v", created)
	}
	if _, ok := f.eng.Webhook("crm"); !ok {
		t.Error("created webhook not in the engine")
	}

	var list []api.WebhookJSON
	if code := f.do(t, "GET", "/api/webhooks", "", &list); code != http.StatusOK {
		t.Fatalf("list: %d", code)
	}
	var got []string
	for _, w := range list {
		got = append(got, fmt.Sprintf("%s ro=%v err=%v", w.Name, w.ReadOnly, w.Error != ""))
	}
	if want := []string{"from-file ro=true err=false", "crm ro=false err=false", "broken ro=false err=true"}; !slices.Equal(got, want) {
		t.Errorf("list %q, want %q", got, want)
	}

	var one api.WebhookDetail
	if code := f.do(t, "GET", "/api/webhooks/from-file", "", &one); code != http.StatusOK || !one.ReadOnly || one.Spec.URL != "https://file.example.com/hook" || one.CreatedAt != nil {
		t.Errorf("get from-file: %d %+v", code, one)
	}
	if code := f.do(t, "GET", "/api/webhooks/broken", "", &one); code != http.StatusOK || !strings.Contains(one.Error, "url") {
		t.Errorf("get broken: %d %+v", code, one)
	}

	var e api.ErrorJSON
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/webhooks/nope", "", http.StatusNotFound},
		{"POST", "/api/webhooks", crmSpec, http.StatusConflict},
		{"POST", "/api/webhooks", strings.Replace(crmSpec, `"crm"`, `"from-file"`, 1), http.StatusConflict},
		{"POST", "/api/webhooks", "", http.StatusBadRequest},
		{"PUT", "/api/webhooks/from-file", strings.Replace(crmSpec, `"crm"`, `"from-file"`, 1), http.StatusForbidden},
		{"PUT", "/api/webhooks/nope", strings.Replace(crmSpec, `"crm"`, `"nope"`, 1), http.StatusNotFound},
		{"DELETE", "/api/webhooks/from-file", "", http.StatusForbidden},
		{"DELETE", "/api/webhooks/nope", "", http.StatusNotFound},
	} {
		e = api.ErrorJSON{}
		if code := f.do(t, tc.method, tc.path, tc.body, &e); code != tc.want || e.Error == "" {
			t.Errorf("%s %s: %d %q, want %d with an error", tc.method, tc.path, code, e.Error, tc.want)
		}
	}

	// Update keeps the hidden secret and changes the URL.
	upd := strings.Replace(strings.Replace(crmSpec, "/calls", "/v2/calls", 1), "whsec_c2VjcmV0", webhookset.Hidden, 1)
	var updated api.WebhookDetail
	if code := f.do(t, "PUT", "/api/webhooks/crm", upd, &updated); code != http.StatusOK || updated.URL != "https://crm.example.com/v2/calls" {
		t.Fatalf("update: %d %+v", code, updated)
	}
	if w, _ := f.eng.hooks["crm"]; w.Signer.Len() != 1 {
		t.Error("update lost the secret")
	}
	stored, _ := f.st.ListWebhooks(t.Context())
	if i := slices.IndexFunc(stored, func(s store.StoredWebhook) bool { return s.Name == "crm" }); i < 0 || !strings.Contains(string(stored[i].Spec), "whsec_c2VjcmV0") {
		t.Errorf("stored spec lost the secret: %v", stored)
	}

	if code := f.do(t, "DELETE", "/api/webhooks/crm", "", nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if _, ok := f.eng.Webhook("crm"); ok {
		t.Error("deleted webhook still in the engine")
	}
	if code := f.do(t, "GET", "/api/webhooks/crm", "", nil); code != http.StatusNotFound {
		t.Errorf("get deleted: %d", code)
	}
}

func TestWebhookSpecErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path, body string
		want                     []api.FieldError
	}{
		{"wrong field name", "POST", "/api/webhooks",
			"{\"name\": \"crm\", \"url\": \"https://crm.example.com/\", \"events\": [\"call.ended\"],\n\"params\": {\"src\": \"record.recrd\"}}",
			[]api.FieldError{{Path: "params.src", Line: 2, Column: 27, Message: "line 1, column 8: type cdr.Call has no field recrd"}}},
		{"unknown key", "POST", "/api/webhooks",
			`{"name": "crm", "url": "https://crm.example.com/", "events": ["call.ended"], "retyr": {}}`,
			[]api.FieldError{{Path: "retyr", Line: 1, Column: 78, Message: `unknown key (did you mean "retry"?)`}}},
		{"YAML is not stored", "POST", "/api/webhooks",
			"name: crm\nurl: https://crm.example.com/\nevents: [call.ended]\n",
			[]api.FieldError{{Line: 1, Column: 1, Message: "a webhook is stored as JSON: invalid character 'a' in literal null (expecting 'u')"}}},
		{"rename", "PUT", "/api/webhooks/broken",
			`{"name": "other", "url": "https://crm.example.com/", "events": ["call.ended"]}`,
			[]api.FieldError{{Path: "name", Message: `"other" is not the name of the webhook being updated, "broken": a webhook cannot be renamed (create one and delete this one)`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got api.SpecErrorJSON
			if code := f.do(t, tt.method, tt.path, tt.body, &got); code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %+v", code, got)
			}
			if !slices.Equal(got.Errors, tt.want) || got.Error == "" {
				t.Errorf("errors %+v (%q), want %+v", got.Errors, got.Error, tt.want)
			}
		})
	}
}

func TestPreview(t *testing.T) {
	f := newFixture(t)
	ev := mapping.SampleEvent(cdr.TypeCallEnded)
	ev.ID = "stored-1"
	if _, err := f.st.Accept(t.Context(), []store.NewEvent{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	call := ev.Record.(*cdr.Call)
	body := func(extra string) string { return `{"spec": ` + crmSpec + extra + `}` }

	var p api.PreviewJSON
	if code := f.do(t, "POST", "/api/preview", body(""), &p); code != http.StatusOK {
		t.Fatalf("preview: %d", code)
	}
	var sent map[string]string
	if err := json.Unmarshal([]byte(p.Request.Body), &sent); err != nil {
		t.Fatalf("body %q: %v", p.Request.Body, err)
	}
	if p.EventType != cdr.TypeCallEnded || p.Request.Method != "POST" || p.Request.URL != "https://crm.example.com/calls" ||
		sent["id"] != call.CallID || sent["caller"] != call.Caller.Number || p.Request.Headers["Content-Type"] == "" {
		t.Errorf("preview %+v", p)
	}
	if code := f.do(t, "POST", "/api/preview", body(`, "event_id": "stored-1"`), &p); code != http.StatusOK || p.EventID != "stored-1" {
		t.Errorf("preview of a stored event: %d %+v", code, p)
	}
	// The spec may be YAML text in a JSON string.
	yaml, _ := json.Marshal("name: y\nurl: https://y.example.com/\nevents: [queue.ended]\nparams:\n  q: record.queue.name\n")
	if code := f.do(t, "POST", "/api/preview", `{"spec": `+string(yaml)+`}`, &p); code != http.StatusOK || p.EventType != cdr.TypeQueueEnded {
		t.Errorf("YAML preview: %d %+v", code, p)
	}

	var se api.SpecErrorJSON
	if code := f.do(t, "POST", "/api/preview", `{"spec": {"name": "x", "url": "https://x.example.com/", "events": ["call.ended"], "params": {"a": "record.nme"}}}`, &se); code != http.StatusBadRequest ||
		len(se.Errors) != 1 || se.Errors[0].Path != "params.a" || se.Errors[0].Line != 1 || !strings.Contains(se.Errors[0].Message, "line 1, column 8") {
		t.Errorf("bad spec: %d %+v", code, se)
	}
	var e api.ErrorJSON
	for _, tc := range []struct {
		body string
		want int
	}{
		{body(`, "sample": "queue.ended"`), http.StatusUnprocessableEntity}, // not subscribed
		{`{"spec": ` + strings.Replace(crmSpec, `"events"`, `"when": "record.billsec > 100000", "events"`, 1) + `}`, http.StatusUnprocessableEntity},
		{body(`, "sample": "call.nope"`), http.StatusBadRequest},
		{body(`, "event_id": "nope"`), http.StatusNotFound},
		{`{"sample": "call.ended"}`, http.StatusBadRequest},
		{`{"spec": {}, "bogus": 1}`, http.StatusBadRequest},
	} {
		e = api.ErrorJSON{}
		if code := f.do(t, "POST", "/api/preview", tc.body, &e); code != tc.want || e.Error == "" {
			t.Errorf("%s: %d %q, want %d", tc.body, code, e.Error, tc.want)
		}
	}

	var m api.AttemptJSON
	if code := f.do(t, "POST", "/api/preview/send", body(""), &m); code != http.StatusOK || !m.OK || m.EventType != cdr.TypeCallEnded ||
		!strings.Contains(m.Request.Body, call.CallID) {
		t.Errorf("send: %d %+v", code, m)
	}
	if code := f.do(t, "POST", "/api/preview/send", body(`, "sample": "queue.ended"`), &e); code != http.StatusUnprocessableEntity {
		t.Errorf("send of an unsubscribed sample: %d %+v", code, e)
	}
}

func TestSourcesAndEvents(t *testing.T) {
	f := newFixture(t)
	var srcs []api.SourceJSON
	if code := f.do(t, "GET", "/api/sources", "", &srcs); code != http.StatusOK || len(srcs) != 1 {
		t.Fatalf("sources: %d %+v", code, srcs)
	}
	if s := srcs[0]; s.Name != "pbx1" || s.Kind != "ari" || s.Connected || !strings.Contains(s.LastError, "connection refused") || s.LastErrorAt == nil {
		t.Errorf("source %+v", s)
	}
	var page api.EventPage
	if code := f.do(t, "GET", "/api/events?caller=%2B380441234567&call_id=c1&type=App.QueueWebhook&limit=5", "", &page); code != http.StatusOK ||
		len(page.Items) != 1 || page.NextCursor != "s7" {
		t.Fatalf("events: %d %+v", code, page)
	}
	if want := (store.EventFilter{CallerNumber: "+380441234567", CallID: "c1", Type: cdr.TypeQueueEnded, Limit: 5}); f.events.got != want {
		t.Errorf("filter %+v, want %+v", f.events.got, want)
	}
	var e api.ErrorJSON
	for _, q := range []string{"callr=1", "type=x", "limit=0", "since=yesterday", "cursor=zz"} {
		if code := f.do(t, "GET", "/api/events?"+q, "", &e); code != http.StatusBadRequest {
			t.Errorf("events?%s: %d, want 400", q, code)
		}
	}
}

func TestConsoleMount(t *testing.T) {
	f := newFixture(t)
	get := func(path string, auth bool) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", f.srv.URL+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path    string
		auth    bool
		code    int
		console bool
	}{
		{"/", false, 200, true},
		{"/webhooks/crm/edit", false, 200, true},
		{"/healthz", false, 200, false},
		{"/api/webhooks", false, 401, false},
		{"/api/nope", true, 404, false},
	} {
		code, body := get(tc.path, tc.auth)
		if code != tc.code || strings.HasPrefix(body, "console ") != tc.console {
			t.Errorf("GET %s: %d %q", tc.path, code, body)
		}
	}
}

func TestWebhookEndpointsNeedToken(t *testing.T) {
	f := newFixture(t)
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/webhooks"}, {"PUT", "/api/webhooks/crm"}, {"DELETE", "/api/webhooks/crm"}, {"GET", "/api/webhooks/crm"},
		{"POST", "/api/preview"}, {"POST", "/api/preview/send"}, {"GET", "/api/sources"}, {"GET", "/api/events"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), r.method, f.srv.URL+r.path, strings.NewReader(crmSpec))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", r.method, r.path, resp.StatusCode)
		}
	}
	if _, ok := f.eng.Webhook("crm"); ok {
		t.Error("a request without a token created a webhook")
	}
}

// The API's answers hide credentials: the URL's userinfo and secret query
// values, sensitive headers, secrets; a PUT of the definition as shown
// keeps them.
func TestAnswersHideCredentials(t *testing.T) {
	f := newFixture(t)
	const u = "https://gw:pa55w0rd@crm.example.com/calls?api_key=k3y-123"
	spec := `{"name": "crm", "url": "` + u + `", "events": ["call.ended"], "params": {"id": "record.call_id"},
		"headers": {"Authorization": "\"Bearer tok-123\"", "X-Id": "record.call_id"}, "secrets": ["whsec_c2VjcmV0"]}`
	secrets := []string{"pa55w0rd", "k3y-123", "tok-123", "whsec_c2VjcmV0"}
	shows := func(what string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s shows %q: %s", what, s, b)
			}
		}
	}
	var d api.WebhookDetail
	if code := f.do(t, "POST", "/api/webhooks", spec, &d); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	shows("POST /api/webhooks", d)
	d = api.WebhookDetail{}
	f.do(t, "GET", "/api/webhooks/crm", "", &d)
	shows("GET /api/webhooks/crm", d)

	var p api.PreviewJSON
	if code := f.do(t, "POST", "/api/preview", `{"spec": `+spec+`}`, &p); code != http.StatusOK {
		t.Fatalf("preview: %d", code)
	}
	shows("POST /api/preview", p)
	if p.Request.Headers["X-Id"] == "" || !strings.HasPrefix(p.Request.URL, "https://") {
		t.Errorf("preview hides too much: %+v", p.Request)
	}

	var m api.AttemptJSON
	if code := f.do(t, "POST", "/api/preview/send", `{"spec": `+spec+`}`, &m); code != http.StatusOK {
		t.Fatalf("preview/send: %d", code)
	}
	if strings.Contains(m.Request.URL, "pa55w0rd") || strings.Contains(m.Request.URL, "k3y-123") {
		t.Errorf("POST /api/preview/send shows the URL's credentials: %s", m.Request.URL)
	}

	// The definition as shown, sent back with a change, keeps the hidden values.
	d.Spec.Timeout = "4s"
	body, _ := json.Marshal(d.Spec)
	if code := f.do(t, "PUT", "/api/webhooks/crm", string(body), &d); code != http.StatusOK {
		t.Fatalf("put: %d %+v", code, d)
	}
	w := f.eng.hooks["crm"]
	req, err := w.Renderer.Render(mapping.SampleEvent(cdr.TypeCallEnded), "x")
	if err != nil {
		t.Fatal(err)
	}
	if req.URL != u || req.Header.Get("Authorization") != "Bearer tok-123" || w.Timeout.String() != "4s" || w.Signer.Len() != 1 {
		t.Errorf("after PUT: URL %q, Authorization %q, timeout %s, %d secrets", req.URL, req.Header.Get("Authorization"), w.Timeout, w.Signer.Len())
	}
}

// Without an admin token (loopback only) the API is open: a web page must
// not be able to change webhooks through the visitor's browser (a form or
// a no-cors fetch sends a text/plain body without a preflight).
func TestOpenAPIRefusesCrossSiteWrites(t *testing.T) {
	f := newFixtureToken(t, "")
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/api/webhooks", crmSpec}, {"PUT", "/api/webhooks/crm", crmSpec}, {"DELETE", "/api/webhooks/crm", ""},
		{"POST", "/api/preview", `{"spec": ` + crmSpec + `}`}, {"POST", "/api/preview/send", `{"spec": ` + crmSpec + `}`},
	} {
		for _, h := range [][2]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}} {
			req, _ := http.NewRequestWithContext(t.Context(), r.method, f.srv.URL+r.path, strings.NewReader(r.body))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set(h[0], h[1])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with %s: %s: %d, want 403", r.method, r.path, h[0], h[1], resp.StatusCode)
			}
		}
	}
	if _, ok := f.eng.Webhook("crm"); ok {
		t.Error("a cross-site request created a webhook")
	}
	// A client that is not a browser (no Origin, no Sec-Fetch-Site) works.
	if code := f.do(t, "POST", "/api/webhooks", crmSpec, nil); code != http.StatusCreated {
		t.Errorf("create without a browser's headers: %d", code)
	}
}

// Without an admin token the webhook endpoints answer only requests
// addressed to a loopback host: a page whose DNS name is rebound to
// 127.0.0.1 is same-origin to the browser, so only the Host tells it.
func TestOpenAPIRefusesForeignHost(t *testing.T) {
	for _, tok := range []string{"", token} {
		f := newFixtureToken(t, tok)
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/api/webhooks", crmSpec}, {"GET", "/api/webhooks/from-file", ""},
			{"POST", "/api/preview", `{"spec": ` + crmSpec + `}`}, {"GET", "/api/sources", ""},
		} {
			req, _ := http.NewRequestWithContext(t.Context(), r.method, f.srv.URL+r.path, strings.NewReader(r.body))
			req.Host = "rebound.evil.example"
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if wantCode := http.StatusMisdirectedRequest; (tok == "") != (resp.StatusCode == wantCode) {
				t.Errorf("token %q: %s %s for Host rebound.evil.example: %d", tok, r.method, r.path, resp.StatusCode)
			}
		}
		if _, ok := f.eng.Webhook("crm"); ok == (tok == "") {
			t.Errorf("token %q: webhook created: %v", tok, ok)
		}
	}
}
