package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

func deliveryIDs(r *resp) []string {
	var ids []string
	for _, tr := range findAll(r.Doc, el("tr", "data-delivery", "*")) {
		ids = append(ids, attr(tr, "data-delivery"))
	}
	return ids
}

func TestDeliveriesPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	const n = 120
	var evs []cdr.Event
	for i := range n {
		evs = append(evs, queueEvent(i, fmt.Sprintf("page-%d", i), "+1555"))
	}
	b.acceptEvents(evs...)

	r := b.get("/deliveries")
	want(t, r, http.StatusOK)
	if find(r.Doc, el("form", "id", "filter")) == nil || find(r.Doc, el("table", "id", "deliveries")) == nil {
		t.Fatal("/deliveries lacks form#filter or table#deliveries")
	}
	var all []string
	pages := 0
	for {
		pages++
		ids := deliveryIDs(r)
		if len(ids) == 0 || len(ids) > 50 {
			t.Fatalf("page %d has %d rows", pages, len(ids))
		}
		all = append(all, ids...)
		next := find(r.Doc, el("a", "class", "next-page"))
		if next == nil {
			break
		}
		if pages > 1 && find(r.Doc, el("a", "class", "first-page")) == nil {
			t.Errorf("page %d has no link to the first page", pages)
		}
		r = b.get(attr(next, "href"))
		want(t, r, http.StatusOK)
	}
	if pages != 3 || len(all) != n {
		t.Fatalf("%d pages, %d rows; want 3 pages, %d rows", pages, len(all), n)
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != n {
		t.Errorf("rows repeat across pages")
	}
	ds, _, err := b.st.ListDeliveries(t.Context(), store.Filter{Limit: 1})
	if err != nil || ds[0].ID != all[0] {
		t.Errorf("first row %s, want the newest delivery %v (%v)", all[0], ds, err)
	}
}

func TestDeliveriesFilter(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	q := queueEvent(1, "f-1", "+1")
	c := mapping.SampleEvent(cdr.TypeCallEnded)
	b.acceptEvents(q, c)
	ds, _, _ := b.st.ListDeliveries(t.Context(), store.Filter{EventID: c.ID})
	if len(ds) != 1 {
		t.Fatalf("call.ended deliveries %v", ds)
	}
	// One delivered by a resend.
	if _, err := b.eng.Resend(t.Context(), ds[0].ID); err != nil {
		t.Fatal(err)
	}
	created := ds[0].CreatedAt.UTC()
	loc := func(t time.Time) string { return t.Format("2006-01-02T15:04") }
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 2},
		{"webhook=crm", 2},
		{"webhook=other", 0},
		{"status=delivered", 1},
		{"status=pending", 1},
		{"event_type=call.ended", 1},
		{"event_type=queue.ended&status=delivered", 0},
		{"since=" + loc(created.Add(-time.Minute)), 2},
		{"since=" + loc(created.Add(2*time.Minute)), 0},
		{"until=" + loc(created.Add(-time.Minute)), 0},
		{"since=" + loc(created.Add(-time.Minute)) + "&until=" + loc(created.Add(2*time.Minute)), 2},
	} {
		r := b.get("/deliveries?" + tc.query)
		want(t, r, http.StatusOK)
		if got := len(deliveryIDs(r)); got != tc.want {
			t.Errorf("?%s: %d rows, want %d", tc.query, got, tc.want)
		}
	}
	// The form keeps the filter.
	r := b.get("/deliveries?status=delivered&since=2026-01-02T03:04")
	if v := attr(find(r.Doc, el("input", "name", "since")), "value"); v != "2026-01-02T03:04" {
		t.Errorf("since input %q", v)
	}
	if s := find(find(r.Doc, el("select", "name", "status")), el("option", "selected", "")); text(s) != "delivered" {
		t.Errorf("status select shows %q", text(s))
	}
	if !strings.Contains(r.Body, "UTC") {
		t.Errorf("the filter does not say times are UTC")
	}
	for _, bad := range []string{"status=sent", "event_type=call.nope", "since=yesterday", "cursor=zzz",
		"since=2026-01-02T10:00&until=2026-01-02T09:00"} {
		r := b.get("/deliveries?" + bad)
		if r.StatusCode != http.StatusBadRequest || len(texts(r.Doc, el("p", "class", "error"))) == 0 {
			t.Errorf("?%s: status %d, want 400 with an error", bad, r.StatusCode)
		}
	}
}

