package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
)

// editorData is the webhook editor's data.
type editorData struct {
	New         bool
	ReadOnly    bool
	Name        string // the webhook edited ("" when new)
	Action      string // where the form posts
	Form        specForm
	SecretCount int // secrets kept when the box is left empty
	Sample      string
	SampleEvent string
	Errors      []string // why saving failed
	Saved       bool
	LoadError   string
	Preview     *previewData
	Test        *testData
	Entry       Entry
}

// Options lists for the selects.
var (
	methods   = []string{"POST", "GET", "PUT", "DELETE"}
	encodings = []string{"json", "form", "query", "xml", "jsonrpc"}
	schedules = []string{"", config.ScheduleExponential, config.ScheduleFixed}
)

// Methods, Encodings and Schedules give the templates the select options.
func (editorData) Methods() []string   { return methods }
func (editorData) Encodings() []string { return encodings }
func (editorData) Schedules() []string { return schedules }

// Defaults gives the templates the defaults shown as placeholders.
func (editorData) Defaults() map[string]string {
	return map[string]string{
		"timeout": config.DefaultTimeout.String(), "retry_attempts": strconv.Itoa(config.DefaultRetryAttempts),
		"retry_interval": config.DefaultRetryInterval.String(), "retry_max_interval": config.DefaultRetryMax.String(),
		"retry_jitter": strconv.FormatFloat(config.DefaultRetryJitter, 'f', -1, 64), "concurrency": strconv.Itoa(config.DefaultConcurrency),
		"failing_after": strconv.Itoa(config.DefaultFailingAfter), "retry_schedule": config.DefaultRetrySchedule,
	}
}

// previewData is the preview box: the rendered request or why there is none.
type previewData struct {
	Sample  string // which record was rendered
	Request string // the HTTP request as text
	Errors  []string
	Skipped string // the webhook does not take the sample
}

// testData is a test send's result.
type testData struct {
	OK        bool
	Status    int
	LatencyMS int64
	Body      string
	Error     string
	Request   string
}

func (c *console) newWebhook(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if c.o.Webhooks == nil {
		c.fail(w, r, rc, http.StatusNotFound, "Webhooks cannot be created here: the console has no webhook store.")
		return
	}
	d := &editorData{New: true, Action: "/webhooks/new", Form: newForm()}
	c.render(w, r, rc, http.StatusOK, "editor.html", page{Title: "New webhook", Nav: "webhooks", Data: d})
}

// entry returns the webhook named in the path, or false after answering 404.
func (c *console) entry(w http.ResponseWriter, r *http.Request, rc *reqCtx) (Entry, bool) {
	name := r.PathValue("name")
	if c.o.Webhooks == nil {
		c.fail(w, r, rc, http.StatusNotFound, "Webhooks cannot be edited here: the console has no webhook store.")
		return Entry{}, false
	}
	e, ok := c.o.Webhooks.Get(name)
	if !ok {
		c.fail(w, r, rc, http.StatusNotFound, fmt.Sprintf("No webhook is called %q.", name))
		return Entry{}, false
	}
	return e, true
}

// editorFor fills the editor for a stored or configured webhook, with its
// credentials hidden (Spec.Redacted); a form sent back with them still
// hidden keeps the stored values.
func (c *console) editorFor(e Entry) *editorData {
	d := &editorData{Name: e.Name, ReadOnly: e.ReadOnly, Entry: e, LoadError: e.Err,
		Action: "/webhooks/" + pathEscape(e.Name) + "/edit"}
	f, n, err := formOf(e.Spec.Redacted().Marshal())
	if err != nil {
		d.LoadError = err.Error()
	}
	f.Name = e.Name
	d.Form, d.SecretCount = f, n
	return d
}

func (c *console) editWebhook(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	e, ok := c.entry(w, r, rc)
	if !ok {
		return
	}
	d := c.editorFor(e)
	d.Saved = r.URL.Query().Get("saved") != ""
	spec, _ := specJSON(d.Form, editable(e))
	d.Preview = c.preview(r.Context(), d, spec)
	c.render(w, r, rc, http.StatusOK, "editor.html", page{Title: "Webhook " + e.Name, Nav: "webhooks", Data: d})
}

