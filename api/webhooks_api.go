package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/ingest"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// MaxSpecBody is the largest body the webhook and preview endpoints read.
const MaxSpecBody = 1 << 20

// WebhookSet is the set of webhooks as the admin API edits it: the config
// file's (read-only) and those stored in the database; *webhookset.Set is
// one. Create, Update and Compile return config.Errors for a definition
// that does not load.
type WebhookSet interface {
	List() []webhookset.Entry
	Get(name string) (webhookset.Entry, bool)
	Create(ctx context.Context, spec []byte) (webhookset.Entry, error)
	Update(ctx context.Context, name string, spec []byte) (webhookset.Entry, error)
	Delete(ctx context.Context, name string) error
	Compile(spec []byte) (*config.Webhook, error)
	Test(ctx context.Context, spec []byte, ev cdr.Event) (delivery.ManualAttempt, error)
}

// SourceBoard reports the state of every source; *ingest.Board is one.
type SourceBoard interface {
	Snapshot() []ingest.State
}

// EventStore searches stored events; store.Store is one.
type EventStore interface {
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.EventSummary, string, error)
}

// WebhookDetail is the answer of GET, POST and PUT /api/webhooks/...: the
// list view's fields (read_only: from the config file) and the definition;
// created_at and updated_at are null for config file webhooks.
type WebhookDetail struct {
	WebhookJSON
	Spec      webhookset.Spec `json:"spec"` // secrets shown as "•••" unless written as ${VAR}
	CreatedAt *time.Time      `json:"created_at"`
	UpdatedAt *time.Time      `json:"updated_at"`
}

// FieldError is one problem of a webhook definition: its path relative to
// the webhook (params.start_at), its line and column in the text sent (0
// when unknown) and what is wrong.
type FieldError struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// SpecErrorJSON is the 400 answer to a definition that does not load.
type SpecErrorJSON struct {
	Error  string       `json:"error"`
	Errors []FieldError `json:"errors"`
}

// PreviewRequest is the body of POST /api/preview and /api/preview/send.
// Spec is a webhook definition: a JSON object, or a JSON string holding it
// as YAML or JSON text. The record is the stored event EventID, else the
// sample of type Sample, else the sample of the spec's first event type.
type PreviewRequest struct {
	Spec    json.RawMessage `json:"spec"`
	Sample  string          `json:"sample"`
	EventID string          `json:"event_id"`
}

// PreviewJSON is the answer of POST /api/preview: the request the webhook
// would send, with credentials hidden as in the attempt log (URL userinfo
// and secret query values, Authorization and the other sensitive headers,
// the webhook's secrets).
type PreviewJSON struct {
	EventID   string      `json:"event_id"`
	EventType cdr.Type    `json:"event_type"`
	Request   RequestJSON `json:"request"`
}

// SourceJSON is a source in GET /api/sources.
type SourceJSON struct {
	Name             string     `json:"name"`
	Kind             string     `json:"kind"`
	Connected        bool       `json:"connected"`
	Since            *time.Time `json:"since"`
	LastError        string     `json:"last_error"`
	LastErrorAt      *time.Time `json:"last_error_at"`
	LastEventAt      *time.Time `json:"last_event_at"`
	EventsLastMinute int64      `json:"events_last_minute"`
	EventsLastHour   int64      `json:"events_last_hour"`
}

// EventSummaryJSON is an event in GET /api/events.
type EventSummaryJSON struct {
	ID           string    `json:"id"`
	Type         cdr.Type  `json:"type"`
	Time         time.Time `json:"time"`
	SourceKind   string    `json:"source_kind"`
	SourceName   string    `json:"source_name"`
	RecordID     string    `json:"record_id"`
	CallID       string    `json:"call_id"`
	CallerNumber string    `json:"caller_number"`
	ReceivedAt   time.Time `json:"received_at"`
}

// EventPage is the answer of GET /api/events.
type EventPage struct {
	Items      []EventSummaryJSON `json:"items"`
	NextCursor string             `json:"next_cursor"`
}

// crossSite refuses the state-changing requests that a browser marks as
// sent by another site (Sec-Fetch-Site, or Origin against Host): without
// an admin token the API is open on loopback, and a page could otherwise
// post a webhook definition as text/plain through its visitor's browser.
// Clients that are not browsers send neither header and pass.
var crossSite = func() *http.CrossOriginProtection {
	c := http.NewCrossOriginProtection()
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused: send it from a client that is not a web page")
	}))
	return c
}()

