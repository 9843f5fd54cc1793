package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// queueEvent is a stored-looking queue.ended event.
func queueEvent(i int, callID, caller string) cdr.Event {
	ev := mapping.SampleEvent(cdr.TypeQueueEnded)
	q := *ev.Record.(*cdr.Queue)
	q.ID = fmt.Sprintf("teams:queue:%s", callID)
	q.CallID = callID
	q.Caller.Number = caller
	q.Wait = i
	return cdr.NewEvent(cdr.TypeQueueEnded, ev.Time.Add(time.Duration(i)*time.Second), ev.Source, &q)
}

func storeFilterEvent(id string) store.Filter { return store.Filter{EventID: id} }

func row(r *resp, webhook string) func(string) string {
	tr := find(r.Doc, el("tr", "data-webhook", webhook))
	return func(class string) string {
		if tr == nil {
			return "<no row>"
		}
		return text(find(tr, el("td", "class", class)))
	}
}

func TestWebhooksPage(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	// Attempts in the last hours for the sparkline and the health figures.
	b.acceptEvents(queueEvent(1, "spark-1", "+15550001"), queueEvent(2, "spark-2", "+15550002"))
	ds, _, err := b.st.ListDeliveries(t.Context(), store.Filter{Webhook: "crm"})
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries: %v, %v", ds, err)
	}
	now := time.Now().UTC()
	for i, a := range []struct {
		ago    time.Duration
		status int
	}{{3 * time.Hour, 200}, {3 * time.Hour, 200}, {3 * time.Hour, 500}, {time.Hour / 2, 200}, {30 * time.Hour, 200}} {
		at := store.Attempt{DeliveryID: ds[i%2].ID, At: now.Add(-a.ago), Manual: true, LatencyMS: 12,
			Response: &store.HTTPResponse{Status: a.status}, Request: store.HTTPRequest{Method: "POST", URL: "http://x"}}
		if err := b.st.AddAttempt(t.Context(), at, a.status == 200); err != nil {
			t.Fatal(err)
		}
	}

	r := b.get("/webhooks")
	want(t, r, http.StatusOK)
	if find(r.Doc, el("table", "id", "webhooks")) == nil || find(r.Doc, el("a", "id", "new-webhook")) == nil {
		t.Fatalf("/webhooks lacks table#webhooks or a#new-webhook")
	}
	crm := row(r, "crm")
	if got := crm("status"); got != "active" {
		t.Errorf("crm td.status %q, want active", got)
	}
	if got := crm("events"); got != "queue.ended, call.ended" {
		t.Errorf("crm events %q", got)
	}
	if got := crm("encoding"); got != "json" {
		t.Errorf("crm encoding %q", got)
	}
	if got := crm("success-rate"); got != "—" {
		t.Errorf("crm td.success-rate %q before any engine attempt, want —", got)
	}
	tr := find(r.Doc, el("tr", "data-webhook", "crm"))
	if find(tr, el("", "class", "read-only")) == nil {
		t.Errorf("config webhook crm is not marked .read-only")
	}
	if find(tr, el("a", "class", "edit")) == nil || find(tr, el("form", "class", "pause")) == nil {
		t.Errorf("crm row lacks a.edit or form.pause")
	}
	if strings.Contains(r.Body, urlPassword) || strings.Contains(r.Body, "k3y") || strings.Contains(r.Body, configSecret) {
		t.Errorf("/webhooks shows a secret of the URL or the signing secret")
	}
	if u := crm("url"); !strings.Contains(u, b.rcv.Listener.Addr().String()+"/crm") {
		t.Errorf("crm URL %q does not show the host and path", u)
	}
	// Sparkline: 3 h ago 2 ok + 1 failed, 30 min ago 1 ok; 30 h ago is out.
	svg := find(tr, el("svg", "class", "spark"))
	if svg == nil {
		t.Fatalf("crm row has no sparkline")
	}
	if got := attr(svg, "aria-label"); got != "last 24 hours: 3 ok, 1 failed" {
		t.Errorf("sparkline label %q", got)
	}
	if n := len(findAll(svg, el("rect", "class", "spark-bg"))); n != 24 {
		t.Errorf("sparkline has %d hourly bars, want 24", n)
	}
	if n := len(findAll(svg, el("rect", "class", "spark-fail"))); n != 1 {
		t.Errorf("sparkline has %d failed bars, want 1", n)
	}

	// Pause and resume.
	r = b.follow(b.post("/webhooks/crm/pause", nil))
	if got := row(r, "crm")("status"); got != "paused" {
		t.Errorf("after pause td.status %q", got)
	}
	if find(r.Doc, el("form", "class", "resume")) == nil {
		t.Errorf("a paused webhook has no form.resume")
	}
	if got := texts(r.Doc, el("p", "class", "flash")); len(got) != 1 || got[0] != "Webhook crm paused." {
		t.Errorf("flash %q", got)
	}
	r = b.follow(b.post("/webhooks/crm/resume", nil))
	if got := row(r, "crm")("status"); got != "active" {
		t.Errorf("after resume td.status %q", got)
	}
	if r := b.post("/webhooks/nope/pause", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("pause of an unknown webhook: status %d, want 404", r.StatusCode)
	}
}