// submitWebhook handles the editor's buttons: save (default), preview and test.
func (c *console) submitWebhook(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if c.o.Webhooks == nil {
		c.fail(w, r, rc, http.StatusNotFound, "Webhooks cannot be edited here: the console has no webhook store.")
		return
	}
	var d *editorData
	var keep []byte
	if r.PathValue("name") == "" {
		d = &editorData{New: true, Action: "/webhooks/new", Form: formValues(r.PostForm)}
	} else {
		e, ok := c.entry(w, r, rc)
		if !ok {
			return
		}
		d = c.editorFor(e)
		if !e.ReadOnly {
			d.Form = formValues(r.PostForm)
			d.Form.Name = e.Name // a webhook is not renamed
			keep = e.Spec.Marshal()
		}
	}
	d.Sample, d.SampleEvent = r.PostFormValue("sample"), strings.TrimSpace(r.PostFormValue("sample_event_id"))
	spec, formErrs := specJSON(d.Form, keep)
	title := "New webhook"
	if !d.New {
		title = "Webhook " + d.Name
	}
	status := http.StatusOK
	switch r.PostFormValue("action") {
	case "preview":
		d.Preview = c.preview(r.Context(), d, spec)
		if len(formErrs) > 0 {
			d.Preview = &previewData{Errors: formErrs}
		}
	case "test":
		d.Preview = c.preview(r.Context(), d, spec)
		if len(formErrs) > 0 {
			d.Preview = &previewData{Errors: formErrs}
			break
		}
		d.Test = c.test(r.Context(), d, spec)
	default: // save
		if d.ReadOnly {
			c.fail(w, r, rc, http.StatusForbidden, fmt.Sprintf("Webhook %q comes from the config file and is read-only here; change it in the file.", d.Name))
			return
		}
		if len(formErrs) > 0 {
			d.Errors, status = formErrs, http.StatusBadRequest
			break
		}
		var e Entry
		var err error
		if d.New {
			e, err = c.o.Webhooks.Create(r.Context(), spec)
		} else {
			e, err = c.o.Webhooks.Update(r.Context(), d.Name, spec)
		}
		if err == nil {
			c.log.Info("web: webhook saved", "webhook", e.Name, "new", d.New)
			http.Redirect(w, r, "/webhooks/"+pathEscape(e.Name)+"/edit?saved=1", http.StatusSeeOther)
			return
		}
		if r.Context().Err() != nil {
			return
		}
		d.Errors = errorLines(err, d.Form)
		status = http.StatusUnprocessableEntity
		if isConfigError(err) {
			status = http.StatusBadRequest
		}
		d.Preview = c.preview(r.Context(), d, spec)
	}
	c.render(w, r, rc, status, "editor.html", page{Title: title, Nav: "webhooks", Data: d})
}

