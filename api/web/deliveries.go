package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

// deliveriesPageSize is how many deliveries a page lists.
const deliveriesPageSize = 50

// deliveryFilter is the deliveries filter form as entered.
type deliveryFilter struct {
	Webhook, Status, EventType, Since, Until string
}

type deliveriesData struct {
	Filter    deliveryFilter
	Webhooks  []string
	Statuses  []store.Status
	Items     []store.Delivery
	Next      string // URL of the next page, "" on the last
	First     string // URL of the first page when not on it
	Filtering bool
}

// parseLocal reads a datetime-local value (or an RFC 3339 time) as UTC.
func parseLocal(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{localLayout, "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: %q is not a date and time such as 2026-01-02T15:04 (UTC)", name, s)
}

// parseDeliveryFilter turns the filter form into a store filter.
func parseDeliveryFilter(q url.Values) (deliveryFilter, store.Filter, error) {
	df := deliveryFilter{Webhook: q.Get("webhook"), Status: q.Get("status"), EventType: q.Get("event_type"),
		Since: q.Get("since"), Until: q.Get("until")}
	f := store.Filter{Webhook: df.Webhook, Limit: deliveriesPageSize}
	if df.Status != "" {
		if !store.Status(df.Status).Valid() {
			return df, f, fmt.Errorf("status: %q is not pending, delivered, failed or dead", df.Status)
		}
		f.Status = store.Status(df.Status)
	}
	if df.EventType != "" {
		t, err := cdr.ParseType(df.EventType)
		if err != nil {
			return df, f, fmt.Errorf("event type: %w", err)
		}
		f.EventType = t
	}
	var err error
	if f.Since, err = parseLocal("since", df.Since); err != nil {
		return df, f, err
	}
	if f.Until, err = parseLocal("until", df.Until); err != nil {
		return df, f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return df, f, fmt.Errorf("until: %s is not after since %s", df.Until, df.Since)
	}
	if cur := q.Get("cursor"); cur != "" {
		if _, err := store.DecodeCursor(cur); err != nil {
			return df, f, fmt.Errorf("page: %w", err)
		}
		f.Cursor = cur
	}
	return df, f, nil
}

// query is the filter as URL parameters, with a cursor when given.
func (df deliveryFilter) query(cursor string) string {
	v := url.Values{}
	for k, s := range map[string]string{"webhook": df.Webhook, "status": df.Status, "event_type": df.EventType,
		"since": df.Since, "until": df.Until, "cursor": cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return "/deliveries"
	}
	return "/deliveries?" + v.Encode()
}

func (c *console) deliveriesPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	df, f, err := parseDeliveryFilter(q)
	d := deliveriesData{Filter: df, Statuses: store.Statuses}
	d.Filtering = df != deliveryFilter{}
	for _, wi := range c.o.Engine.Webhooks() {
		d.Webhooks = append(d.Webhooks, wi.Name)
	}
	p := page{Title: "Deliveries", Nav: "deliveries", Data: &d}
	if err != nil {
		p.Error = err.Error()
		c.render(w, r, rc, http.StatusBadRequest, "deliveries.html", p)
		return
	}
	items, next, err := c.o.Store.ListDeliveries(r.Context(), f)
	if err != nil {
		c.failErr(w, r, rc, "list deliveries", err)
		return
	}
	d.Items = items
	if next != "" {
		d.Next = df.query(next)
	}
	if f.Cursor != "" {
		d.First = df.query("")
	}
	c.render(w, r, rc, http.StatusOK, "deliveries.html", p)
}

// attemptView is one attempt of the delivery page.
type attemptView struct {
	store.Attempt
	OK       bool
	ReqText  string
	RespText string
	Fresh    bool // the resend just made
}

type deliveryData struct {
	D        store.Delivery
	Attempts []attemptView
}

func (c *console) deliveryPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	resent, _ := strconv.Atoi(r.URL.Query().Get("resent"))
	c.showDelivery(w, r, rc, http.StatusOK, resent, "")
}

// showDelivery shows the delivery of the path with its attempts, marking
// attempt resent (0: none) as the one just made.
func (c *console) showDelivery(w http.ResponseWriter, r *http.Request, rc *reqCtx, status, resent int, errMsg string) {
	id := r.PathValue("id")
	dl, attempts, err := c.o.Store.GetDelivery(r.Context(), id)
	if err != nil {
		c.failErr(w, r, rc, fmt.Sprintf("delivery %q", id), err)
		return
	}
	d := deliveryData{D: dl}
	p := page{Title: "Delivery " + dl.ID, Nav: "deliveries", Data: &d}
	for _, a := range attempts {
		v := attemptView{Attempt: a, OK: a.Error == "" && a.Response != nil && a.Response.Status >= 200 && a.Response.Status < 300,
			ReqText: storedRequestText(a.Request.Method, redactURL(a.Request.URL), a.Request.Headers, a.Request.Body)}
		if a.Response != nil {
			v.RespText = responseText(a.Response)
		}
		if resent > 0 && a.N == resent && a.Manual {
			v.Fresh = true
			p.Flash = fmt.Sprintf("Resent: attempt %d, %s in %d ms.", a.N, outcome(v), a.LatencyMS)
		}
		d.Attempts = append(d.Attempts, v)
	}
	p.Error = errMsg
	c.render(w, r, rc, status, "delivery.html", p)
}

// outcome says what an attempt got.
func outcome(a attemptView) string {
	switch {
	case a.Response != nil && a.Error == "":
		return "status " + strconv.Itoa(a.Response.Status)
	case a.Response != nil:
		return "status " + strconv.Itoa(a.Response.Status) + " (" + a.Error + ")"
	default:
		return "error: " + a.Error
	}
}

func responseText(r *store.HTTPResponse) string {
	s := storedRequestText("", "", r.Headers, r.Body)
	return "HTTP " + strconv.Itoa(r.Status) + strings.TrimPrefix(s, " ")
}

// resend makes one more attempt of the delivery and shows it.
func (c *console) resend(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("id")
	m, err := c.o.Engine.Resend(r.Context(), id)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		c.log.Warn("web: resend", "delivery", id, "err", err)
		status := http.StatusUnprocessableEntity
		if errors.Is(err, store.ErrNotFound) {
			status = http.StatusNotFound
		}
		c.showDelivery(w, r, rc, status, 0, "Resend failed: "+err.Error())
		return
	}
	c.log.Info("web: delivery resent", "delivery", id, "ok", m.OK, "attempt", m.Attempt.N)
	http.Redirect(w, r, fmt.Sprintf("/deliveries/%s?resent=%d#attempt-%d", pathEscape(id), m.Attempt.N, m.Attempt.N), http.StatusSeeOther)
}
