package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// AdminStore is what the admin API reads from the store; store.Store has it.
type AdminStore interface {
	GetEvent(ctx context.Context, id string) (cdr.Event, error)
	GetDelivery(ctx context.Context, id string) (store.Delivery, []store.Attempt, error)
	ListDeliveries(ctx context.Context, f store.Filter) ([]store.Delivery, string, error)
}

// Operator is the delivery engine as the admin API drives it;
// *delivery.Engine is one.
type Operator interface {
	Webhooks() []delivery.WebhookInfo
	Webhook(name string) (delivery.WebhookInfo, bool)
	SetPaused(ctx context.Context, webhook string, paused bool) error
	Resend(ctx context.Context, deliveryID string) (delivery.ManualAttempt, error)
	TestSend(ctx context.Context, webhook string) (delivery.ManualAttempt, error)
}

// WebhookJSON is a webhook in GET /api/webhooks.
type WebhookJSON struct {
	Name     string     `json:"name"`
	Active   bool       `json:"active"`
	Paused   bool       `json:"paused"`
	Events   []cdr.Type `json:"events"`
	Encoding string     `json:"encoding"`
	URL      string     `json:"url"`
	Health   HealthJSON `json:"health"`
	// ReadOnly tells a webhook of the config file from one created through
	// the API or the console.
	ReadOnly bool `json:"read_only"`
	// Error says why a stored webhook does not run (its definition no
	// longer loads, e.g. a ${VAR} it needs is unset).
	Error string `json:"error,omitempty"`
}

// HealthJSON is a webhook's endpoint health over its latest attempts.
type HealthJSON struct {
	Attempts            int     `json:"attempts"`
	SuccessRate         float64 `json:"success_rate"`
	AvgMS               float64 `json:"avg_ms"`
	P95MS               float64 `json:"p95_ms"`
	LastStatus          int     `json:"last_status"`
	ConsecutiveFailures int     `json:"consecutive_failures"`
}

// DeliveryJSON is a delivery in GET /api/deliveries and GET /api/deliveries/{id}.
type DeliveryJSON struct {
	ID            string       `json:"id"`
	Webhook       string       `json:"webhook"`
	EventID       string       `json:"event_id"`
	EventType     cdr.Type     `json:"event_type"`
	Status        store.Status `json:"status"`
	Attempts      int          `json:"attempts"`
	NextAttemptAt *time.Time   `json:"next_attempt_at"` // null unless pending
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
	LastError     string       `json:"last_error"`
}

// DeliveryPage is the answer of GET /api/deliveries.
type DeliveryPage struct {
	Items      []DeliveryJSON `json:"items"`
	NextCursor string         `json:"next_cursor"` // "" on the last page
}

// DeliveryDetail is the answer of GET /api/deliveries/{id}: the delivery and
// its attempts, oldest first. Its "attempts" is the attempt log;
// "attempt_count" is the list view's "attempts" (automatic attempts only).
type DeliveryDetail struct {
	ID            string        `json:"id"`
	Webhook       string        `json:"webhook"`
	EventID       string        `json:"event_id"`
	EventType     cdr.Type      `json:"event_type"`
	Status        store.Status  `json:"status"`
	AttemptCount  int           `json:"attempt_count"`
	NextAttemptAt *time.Time    `json:"next_attempt_at"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
	LastError     string        `json:"last_error"`
	Attempts      []AttemptJSON `json:"attempts"`
}

// AttemptJSON is one logged attempt.
type AttemptJSON struct {
	DeliveryID string        `json:"delivery_id"`
	N          int           `json:"n"`
	At         time.Time     `json:"at"`
	Manual     bool          `json:"manual"`
	OK         bool          `json:"ok"`
	Request    RequestJSON   `json:"request"`
	Response   *ResponseJSON `json:"response"` // null when no response arrived
	LatencyMS  int64         `json:"latency_ms"`
	Error      string        `json:"error"`
	// EventID and EventType are set in resend and test answers.
	EventID   string   `json:"event_id,omitempty"`
	EventType cdr.Type `json:"event_type,omitempty"`
}

// RequestJSON is the request an attempt sent, secrets redacted.
type RequestJSON struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// ResponseJSON is the response an attempt received (the first 4 KiB of the body).
type ResponseJSON struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// ErrorJSON is every error answer of the admin API.
type ErrorJSON struct {
	Error string `json:"error"`
}

// admin serves /api/.
type admin struct {
	token string
	st    AdminStore
	op    Operator
	o     Options
}

func (a *admin) routes(mux *http.ServeMux) {
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, a.auth(f)) }
	h("GET /api/webhooks", a.listWebhooks)
	h("POST /api/webhooks/{name}/test", a.testSend)
	h("POST /api/webhooks/{name}/pause", a.pause(true))
	h("POST /api/webhooks/{name}/resume", a.pause(false))
	h("GET /api/deliveries", a.listDeliveries)
	h("GET /api/deliveries/{id}", a.getDelivery)
	h("POST /api/deliveries/{id}/resend", a.resend)
	h("GET /api/events/{id}", a.getEvent)
	a.webhookRoutes(h)
	// Anything else under /api/ is a JSON 404 (behind the token, so that
	// the API's shape is not probed without it).
	h("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// auth requires "Authorization: Bearer <admin_token>" when a token is set.
// Without one (allowed only on loopback) the API is open to local clients,
// so it answers only a loopback Host (DNS rebinding) and refuses browsers'
// cross-site writes (a web page posting through its visitor's browser).
func (a *admin) auth(next http.Handler) http.Handler {
	if a.token == "" {
		return loopbackOnly(crossSite.Handler(next).ServeHTTP)
	}
	want := []byte(a.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cdrgw"`)
			msg := "missing bearer token"
			if ok || r.Header.Get("Authorization") != "" {
				msg = "wrong bearer token"
			}
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorJSON{Error: msg})
}