// editorForm is a complete editor form for a stored webhook.
func editorForm(name, u string) url.Values {
	return url.Values{
		"name": {name}, "url": {u}, "events": {"queue.ended"}, "method": {"POST"}, "encoding": {"json"},
		"params":  {"event: event.type\ncaller: record.caller.number\nqueue: record.queue.name"},
		"headers": {"X-Queue: record.queue.name"}, "active": {"on"}, "timeout": {"5s"}, "retry_attempts": {"4"},
		"retry_schedule": {"fixed"}, "retry_interval": {"10s"}, "secrets": {"whsec_bmV3LXNlY3JldC1rZXk="},
		"sample": {"queue.ended"}, "action": {"save"},
	}
}

func TestEditorCreateEditDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	r := b.get("/webhooks/new")
	want(t, r, http.StatusOK)
	form := find(r.Doc, el("form", "id", "webhook-form"))
	if form == nil {
		t.Fatal("no form#webhook-form")
	}
	for _, name := range []string{"name", "url", "when", "method", "encoding", "date_format", "timezone", "params", "headers",
		"hangup_causes", "xml_root", "jsonrpc_method", "active", "delay", "debounce", "timeout", "retry_attempts",
		"retry_schedule", "retry_interval", "retry_max_interval", "retry_jitter", "secrets", "concurrency", "ordered",
		"failing_after", "pause_on_failing"} {
		if find(form, el("", "name", name)) == nil {
			t.Errorf("editor has no field named %q", name)
		}
	}
	for _, ty := range cdr.Types {
		if find(form, el("input", "name", "events", "value", string(ty))) == nil {
			t.Errorf("editor has no events checkbox for %s", ty)
		}
	}
	for _, id := range []string{"sample", "sample-event-id", "preview", "save", "send-test", "test-result"} {
		if find(r.Doc, el("", "id", id)) == nil {
			t.Errorf("editor has no #%s", id)
		}
	}
	if find(r.Doc, el("button", "id", "delete")) != nil {
		t.Errorf("a new webhook has a delete button")
	}

	hook := b.rcv.URL + "/sales"
	r = b.post("/webhooks/new", editorForm("sales", hook))
	want(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/webhooks/sales/edit?saved=1" {
		t.Fatalf("save redirects to %q", loc)
	}
	e, ok := b.set.Get("sales")
	if !ok || e.ReadOnly {
		t.Fatalf("set has no stored webhook sales (%v, read-only %v)", ok, e.ReadOnly)
	}
	if got := e.Spec.Params; len(got) != 3 || got[0].Name != "event" || got[2].Expr != "record.queue.name" {
		t.Errorf("stored params %v, want event, caller, queue in order", got)
	}
	if e.Spec.Retry == nil || e.Spec.Retry.Attempts != 4 || e.Spec.Retry.Schedule != "fixed" || e.Spec.Timeout != "5s" {
		t.Errorf("stored retry %+v timeout %q", e.Spec.Retry, e.Spec.Timeout)
	}
	found := false
	for _, wi := range b.eng.Webhooks() {
		found = found || wi.Name == "sales"
	}
	if !found {
		t.Errorf("the engine does not run the new webhook")
	}

	r = b.get("/webhooks/sales/edit?saved=1")
	want(t, r, http.StatusOK)
	if got := texts(r.Doc, el("p", "class", "flash")); len(got) != 1 {
		t.Errorf("no saved flash: %q", got)
	}
	if got := rawText(find(r.Doc, el("textarea", "name", "params"))); got != "event: event.type\ncaller: record.caller.number\nqueue: record.queue.name\n" {
		t.Errorf("params box %q", got)
	}
	if got := rawText(find(r.Doc, el("textarea", "name", "secrets"))); got != "" {
		t.Errorf("the secrets box shows %q, want it empty", got)
	}
	if strings.Contains(r.Body, "bmV3LXNlY3JldC1rZXk") {
		t.Errorf("the editor shows the signing secret")
	}
	if find(r.Doc, el("button", "id", "delete")) == nil || find(r.Doc, el("", "class", "read-only")) != nil {
		t.Errorf("a stored webhook lacks #delete or is marked read-only")
	}
	if pre := find(r.Doc, el("pre", "id", "preview-request")); !strings.Contains(rawText(pre), "POST "+hook) {
		t.Errorf("the edit page's preview %q does not show the request", rawText(pre))
	}

	// Edit with an empty secrets box: the secret is kept.
	f := editorForm("sales", hook)
	f.Set("params", "caller: record.caller.number")
	f.Set("secrets", "")
	f.Set("retry_attempts", "")
	want(t, b.post("/webhooks/sales/edit", f), http.StatusSeeOther)
	e, _ = b.set.Get("sales")
	if len(e.Spec.Params) != 1 || len(e.Spec.Secrets) != 1 || e.Spec.Secrets[0] != "whsec_bmV3LXNlY3JldC1rZXk=" {
		t.Errorf("after edit: params %v, secrets %d", e.Spec.Params, len(e.Spec.Secrets))
	}
	if e.Spec.Retry == nil || e.Spec.Retry.Attempts != 0 {
		t.Errorf("after edit retry %+v: an emptied field must fall back to the default", e.Spec.Retry)
	}

	// A bad definition is not saved and names the field, line and column.
	f.Set("params", "caller: record.caler.number")
	r = b.post("/webhooks/sales/edit", f)
	want(t, r, http.StatusBadRequest)
	msg := strings.Join(texts(r.Doc, el("", "class", "save-errors")), " ")
	if !strings.Contains(msg, "params.caller") || !strings.Contains(msg, "line 1, column") || !strings.Contains(msg, "params box, line 1") {
		t.Errorf("save error %q does not name params.caller with line and column", msg)
	}
	if e2, _ := b.set.Get("sales"); len(e2.Spec.Params) != 1 || e2.Spec.Params[0].Expr != "record.caller.number" {
		t.Errorf("a bad definition changed the stored one: %v", e2.Spec.Params)
	}
	if got := rawText(find(r.Doc, el("textarea", "name", "params"))); got != "caller: record.caler.number" {
		t.Errorf("the form shown again lost the typed params: %q", got)
	}

	// A name taken (by the config file) is refused.
	r = b.post("/webhooks/new", editorForm("crm", hook))
	if r.StatusCode == http.StatusSeeOther || len(texts(r.Doc, el("", "class", "save-errors"))) == 0 {
		t.Errorf("creating a webhook named like the config one: status %d, no error shown", r.StatusCode)
	}

	// Delete.
	r = b.post("/webhooks/sales/delete", nil)
	want(t, r, http.StatusSeeOther)
	if _, ok := b.set.Get("sales"); ok {
		t.Errorf("sales still exists after delete")
	}
	r = b.follow(r)
	if find(r.Doc, el("tr", "data-webhook", "sales")) != nil {
		t.Errorf("the deleted webhook is still listed")
	}
	want(t, b.get("/webhooks/sales/edit"), http.StatusNotFound)
}

func TestEditorReadOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	r := b.get("/webhooks/crm/edit")
	want(t, r, http.StatusOK)
	if find(r.Doc, el("", "class", "read-only")) == nil {
		t.Errorf("config webhook editor has no .read-only badge")
	}
	form := find(r.Doc, el("form", "id", "webhook-form"))
	for _, name := range []string{"name", "url", "params", "method", "events", "active", "secrets", "timeout"} {
		for _, n := range findAll(form, el("", "name", name)) {
			if _, dis := attrOK(n, "disabled"); !dis {
				t.Errorf("read-only field %q is not disabled", name)
			}
		}
	}
	if find(r.Doc, el("button", "id", "save")) != nil || find(r.Doc, el("button", "id", "delete")) != nil {
		t.Errorf("read-only webhook offers #save or #delete")
	}
	if strings.Contains(r.Body, urlPassword) || strings.Contains(r.Body, configSecret) {
		t.Errorf("read-only editor shows a secret")
	}
	if got := rawText(find(r.Doc, el("pre", "id", "preview-request"))); !strings.Contains(got, "/crm") || !strings.Contains(got, "+380441234567") {
		t.Errorf("read-only preview %q", got)
	}
	if r := b.post("/webhooks/crm/edit", editorForm("crm", "http://127.0.0.1/x")); r.StatusCode != http.StatusForbidden {
		t.Errorf("saving a config webhook: status %d, want 403", r.StatusCode)
	}
	if r := b.post("/webhooks/crm/delete", nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("deleting a config webhook: status %d, want 403", r.StatusCode)
	}
	// Send test uses the running definition.
	before := b.rcv.count()
	r = b.post("/webhooks/crm/edit", url.Values{"action": {"test"}})
	want(t, r, http.StatusOK)
	if got := text(find(r.Doc, el("div", "id", "test-result"))); !strings.Contains(got, "status 200") {
		t.Errorf("#test-result %q", got)
	}
	if b.rcv.count() != before+1 {
		t.Errorf("receiver got %d requests, want %d", b.rcv.count(), before+1)
	}
}

