package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/store"
)

// eventsPageSize is how many events a page lists.
const eventsPageSize = 50

type eventsData struct {
	Caller, CallID string
	Items          []EventSummary
	Next, First    string
	Unavailable    bool // the store cannot list events
}

func eventsQuery(caller, callID, cursor string) string {
	v := url.Values{}
	for k, s := range map[string]string{"caller": caller, "call_id": callID, "cursor": cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return "/events"
	}
	return "/events?" + v.Encode()
}

func (c *console) eventsPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	d := eventsData{Caller: strings.TrimSpace(q.Get("caller")), CallID: strings.TrimSpace(q.Get("call_id"))}
	p := page{Title: "Events", Nav: "events", Data: &d}
	if c.o.Events == nil {
		d.Unavailable = true
		c.render(w, r, rc, http.StatusOK, "events.html", p)
		return
	}
	cursor := q.Get("cursor")
	if cursor != "" {
		if _, err := store.DecodeCursor(cursor); err != nil {
			p.Error = "page: " + err.Error()
			c.render(w, r, rc, http.StatusBadRequest, "events.html", p)
			return
		}
	}
	items, next, err := c.o.Events.ListEvents(r.Context(), EventFilter{CallerNumber: d.Caller, CallID: d.CallID,
		Limit: eventsPageSize, Cursor: cursor})
	if err != nil {
		c.failErr(w, r, rc, "list events", err)
		return
	}
	d.Items = items
	if next != "" {
		d.Next = eventsQuery(d.Caller, d.CallID, next)
	}
	if cursor != "" {
		d.First = eventsQuery(d.Caller, d.CallID, "")
	}
	c.render(w, r, rc, http.StatusOK, "events.html", p)
}

// replayTarget is a webhook in the replay form.
type replayTarget struct {
	Name       string
	Subscribes bool // subscribes to the event's type
}

type eventData struct {
	Event      cdr.Event
	JSON       string
	Deliveries []store.Delivery
	Targets    []replayTarget
	Webhook    string // the replay form's choice
}

func (c *console) eventPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	c.showEvent(w, r, rc, http.StatusOK, "", "")
}

// showEvent shows the event of the path: its JSON, its deliveries and the
// replay form.
func (c *console) showEvent(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, chosen, errMsg string) {
	id := r.PathValue("id")
	ev, err := c.o.Store.GetEvent(r.Context(), id)
	if err != nil {
		c.failErr(w, r, rc, fmt.Sprintf("event %q", id), err)
		return
	}
	js, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		c.failErr(w, r, rc, fmt.Sprintf("event %q: encode", id), err)
		return
	}
	d := eventData{Event: ev, JSON: string(js), Webhook: chosen}
	ds, _, err := c.o.Store.ListDeliveries(r.Context(), store.Filter{EventID: id, Limit: 100})
	if err != nil {
		c.failErr(w, r, rc, fmt.Sprintf("deliveries of event %q", id), err)
		return
	}
	d.Deliveries = ds
	for _, wi := range c.o.Engine.Webhooks() {
		d.Targets = append(d.Targets, replayTarget{Name: wi.Name, Subscribes: slices.Contains(wi.Events, ev.Type)})
	}
	// Webhooks that take this type first.
	slices.SortStableFunc(d.Targets, func(a, b replayTarget) int {
		switch {
		case a.Subscribes == b.Subscribes:
			return 0
		case a.Subscribes:
			return -1
		}
		return 1
	})
	c.render(w, r, rc, status, "event.html", page{Title: "Event " + ev.ID, Nav: "events", Error: errMsg, Data: &d})
}

// replay adds a delivery of the stored event to the chosen webhook (even
// when the event was delivered before) and shows the new delivery.
func (c *console) replay(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("id")
	name := r.PostFormValue("webhook")
	ev, err := c.o.Store.GetEvent(r.Context(), id)
	if err != nil {
		c.failErr(w, r, rc, fmt.Sprintf("event %q", id), err)
		return
	}
	if name == "" {
		c.showEvent(w, r, rc, http.StatusBadRequest, name, "Choose a webhook to replay the event to.")
		return
	}
	ds := c.o.Engine.Plan(ev, []string{name})
	if len(ds) == 0 {
		c.showEvent(w, r, rc, http.StatusUnprocessableEntity, name, fmt.Sprintf(
			"Webhook %q does not take this event: it does not exist, is inactive, does not subscribe to %s or its filter rejects the record.", name, ev.Type))
		return
	}
	if _, err := c.o.Engine.AcceptPlanned(r.Context(), []delivery.Planned{{Event: ev, Deliveries: ds}}, true); err != nil {
		c.failErr(w, r, rc, fmt.Sprintf("replay event %q to %q", id, name), err)
		return
	}
	c.log.Info("web: event replayed", "event", id, "webhook", name, "delivery", ds[0].ID)
	http.Redirect(w, r, "/deliveries/"+pathEscape(ds[0].ID)+"?replayed=1", http.StatusSeeOther)
}

type sourcesData struct {
	Items       []sourceRow
	Unavailable bool
}

type sourceRow struct {
	Name, Kind, State string
	Since, LastErrAt  string
	LastEvent         string
	Minute, Hour      int64
	LastError         string
}

func (c *console) sourcesPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := sourcesData{Unavailable: c.o.Sources == nil}
	if c.o.Sources != nil {
		for _, s := range c.o.Sources.Snapshot() {
			row := sourceRow{Name: s.Name, Kind: s.Kind, State: "disconnected", Since: fmtTime(s.Since), LastErrAt: fmtTime(s.LastErrorAt),
				LastEvent: fmtTime(s.LastEventAt), Minute: s.EventsLastMinute, Hour: s.EventsLastHour, LastError: s.LastError}
			if s.Connected {
				row.State = "connected"
			}
			d.Items = append(d.Items, row)
		}
	}
	c.render(w, r, rc, http.StatusOK, "sources.html", page{Title: "Sources", Nav: "sources", Data: &d})
}