func TestDeliveryAndResend(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	ev := queueEvent(3, "resend-call", "+15551234")
	b.acceptEvents(ev)
	ds, _, _ := b.st.ListDeliveries(t.Context(), store.Filter{EventID: ev.ID})
	if len(ds) != 1 {
		t.Fatalf("deliveries %v", ds)
	}
	id := ds[0].ID
	r := b.get("/deliveries/" + id)
	want(t, r, http.StatusOK)
	if find(r.Doc, el("", "id", "delivery")) == nil || find(r.Doc, el("table", "id", "attempts")) == nil ||
		find(r.Doc, el("form", "id", "resend-form")) == nil || find(r.Doc, el("button", "id", "resend")) == nil {
		t.Fatal("delivery page lacks #delivery, table#attempts or form#resend-form/button#resend")
	}
	if n := len(findAll(r.Doc, el("tr", "class", "attempt"))); n != 0 {
		t.Errorf("%d attempts before any", n)
	}
	b.rcv.status.Store(http.StatusCreated)
	for i := 1; i <= 2; i++ {
		r = b.post("/deliveries/"+id+"/resend", nil)
		want(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, fmt.Sprintf("/deliveries/%s?resent=%d", id, i)) {
			t.Errorf("resend %d redirects to %q", i, loc)
		}
		r = b.follow(r)
		rows := findAll(r.Doc, el("tr", "class", "attempt"))
		if len(rows) != i {
			t.Fatalf("after resend %d: %d attempts", i, len(rows))
		}
		if s := text(find(rows[i-1], el("td", "class", "status"))); s != "201" {
			t.Errorf("attempt %d td.status %q, want 201", i, s)
		}
		if !slices.Contains(strings.Fields(attr(rows[i-1], "class")), "fresh") {
			t.Errorf("the resent attempt is not marked")
		}
		if f := texts(r.Doc, el("p", "class", "flash")); len(f) != 1 || !strings.Contains(f[0], "status 201") {
			t.Errorf("flash %q", f)
		}
	}
	req := rawText(find(r.Doc, el("pre", "class", "request")))
	if !strings.HasPrefix(req, "POST http://•••@") || strings.Contains(req, urlPassword) || strings.Contains(req, "k3y") || !strings.Contains(req, "+15551234") {
		t.Errorf("attempt request:\n%s", req)
	}
	if resp := rawText(find(r.Doc, el("pre", "class", "response"))); !strings.HasPrefix(resp, "HTTP 201") || !strings.Contains(resp, "thanks from the receiver") {
		t.Errorf("attempt response:\n%s", resp)
	}
	if s := text(find(find(r.Doc, el("", "id", "delivery")), el("dd", "class", "status"))); s != "delivered" {
		t.Errorf("delivery status %q after a 201 resend", s)
	}
	want(t, b.get("/deliveries/nope"), http.StatusNotFound)
	if r := b.post("/deliveries/nope/resend", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("resend of an unknown delivery: status %d", r.StatusCode)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	a := queueEvent(1, "call-a", "+15550001")
	a2 := queueEvent(2, "call-a2", "+15550001")
	c := queueEvent(3, "call-c", "+15550003")
	b.acceptEvents(a, a2, c)
	ids := func(r *resp) []string {
		var out []string
		for _, tr := range findAll(r.Doc, el("tr", "data-event", "*")) {
			out = append(out, attr(tr, "data-event"))
		}
		return out
	}
	r := b.get("/events")
	want(t, r, http.StatusOK)
	if find(r.Doc, el("form", "id", "event-search")) == nil || find(r.Doc, el("table", "id", "events")) == nil {
		t.Fatal("/events lacks form#event-search or table#events")
	}
	if got := ids(r); !slices.Equal(got, []string{c.ID, a2.ID, a.ID}) {
		t.Errorf("events %v, want newest first", got)
	}
	if got := ids(b.get("/events?caller=%2B15550001")); !slices.Equal(got, []string{a2.ID, a.ID}) {
		t.Errorf("caller search %v", got)
	}
	if got := ids(b.get("/events?call_id=call-c")); !slices.Equal(got, []string{c.ID}) {
		t.Errorf("call id search %v", got)
	}
	if got := ids(b.get("/events?caller=%2B1999")); len(got) != 0 {
		t.Errorf("search for an unknown caller %v", got)
	}

	r = b.get("/events/" + a.ID)
	want(t, r, http.StatusOK)
	var back cdr.Event
	if err := json.Unmarshal([]byte(rawText(find(r.Doc, el("pre", "id", "record")))), &back); err != nil {
		t.Fatalf("pre#record is not the event JSON: %v", err)
	}
	if back.ID != a.ID || back.Record.(*cdr.Queue).Caller.Number != "+15550001" {
		t.Errorf("pre#record event %s", back.ID)
	}
	if !strings.Contains(rawText(find(r.Doc, el("pre", "id", "record"))), "\n  \"record\": {") {
		t.Errorf("pre#record is not indented")
	}
	if find(r.Doc, el("form", "id", "replay")) == nil || find(r.Doc, el("button", "id", "replay-submit")) == nil ||
		find(find(r.Doc, el("form", "id", "replay")), el("option", "value", "crm")) == nil {
		t.Fatal("event page lacks form#replay with webhook crm and button#replay-submit")
	}

	// Replay adds a delivery even though the event was stored and delivered before.
	r = b.post("/events/"+a.ID+"/replay", url.Values{"webhook": {"crm"}})
	want(t, r, http.StatusSeeOther)
	ds, _, _ := b.st.ListDeliveries(t.Context(), store.Filter{EventID: a.ID})
	if len(ds) != 2 {
		t.Fatalf("event has %d deliveries after replay, want 2", len(ds))
	}
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/deliveries/"+ds[0].ID) {
		t.Errorf("replay redirects to %q, want the new delivery %s", loc, ds[0].ID)
	}
	r = b.get("/events/" + a.ID)
	if n := len(findAll(r.Doc, el("tr", "data-delivery", "*"))); n != 2 {
		t.Errorf("event page lists %d deliveries", n)
	}
	// A webhook that does not take the event.
	f := editorForm("calls", b.rcv.URL+"/calls")
	f.Set("events", "call.ended")
	f.Set("params", "caller: record.caller.number")
	f.Del("headers")
	want(t, b.post("/webhooks/new", f), http.StatusSeeOther)
	r = b.post("/events/"+a.ID+"/replay", url.Values{"webhook": {"calls"}})
	if r.StatusCode != http.StatusUnprocessableEntity || len(texts(r.Doc, el("p", "class", "error"))) == 0 {
		t.Errorf("replay to a webhook not subscribed: status %d", r.StatusCode)
	}
	if r := b.post("/events/"+a.ID+"/replay", url.Values{}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("replay without a webhook: status %d", r.StatusCode)
	}
	want(t, b.get("/events/evt_nope"), http.StatusNotFound)
}

func TestEventsPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	var evs []cdr.Event
	for i := range 75 {
		evs = append(evs, queueEvent(i, fmt.Sprintf("ep-%d", i), "+1777"))
	}
	b.acceptEvents(evs...)
	r := b.get("/events?caller=%2B1777")
	first := len(findAll(r.Doc, el("tr", "data-event", "*")))
	next := find(r.Doc, el("a", "class", "next-page"))
	if first != 50 || next == nil {
		t.Fatalf("first page %d rows, next link %v", first, next != nil)
	}
	if !strings.Contains(attr(next, "href"), "caller=%2B1777") {
		t.Errorf("next link %q loses the search", attr(next, "href"))
	}
	r = b.get(attr(next, "href"))
	if n := len(findAll(r.Doc, el("tr", "data-event", "*"))); n != 25 || find(r.Doc, el("a", "class", "next-page")) != nil {
		t.Errorf("second page %d rows", n)
	}
}

func TestSources(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	b.board.Register("teams", "teams")
	b.board.Register("pbx1", "ari")
	b.board.Register("sbc", "hep")
	b.board.For("sbc").Connected()
	b.board.For("pbx1").Disconnected(errors.New("dial tcp 127.0.0.1:8088: connection refused <script>"))
	b.board.Count("teams", 3)
	b.clock.Add(2 * time.Minute)
	b.board.Count("teams", 2)
	r := b.get("/sources")
	want(t, r, http.StatusOK)
	cell := func(src, class string) string {
		return text(in(r.Doc, el("tr", "data-source", src), el("td", "class", class)))
	}
	for _, tc := range []struct{ src, class, want string }{
		{"teams", "state", "connected"}, {"teams", "last-minute", "2"}, {"teams", "last-hour", "5"},
		{"pbx1", "state", "disconnected"}, {"pbx1", "last-minute", "0"},
		{"sbc", "state", "connected"}, {"sbc", "last-error", ""},
	} {
		if got := cell(tc.src, tc.class); got != tc.want {
			t.Errorf("%s td.%s = %q, want %q", tc.src, tc.class, got, tc.want)
		}
	}
	if got := cell("pbx1", "last-error"); !strings.Contains(got, "connection refused <script>") {
		t.Errorf("pbx1 last error %q", got)
	}
	if strings.Contains(r.Body, "refused <script>") {
		t.Errorf("the error text is not escaped")
	}
	if got := cell("sbc", "since"); got != b.clock.Now().Add(-2*time.Minute).Format("2006-01-02 15:04:05") {
		t.Errorf("sbc since %q", got)
	}
}