// webhookRoutes adds this file's endpoints through route (which adds the
// bearer token check); without a token they also require a loopback Host,
// and the writes refuse browsers' cross-site requests.
func (a *admin) webhookRoutes(route func(string, http.HandlerFunc)) {
	h := route
	if a.token == "" {
		h = func(pattern string, f http.HandlerFunc) { route(pattern, loopbackOnly(f)) }
	}
	if a.o.Webhooks != nil {
		write := func(pattern string, f http.HandlerFunc) { h(pattern, crossSite.Handler(f).ServeHTTP) }
		h("GET /api/webhooks/{name}", a.getWebhook)
		write("POST /api/webhooks", a.createWebhook)
		write("PUT /api/webhooks/{name}", a.updateWebhook)
		write("DELETE /api/webhooks/{name}", a.deleteWebhook)
		write("POST /api/preview", a.preview)
		write("POST /api/preview/send", a.previewSend)
	}
	if a.o.Sources != nil {
		h("GET /api/sources", a.listSources)
	}
	if a.o.Events != nil {
		h("GET /api/events", a.listEvents)
	}
}

// loopbackOnly serves an open API's request only when its Host names this
// machine (localhost or a loopback IP); others get 421. A page whose DNS
// name is rebound to 127.0.0.1 is same-origin to the browser, so only the
// Host tells its requests apart. (The console, api/web, checks the same.)
func loopbackOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "without an admin token the API answers only at a loopback address (127.0.0.1, [::1], localhost)")
			return
		}
		next(w, r)
	}
}

// loopbackHost reports whether host (a Host header) is localhost or a
// loopback IP, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// detail describes a webhook of the set, with the engine's view when it
// runs it.
func (a *admin) detail(e webhookset.Entry) WebhookDetail {
	d := WebhookDetail{Spec: e.Spec.Redacted()}
	if wi, ok := a.op.Webhook(e.Name); ok && e.Err == "" {
		d.WebhookJSON = webhookJSON(wi)
	} else {
		d.WebhookJSON = WebhookJSON{Name: e.Name, Active: e.Spec.Active == nil || *e.Spec.Active, Events: e.Spec.Events,
			Encoding: e.Spec.Encoding, URL: delivery.RedactURL(e.Spec.URL, e.Spec.Secrets)}
		if d.Events == nil {
			d.Events = []cdr.Type{}
		}
		if d.Encoding == "" {
			d.Encoding = mapping.EncodingJSON
		}
	}
	d.URL = webhookset.RedactURL(d.URL)
	d.ReadOnly, d.Error = e.ReadOnly, e.Err
	if !e.CreatedAt.IsZero() {
		c, u := e.CreatedAt.UTC(), e.UpdatedAt.UTC()
		d.CreatedAt, d.UpdatedAt = &c, &u
	}
	return d
}

func (a *admin) getWebhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, ok := a.o.Webhooks.Get(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("webhook %q: %v", name, delivery.ErrUnknownWebhook))
		return
	}
	writeJSON(w, http.StatusOK, a.detail(e))
}

// readBody reads a request body of at most MaxSpecBody bytes, answering
// the error itself.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSpecBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxSpecBody))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return nil, false
	case len(bytes.TrimSpace(body)) == 0:
		writeError(w, http.StatusBadRequest, "empty body: send the webhook definition as JSON")
		return nil, false
	}
	return body, true
}