// previewFragment answers the script's preview request with the preview
// box's HTML.
func (c *console) previewFragment(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if c.o.Webhooks == nil {
		http.Error(w, "no webhook store", http.StatusNotFound)
		return
	}
	d := &editorData{New: true, Form: formValues(r.PostForm)}
	var keep []byte
	if name := r.PostFormValue("editing"); name != "" {
		e, ok := c.o.Webhooks.Get(name)
		if !ok {
			http.Error(w, fmt.Sprintf("no webhook is called %q", name), http.StatusNotFound)
			return
		}
		d = c.editorFor(e)
		if !e.ReadOnly {
			d.Form = formValues(r.PostForm)
			d.Form.Name = e.Name
			keep = e.Spec.Marshal()
		}
	}
	d.Sample, d.SampleEvent = r.PostFormValue("sample"), strings.TrimSpace(r.PostFormValue("sample_event_id"))
	spec, formErrs := specJSON(d.Form, keep)
	p := c.preview(r.Context(), d, spec)
	if len(formErrs) > 0 {
		p = &previewData{Errors: formErrs}
	}
	var buf strings.Builder
	if err := c.pages["editor.html"].ExecuteTemplate(&buf, "preview", p); err != nil {
		c.log.Error("web: render preview", "err", err)
		http.Error(w, "internal error rendering the preview", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(buf.String()))
}

// sampleEvent returns the record a preview or test renders: the stored
// event when an id is given, else the sample of the chosen type, else of the
// webhook's first event type.
func (c *console) sampleEvent(ctx context.Context, d *editorData) (cdr.Event, string, error) {
	if d.SampleEvent != "" {
		ev, err := c.o.Store.GetEvent(ctx, d.SampleEvent)
		if err != nil {
			return cdr.Event{}, "", fmt.Errorf("stored event %q: %w", d.SampleEvent, err)
		}
		return ev, fmt.Sprintf("stored event %s (%s)", ev.ID, ev.Type), nil
	}
	t := cdr.Type(d.Sample)
	if t == "" {
		t = cdr.TypeCallEnded
		if len(d.Form.Events) > 0 {
			t = cdr.Type(d.Form.Events[0])
		}
	}
	pt, err := cdr.ParseType(string(t))
	if err != nil {
		return cdr.Event{}, "", fmt.Errorf("sample: %w", err)
	}
	return c.o.Sample(pt), fmt.Sprintf("sample %s record", pt), nil
}

// compiled returns the webhook to preview: the running definition of a
// read-only webhook, else spec compiled.
func (c *console) compiled(d *editorData, spec []byte) (*config.Webhook, error) {
	if d.ReadOnly {
		if d.Entry.Webhook == nil {
			return nil, errors.New("the webhook is not compiled: " + d.Entry.Err)
		}
		return d.Entry.Webhook, nil
	}
	return c.o.Webhooks.Compile(spec)
}

// preview renders the sample with the form's definition.
func (c *console) preview(ctx context.Context, d *editorData, spec []byte) *previewData {
	ev, label, err := c.sampleEvent(ctx, d)
	if err != nil {
		return &previewData{Errors: []string{err.Error()}}
	}
	p := &previewData{Sample: label}
	wh, err := c.compiled(d, spec)
	if err != nil {
		p.Errors = errorLines(err, d.Form)
		return p
	}
	req, err := c.o.Preview(wh, ev)
	switch {
	case errors.Is(err, mapping.ErrSkipped):
		p.Skipped = fmt.Sprintf("Nothing would be sent for this %s: %v.", label, err)
	case err != nil:
		p.Errors = []string{err.Error()}
	default:
		p.Request = requestText(req, wh.Secrets)
	}
	return p
}

// test sends the chosen sample once with the form's definition (the running
// one for a read-only webhook, whose form fields are not submitted).
func (c *console) test(ctx context.Context, d *editorData, spec []byte) *testData {
	var m delivery.ManualAttempt
	ev, _, err := c.sampleEvent(ctx, d)
	switch {
	case err != nil:
	case d.ReadOnly && d.Entry.Webhook != nil:
		var w delivery.Webhook
		if w, err = webhookset.EngineWebhook(d.Entry.Webhook); err == nil {
			m, err = c.o.Engine.TestWebhook(ctx, w, ev)
		}
	case d.ReadOnly:
		m, err = c.o.Engine.TestSend(ctx, d.Name)
	default:
		m, err = c.o.Webhooks.Test(ctx, spec, ev)
	}
	if err != nil {
		return &testData{Error: strings.Join(errorLines(err, d.Form), "\n")}
	}
	t := &testData{OK: m.OK, LatencyMS: m.Attempt.LatencyMS, Error: m.Attempt.Error,
		Request: storedRequestText(m.Attempt.Request.Method, redactURL(m.Attempt.Request.URL), m.Attempt.Request.Headers, m.Attempt.Request.Body)}
	if m.Attempt.Response != nil {
		t.Status, t.Body = m.Attempt.Response.Status, m.Attempt.Response.Body
	}
	return t
}

// editable returns the stored definition of e that an unchanged form keeps
// (secrets, URL credentials), nil for a read-only one.
func editable(e Entry) []byte {
	if e.ReadOnly {
		return nil
	}
	return e.Spec.Marshal()
}

func (c *console) deleteWebhook(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	e, ok := c.entry(w, r, rc)
	if !ok {
		return
	}
	if e.ReadOnly {
		c.fail(w, r, rc, http.StatusForbidden, fmt.Sprintf("Webhook %q comes from the config file and cannot be deleted here.", e.Name))
		return
	}
	if err := c.o.Webhooks.Delete(r.Context(), e.Name); err != nil {
		c.failErr(w, r, rc, fmt.Sprintf("delete webhook %q", e.Name), err)
		return
	}
	c.log.Info("web: webhook deleted", "webhook", e.Name)
	http.Redirect(w, r, "/webhooks?deleted="+urlQueryEscape(e.Name), http.StatusSeeOther)
}

// requestText shows a rendered request as text, with the URL's
// credentials, the sensitive headers (Authorization, X-Api-Key, ...) and
// the webhook's secrets hidden as in the attempt log.
func requestText(req *mapping.Request, secrets []string) string {
	return storedRequestText(req.Method, redactURL(delivery.RedactString(req.URL, secrets)),
		delivery.RedactHeaders(req.Header, secrets), delivery.RedactString(string(req.Body), secrets))
}

func storedRequestText(method, u string, headers map[string]string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", method, u)
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, headers[k])
	}
	if body != "" {
		b.WriteString("\n")
		b.WriteString(body)
	}
	return b.String()
}

func isConfigError(err error) bool {
	var es config.Errors
	var pes *config.Errors
	var e *config.Error
	return errors.As(err, &es) || errors.As(err, &pes) || errors.As(err, &e)
}

// errorLines lists a definition's errors as `path: message` lines, each
// pointing at its line in the params, headers or hangup_causes box when it
// is about one of them. Line and column of the definition itself are left
// out: the definition is built from the form, not typed as a document.
func errorLines(err error, f specForm) []string {
	var list []*config.Error
	var es config.Errors
	var pes *config.Errors
	var one *config.Error
	switch {
	case errors.As(err, &es):
		list = es
	case errors.As(err, &pes) && pes != nil:
		list = *pes
	case errors.As(err, &one):
		list = []*config.Error{one}
	default:
		return []string{err.Error()}
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s := e.Msg
		if e.Path != "" {
			s = e.Path + ": " + e.Msg
		}
		out = append(out, s+boxHint(e.Path, f))
	}
	return out
}

var mapPath = regexp.MustCompile(`^(params|headers|hangup_causes)(?:\.([^.\[]+)|\["((?:[^"\\]|\\.)*)"\])`)

// boxHint returns " (params box, line N)" for an error about a map entry.
func boxHint(path string, f specForm) string {
	m := mapPath.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	name := m[2]
	if name == "" {
		name, _ = strconv.Unquote(`"` + m[3] + `"`)
	}
	text := map[string]string{"params": f.Params, "headers": f.Headers, "hangup_causes": f.HangupCauses}[m[1]]
	pairs, _ := parseLines(m[1], text)
	for _, p := range pairs {
		if p.K == name {
			return fmt.Sprintf(" (%s box, line %d)", m[1], p.Line)
		}
	}
	return ""
}