// fail answers err with the status its kind calls for.
func (a *admin) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		specErrs  config.Errors
		renderErr *mapping.RenderError
	)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, delivery.ErrUnknownWebhook):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.As(err, &specErrs):
		specError(w, specErrs)
	case errors.Is(err, webhookset.ErrExists):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, webhookset.ErrReadOnly):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, delivery.ErrSampleSkipped), errors.Is(err, mapping.ErrSkipped), errors.As(err, &renderErr):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		a.o.Logger.Error("admin api", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: "+err.Error())
	}
}

func webhookJSON(wi delivery.WebhookInfo) WebhookJSON {
	h := wi.Health
	return WebhookJSON{Name: wi.Name, Active: wi.Active, Paused: wi.Paused, Events: wi.Events, Encoding: wi.Encoding, URL: webhookset.RedactURL(wi.URL),
		Health: HealthJSON{Attempts: h.Attempts, SuccessRate: h.SuccessRate, AvgMS: h.AvgMS, P95MS: h.P95MS,
			LastStatus: h.LastStatus, ConsecutiveFailures: h.ConsecutiveFailures}, ReadOnly: true}
}

// listWebhooks lists the engine's webhooks in its order and, when the API
// edits webhooks, the stored ones that do not run, with their error.
func (a *admin) listWebhooks(w http.ResponseWriter, _ *http.Request) {
	list := a.op.Webhooks()
	out := make([]WebhookJSON, 0, len(list))
	if a.o.Webhooks == nil {
		for _, wi := range list {
			out = append(out, webhookJSON(wi))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	running := make(map[string]bool, len(list))
	for _, wi := range list {
		running[wi.Name] = true
		j := webhookJSON(wi)
		if e, ok := a.o.Webhooks.Get(wi.Name); ok {
			j.ReadOnly = e.ReadOnly
		}
		out = append(out, j)
	}
	for _, e := range a.o.Webhooks.List() {
		if !running[e.Name] {
			out = append(out, a.detail(e).WebhookJSON)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *admin) pause(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, ok := a.op.Webhook(name); !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("webhook %q: %v", name, delivery.ErrUnknownWebhook))
			return
		}
		if err := a.op.SetPaused(r.Context(), name, paused); err != nil {
			a.fail(w, r, err)
			return
		}
		wi, _ := a.op.Webhook(name)
		writeJSON(w, http.StatusOK, webhookJSON(wi))
	}
}

func (a *admin) testSend(w http.ResponseWriter, r *http.Request) {
	m, err := a.op.TestSend(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, manualJSON(m))
}

func (a *admin) resend(w http.ResponseWriter, r *http.Request) {
	m, err := a.op.Resend(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, manualJSON(m))
}

func manualJSON(m delivery.ManualAttempt) AttemptJSON {
	j := attemptJSON(m.Attempt)
	j.OK, j.EventID, j.EventType = m.OK, m.EventID, m.EventType
	return j
}

func attemptJSON(at store.Attempt) AttemptJSON {
	j := AttemptJSON{DeliveryID: at.DeliveryID, N: at.N, At: at.At.UTC(), Manual: at.Manual, LatencyMS: at.LatencyMS, Error: at.Error,
		Request: RequestJSON{Method: at.Request.Method, URL: at.Request.URL, Headers: nonNil(at.Request.Headers), Body: at.Request.Body}}
	if at.Response != nil {
		j.Response = &ResponseJSON{Status: at.Response.Status, Headers: nonNil(at.Response.Headers), Body: at.Response.Body}
		j.OK = at.Error == "" && at.Response.Status >= 200 && at.Response.Status < 300
	}
	return j
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nextAttempt(d store.Delivery) *time.Time {
	if d.Status != store.StatusPending || d.NextAttemptAt.IsZero() {
		return nil
	}
	t := d.NextAttemptAt.UTC()
	return &t
}

func deliveryJSON(d store.Delivery) DeliveryJSON {
	return DeliveryJSON{ID: d.ID, Webhook: d.Webhook, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
		Attempts: d.Attempts, NextAttemptAt: nextAttempt(d), CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), LastError: d.LastError}
}

func (a *admin) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, attempts, err := a.st.GetDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := DeliveryDetail{ID: d.ID, Webhook: d.Webhook, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
		AttemptCount: d.Attempts, NextAttemptAt: nextAttempt(d), CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), LastError: d.LastError,
		Attempts: make([]AttemptJSON, 0, len(attempts))}
	for _, at := range attempts {
		out.Attempts = append(out.Attempts, attemptJSON(at))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *admin) getEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := a.st.GetEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