func (a *admin) createWebhook(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	e, err := a.o.Webhooks.Create(r.Context(), body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/webhooks/"+url.PathEscape(e.Name))
	writeJSON(w, http.StatusCreated, a.detail(e))
}

func (a *admin) updateWebhook(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	e, err := a.o.Webhooks.Update(r.Context(), r.PathValue("name"), body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.detail(e))
}

func (a *admin) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := a.o.Webhooks.Delete(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// previewInput reads a preview body and compiles its spec, answering
// errors itself.
func (a *admin) previewInput(w http.ResponseWriter, r *http.Request) (spec []byte, wh *config.Webhook, ev cdr.Event, ok bool) {
	body, ok := readBody(w, r)
	if !ok {
		return nil, nil, ev, false
	}
	var in PreviewRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "body: want {\"spec\": {...}, \"sample\": \"call.ended\", \"event_id\": \"...\"}: "+err.Error())
		return nil, nil, ev, false
	}
	spec = bytes.TrimSpace(in.Spec)
	if len(spec) > 0 && spec[0] == '"' {
		var text string
		if err := json.Unmarshal(spec, &text); err != nil {
			writeError(w, http.StatusBadRequest, "spec: "+err.Error())
			return nil, nil, ev, false
		}
		spec = []byte(text)
	}
	if len(spec) == 0 || string(spec) == "null" {
		writeError(w, http.StatusBadRequest, "spec: missing: send the webhook definition")
		return nil, nil, ev, false
	}
	wh, err := a.o.Webhooks.Compile(spec)
	if err != nil {
		a.fail(w, r, err)
		return nil, nil, ev, false
	}
	switch {
	case in.EventID != "":
		ev, err = a.st.GetEvent(r.Context(), in.EventID)
		if err != nil {
			a.fail(w, r, fmt.Errorf("event_id %q: %w", in.EventID, err))
			return nil, nil, ev, false
		}
	case in.Sample != "":
		t, err := cdr.ParseType(in.Sample)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("sample: %q is not an event type", in.Sample))
			return nil, nil, ev, false
		}
		ev = mapping.SampleEvent(t)
	default:
		ev = mapping.SampleEvent(wh.Spec.Events[0])
	}
	return spec, wh, ev, true
}

func (a *admin) preview(w http.ResponseWriter, r *http.Request) {
	_, wh, ev, ok := a.previewInput(w, r)
	if !ok {
		return
	}
	req, err := webhookset.Preview(wh, ev)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, PreviewJSON{EventID: ev.ID, EventType: ev.Type, Request: redactedRequest(req, wh.Secrets)})
}

// redactedRequest is a rendered request as the attempt log shows it: the
// URL's credentials (webhookset.RedactURL), the sensitive headers and
// every occurrence of a secret hidden.
func redactedRequest(req *mapping.Request, secrets []string) RequestJSON {
	headers := delivery.RedactHeaders(req.Header, secrets)
	if headers == nil {
		headers = map[string]string{}
	}
	return RequestJSON{Method: req.Method, URL: webhookset.RedactURL(delivery.RedactURL(req.URL, secrets)), Headers: headers,
		Body: delivery.RedactString(string(req.Body), secrets)}
}

func (a *admin) previewSend(w http.ResponseWriter, r *http.Request) {
	spec, _, ev, ok := a.previewInput(w, r)
	if !ok {
		return
	}
	m, err := a.o.Webhooks.Test(r.Context(), spec, ev)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	j := manualJSON(m)
	// The engine hides the URL's password; hide the user and secret query values too.
	j.Request.URL = webhookset.RedactURL(j.Request.URL)
	writeJSON(w, http.StatusOK, j)
}

// specError answers a definition that does not load.
func specError(w http.ResponseWriter, es config.Errors) {
	out := SpecErrorJSON{Error: es.Error(), Errors: make([]FieldError, 0, len(es))}
	for _, e := range es {
		out.Errors = append(out.Errors, FieldError{Path: e.Path, Line: e.Line, Column: e.Column, Message: e.Msg})
	}
	writeJSON(w, http.StatusBadRequest, out)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (a *admin) listSources(w http.ResponseWriter, _ *http.Request) {
	states := a.o.Sources.Snapshot()
	out := make([]SourceJSON, 0, len(states))
	for _, s := range states {
		out = append(out, SourceJSON{Name: s.Name, Kind: s.Kind, Connected: s.Connected, Since: timePtr(s.Since),
			LastError: s.LastError, LastErrorAt: timePtr(s.LastErrorAt), LastEventAt: timePtr(s.LastEventAt),
			EventsLastMinute: s.EventsLastMinute, EventsLastHour: s.EventsLastHour})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *admin) listEvents(w http.ResponseWriter, r *http.Request) {
	f, err := ParseEventFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	evs, next, err := a.o.Events.ListEvents(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page := EventPage{Items: make([]EventSummaryJSON, 0, len(evs)), NextCursor: next}
	for _, e := range evs {
		page.Items = append(page.Items, EventSummaryJSON{ID: e.ID, Type: e.Type, Time: e.Time.UTC(), SourceKind: e.SourceKind,
			SourceName: e.SourceName, RecordID: e.RecordID, CallID: e.CallID, CallerNumber: e.CallerNumber, ReceivedAt: e.ReceivedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, page)
}