func TestPreview(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	tok := b.csrf()
	stored := queueEvent(7, "stored-call", "+15559999")
	b.acceptEvents(stored)
	hook := b.rcv.URL + "/p"
	fragment := func(f url.Values) *resp {
		t.Helper()
		r := b.postRaw("/webhooks/preview", f, "X-CSRF-Token", tok)
		want(t, r, http.StatusOK)
		return r
	}
	f := editorForm("p", hook)
	f.Del("action")
	r := fragment(f)
	req := rawText(find(r.Doc, el("pre", "id", "preview-request")))
	if !strings.HasPrefix(req, "POST "+hook+"\n") || !strings.Contains(req, "X-Queue: Sales") {
		t.Fatalf("preview request:\n%s", req)
	}
	body := req[strings.Index(req, "\n\n")+2:]
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("preview body %q: %v", body, err)
	}
	if got["event"] != "queue.ended" || got["caller"] != "+380441234567" || got["queue"] != "Sales" {
		t.Errorf("preview body %v", got)
	}

	// A stored event by id.
	f.Set("sample_event_id", stored.ID)
	r = fragment(f)
	if req := rawText(find(r.Doc, el("pre", "id", "preview-request"))); !strings.Contains(req, "+15559999") {
		t.Errorf("preview of stored event:\n%s", req)
	}
	f.Set("sample_event_id", "evt_nope")
	r = fragment(f)
	if msg := text(find(r.Doc, el("", "class", "preview-error"))); !strings.Contains(msg, "evt_nope") || !strings.Contains(msg, "not found") {
		t.Errorf("preview of a missing event: %q", msg)
	}
	f.Del("sample_event_id")

	// A compile error names the field, the line and the column.
	f.Set("params", "event: event.type\ncaller: record.caler.number")
	r = fragment(f)
	if find(r.Doc, el("pre", "id", "preview-request")) != nil {
		t.Errorf("a compile error still shows a request")
	}
	msg := text(find(r.Doc, el("", "class", "preview-error")))
	if !strings.Contains(msg, "params.caller: line 1, column") || !strings.Contains(msg, "caler") || !strings.Contains(msg, "params box, line 2") {
		t.Errorf("compile error %q", msg)
	}
	// A malformed line of the box.
	f.Set("params", "event event.type")
	r = fragment(f)
	if msg := text(find(r.Doc, el("", "class", "preview-error"))); !strings.Contains(msg, "params: line 1") {
		t.Errorf("bad line error %q", msg)
	}
	// The filter rejects the sample.
	f.Set("params", "event: event.type")
	f.Set("when", "record.wait > 100000")
	r = fragment(f)
	if s := text(find(r.Doc, el("", "class", "preview-skipped"))); !strings.Contains(s, "Nothing would be sent") {
		t.Errorf("skipped preview %q", s)
	}
	f.Del("when")

	// Without JavaScript: the Preview button re-renders the page.
	f.Set("action", "preview")
	f.Set("params", "caller: record.caller.number")
	r = b.post("/webhooks/new", f)
	want(t, r, http.StatusOK)
	if req := rawText(find(r.Doc, el("pre", "id", "preview-request"))); !strings.Contains(req, `"caller":"+380441234567"`) {
		t.Errorf("page preview:\n%s", req)
	}
	if _, ok := b.set.Get("p"); ok {
		t.Errorf("preview saved the webhook")
	}
	// The read-only webhook previews with its running definition.
	r = fragment(url.Values{"editing": {"crm"}, "sample": {"call.ended"}})
	if req := rawText(find(r.Doc, el("pre", "id", "preview-request"))); !strings.Contains(req, "1710408413.42") {
		t.Errorf("crm preview:\n%s", req)
	}
}