func (a *admin) listDeliveries(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ds, next, err := a.st.ListDeliveries(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page := DeliveryPage{Items: make([]DeliveryJSON, 0, len(ds)), NextCursor: next}
	for _, d := range ds {
		page.Items = append(page.Items, deliveryJSON(d))
	}
	writeJSON(w, http.StatusOK, page)
}

// filterParams are the query parameters GET /api/deliveries knows.
var filterParams = []string{"webhook", "status", "event_type", "since", "until", "limit", "cursor"}

// ParseFilter parses the query of GET /api/deliveries. Errors name the
// parameter and its value; unknown parameters are errors too, so that a typo
// does not silently list everything.
func ParseFilter(q url.Values) (store.Filter, error) {
	var f store.Filter
	for name, vals := range q {
		known := false
		for _, p := range filterParams {
			known = known || p == name
		}
		if !known {
			return f, fmt.Errorf("unknown parameter %q (want %s)", name, strings.Join(filterParams, ", "))
		}
		if len(vals) > 1 {
			return f, fmt.Errorf("%s: given %d times", name, len(vals))
		}
	}
	f.Webhook = q.Get("webhook")
	if s := q.Get("status"); s != "" {
		if !store.Status(s).Valid() {
			return f, fmt.Errorf("status: %q is not pending, delivered, failed or dead", s)
		}
		f.Status = store.Status(s)
	}
	if s := q.Get("event_type"); s != "" {
		t, err := cdr.ParseType(s)
		if err != nil {
			return f, fmt.Errorf("event_type: %q is not an event type", s)
		}
		f.EventType = t
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return f, fmt.Errorf("%s: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", p.name, s)
		}
		*p.dst = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, fmt.Errorf("until: %q is not after since %q", q.Get("until"), q.Get("since"))
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return f, fmt.Errorf("limit: %q is not a whole number from 1 to %d", s, store.MaxLimit)
		}
		f.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		if _, err := store.DecodeCursor(s); err != nil {
			return f, fmt.Errorf("cursor: %w", err)
		}
		f.Cursor = s
	}
	return f, nil
}

// eventParams are the query parameters GET /api/events knows.
var eventParams = []string{"caller", "call_id", "type", "source", "since", "until", "limit", "cursor"}

// ParseEventFilter parses the query of GET /api/events. Errors name the
// parameter and its value; unknown parameters are errors.
func ParseEventFilter(q url.Values) (store.EventFilter, error) {
	var f store.EventFilter
	for name, vals := range q {
		known := false
		for _, p := range eventParams {
			known = known || p == name
		}
		if !known {
			return f, fmt.Errorf("unknown parameter %q (want %s)", name, strings.Join(eventParams, ", "))
		}
		if len(vals) > 1 {
			return f, fmt.Errorf("%s: given %d times", name, len(vals))
		}
	}
	f.CallerNumber, f.CallID, f.Source = q.Get("caller"), q.Get("call_id"), q.Get("source")
	if s := q.Get("type"); s != "" {
		t, err := cdr.ParseType(s)
		if err != nil {
			return f, fmt.Errorf("type: %q is not an event type", s)
		}
		f.Type = t
	}
	// The shared parameters read as in GET /api/deliveries.
	rest := url.Values{}
	for _, p := range []string{"since", "until", "limit", "cursor"} {
		if v := q.Get(p); v != "" {
			rest.Set(p, v)
		}
	}
	df, err := ParseFilter(rest)
	if err != nil {
		return f, err
	}
	f.Since, f.Until, f.Limit, f.Cursor = df.Since, df.Until, df.Limit, df.Cursor
	return f, nil
}