func TestSendTest(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	b.rcv.status.Store(http.StatusCreated)
	f := editorForm("t1", b.rcv.URL+"/t1")
	f.Set("action", "test")
	before := b.rcv.count()
	r := b.post("/webhooks/new", f)
	want(t, r, http.StatusOK)
	res := text(find(r.Doc, el("div", "id", "test-result")))
	if !strings.Contains(res, "status 201") || !strings.Contains(res, "ms") || !strings.Contains(res, "thanks from the receiver") {
		t.Errorf("#test-result %q", res)
	}
	if b.rcv.count() != before+1 {
		t.Fatalf("receiver got %d requests, want %d", b.rcv.count(), before+1)
	}
	if _, ok := b.set.Get("t1"); ok {
		t.Errorf("a test send saved the webhook")
	}
	if got := b.rcv.got[len(b.rcv.got)-1].Header.Get("webhook-signature"); !strings.HasPrefix(got, "v1,") {
		t.Errorf("test send not signed: %q", got)
	}
	// The form is shown again as typed.
	if v := attr(find(r.Doc, el("input", "name", "name")), "value"); v != "t1" {
		t.Errorf("name after test %q", v)
	}
	// A receiver failure is shown too.
	b.rcv.status.Store(http.StatusServiceUnavailable)
	r = b.post("/webhooks/new", f)
	if res := text(find(r.Doc, el("div", "id", "test-result"))); !strings.Contains(res, "status 503") {
		t.Errorf("#test-result after 503 %q", res)
	}
}
