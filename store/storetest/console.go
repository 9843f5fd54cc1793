package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

// consoleEvent returns the event numbered i of type typ for callID, with
// the given caller number and source name.
func consoleEvent(typ cdr.Type, i int, callID, caller, source string) cdr.Event {
	ev := EventOfType(typ, i, callID)
	ev.Source = cdr.SourceRef{Kind: "ari", Name: source}
	switch r := ev.Record.(type) {
	case *cdr.Call:
		r.Caller.Number, r.Source = caller, ev.Source
	case *cdr.Queue:
		r.Caller.Number, r.Source = caller, ev.Source
	case *cdr.IVR:
		r.Caller.Number, r.Source = caller, ev.Source
	}
	return ev
}

// listEventIDs pages through every event matching f and returns their ids,
// checking page sizes, seq order and cursors on the way.
func listEventIDs(t *testing.T, s store.Store, f store.EventFilter) []string {
	t.Helper()
	var (
		ids  []string
		prev int64
	)
	for page := 0; ; page++ {
		es, next, err := s.ListEvents(ctx(t), f)
		if err != nil {
			t.Fatalf("filter %+v page %d: %v", f, page, err)
		}
		if len(es) > f.PageLimit() {
			t.Fatalf("filter %+v page %d has %d events, limit %d", f, page, len(es), f.PageLimit())
		}
		for _, e := range es {
			if prev != 0 && e.Seq >= prev {
				t.Fatalf("filter %+v page %d: seq %d after %d, not newest first", f, page, e.Seq, prev)
			}
			prev = e.Seq
			ids = append(ids, e.ID)
		}
		if next == "" {
			return ids
		}
		if len(es) != f.PageLimit() {
			t.Fatalf("filter %+v page %d: %d events and a next cursor, want a full page of %d", f, page, len(es), f.PageLimit())
		}
		f.Cursor = next
	}
}

func testEventsPaging(t *testing.T, s store.Store) {
	const n = 1000
	var want []string // newest first
	for b := 0; b < n; b += 250 {
		var batch []store.NewEvent
		for i := b; i < b+250; i++ {
			ev := Event(i, fmt.Sprint("c", i))
			batch = append(batch, store.NewEvent{Event: ev})
			want = append([]string{ev.ID}, want...)
		}
		accept(t, s, batch...)
	}
	f := store.EventFilter{Limit: 37}
	var (
		got   []string
		pages int
		prev  int64
	)
	for {
		es, next, err := s.ListEvents(ctx(t), f)
		check(t, err)
		pages++
		for _, e := range es {
			if prev != 0 && e.Seq >= prev {
				t.Fatalf("page %d: seq %d after %d, not newest first", pages, e.Seq, prev)
			}
			prev = e.Seq
			got = append(got, e.ID)
		}
		if pages == 3 {
			// Events added while paging do not shift the pages, and a
			// duplicate of a stored event is not listed twice.
			accept(t, s, store.NewEvent{Event: Event(n+1, "new")}, store.NewEvent{Event: Event(5, "c5")})
		}
		if next == "" {
			break
		}
		if len(es) != 37 {
			t.Fatalf("page %d has %d events and a next cursor, want 37", pages, len(es))
		}
		f.Cursor = next
	}
	equalIDs(t, "events paged newest first", got, want)
	if pages != (n+36)/37 {
		t.Fatalf("%d pages, want %d", pages, (n+36)/37)
	}
	// A new listing starts with the event added while paging.
	es, _, err := s.ListEvents(ctx(t), store.EventFilter{Limit: 1})
	check(t, err)
	if len(es) != 1 || es[0].ID != Event(n+1, "new").ID {
		t.Fatalf("first page after the addition: %+v", es)
	}
}

func testEventsFilters(t *testing.T, s store.Store) {
	type row struct {
		ev   cdr.Event
		late bool
	}
	var (
		rows    []row
		types   = []cdr.Type{cdr.TypeQueueEnded, cdr.TypeCallEnded, cdr.TypeIVREnded}
		sources = []string{"pbx1", "pbx2"}
		id      int
	)
	acceptPhase := func(late bool) {
		var batch []store.NewEvent
		for i := range 40 {
			ev := consoleEvent(types[i%3], id, fmt.Sprint("call-", id/4), fmt.Sprint("+4930", id%5), sources[(i/2)%2])
			batch = append(batch, store.NewEvent{Event: ev})
			rows = append(rows, row{ev, late})
			id++
		}
		accept(t, s, batch...)
	}
	before := time.Now().Add(-time.Second)
	acceptPhase(false)
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	acceptPhase(true)

	// The summary carries the event's columns.
	last := rows[len(rows)-1].ev
	es, _, err := s.ListEvents(ctx(t), store.EventFilter{Limit: 1})
	check(t, err)
	want := store.EventSummary{ID: last.ID, Type: last.Type, Time: last.Time, SourceKind: "ari", SourceName: last.Source.Name,
		RecordID: last.Record.RecordID(), CallID: fmt.Sprint("call-", (id-1)/4), CallerNumber: fmt.Sprint("+4930", (id-1)%5)}
	if len(es) != 1 {
		t.Fatalf("first page of one: %d events", len(es))
	}
	got := es[0]
	if got.Seq <= 0 || got.ReceivedAt.Before(mid) || got.ReceivedAt.After(time.Now()) || got.ReceivedAt.Location() != time.UTC {
		t.Fatalf("summary: seq %d, received at %v (want after %v, UTC)", got.Seq, got.ReceivedAt, mid)
	}
	got.Seq, got.ReceivedAt = 0, time.Time{}
	if got != want {
		t.Fatalf("summary:\n got %+v\nwant %+v", got, want)
	}

	caller, callID := eventCaller, eventCallID
	filters := []struct {
		name string
		f    store.EventFilter
		keep func(r row) bool
	}{
		{"none", store.EventFilter{}, func(r row) bool { return true }},
		{"caller", store.EventFilter{CallerNumber: "+49302"}, func(r row) bool { return caller(r.ev) == "+49302" }},
		{"call id", store.EventFilter{CallID: "call-7"}, func(r row) bool { return callID(r.ev) == "call-7" }},
		{"type", store.EventFilter{Type: cdr.TypeCallEnded}, func(r row) bool { return r.ev.Type == cdr.TypeCallEnded }},
		{"source", store.EventFilter{Source: "pbx2"}, func(r row) bool { return r.ev.Source.Name == "pbx2" }},
		{"since", store.EventFilter{Since: mid}, func(r row) bool { return r.late }},
		{"until", store.EventFilter{Until: mid}, func(r row) bool { return !r.late }},
		{"since until", store.EventFilter{Since: before, Until: mid}, func(r row) bool { return !r.late }},
		{"caller type", store.EventFilter{CallerNumber: "+49300", Type: cdr.TypeQueueEnded}, func(r row) bool {
			return caller(r.ev) == "+49300" && r.ev.Type == cdr.TypeQueueEnded
		}},
		{"caller source since", store.EventFilter{CallerNumber: "+49301", Source: "pbx1", Since: mid}, func(r row) bool {
			return caller(r.ev) == "+49301" && r.ev.Source.Name == "pbx1" && r.late
		}},
		{"call id type", store.EventFilter{CallID: "call-12", Type: cdr.TypeIVREnded}, func(r row) bool {
			return callID(r.ev) == "call-12" && r.ev.Type == cdr.TypeIVREnded
		}},
		{"all", store.EventFilter{CallerNumber: "+49300", CallID: "call-16", Type: cdr.TypeCallEnded, Source: "pbx1", Since: before, Until: mid.Add(time.Hour)}, func(r row) bool {
			return caller(r.ev) == "+49300" && callID(r.ev) == "call-16" && r.ev.Type == cdr.TypeCallEnded && r.ev.Source.Name == "pbx1"
		}},
		// These match nothing.
		{"unknown caller", store.EventFilter{CallerNumber: "+1999"}, func(r row) bool { return caller(r.ev) == "+1999" }},
		{"caller of another call", store.EventFilter{CallerNumber: "+49303", CallID: "call-1"}, func(r row) bool {
			return caller(r.ev) == "+49303" && callID(r.ev) == "call-1"
		}},
		{"until before all", store.EventFilter{Until: before}, func(r row) bool { return false }},
	}
	empty := []string{"unknown caller", "caller of another call", "until before all"}
	for _, tc := range filters {
		var want []string
		for i := len(rows) - 1; i >= 0; i-- {
			if tc.keep(rows[i]) {
				want = append(want, rows[i].ev.ID)
			}
		}
		if (len(want) == 0) != slices.Contains(empty, tc.name) {
			t.Fatalf("%s: the fixture matches %d events", tc.name, len(want))
		}
		for _, limit := range []int{3, 0} {
			f := tc.f
			f.Limit = limit
			equalIDs(t, fmt.Sprintf("%s, limit %d", tc.name, limit), listEventIDs(t, s, f), want)
		}
	}
}

func eventCaller(ev cdr.Event) string {
	switch r := ev.Record.(type) {
	case *cdr.Call:
		return r.Caller.Number
	case *cdr.Queue:
		return r.Caller.Number
	case *cdr.IVR:
		return r.Caller.Number
	}
	return ""
}

func eventCallID(ev cdr.Event) string {
	switch r := ev.Record.(type) {
	case *cdr.Call:
		return r.CallID
	case *cdr.Queue:
		return r.CallID
	case *cdr.IVR:
		return r.CallID
	}
	return ""
}

func testEventsEmpty(t *testing.T, s store.Store) {
	for _, f := range []store.EventFilter{{}, {CallerNumber: "+1"}, {Since: T0}, {Limit: 1}} {
		es, next, err := s.ListEvents(ctx(t), f)
		if err != nil || len(es) != 0 || next != "" {
			t.Fatalf("empty store, filter %+v: %d events, next %q, err %v", f, len(es), next, err)
		}
	}
	// A cursor past the last event gives an empty last page.
	accept(t, s, store.NewEvent{Event: Event(1, "c1")})
	es, next, err := s.ListEvents(ctx(t), store.EventFilter{Cursor: store.EncodeCursor(1)})
	if err != nil || len(es) != 0 || next != "" {
		t.Fatalf("after the first event: %+v, next %q, err %v", es, next, err)
	}
	es, next, err = s.ListEvents(ctx(t), store.EventFilter{Limit: 1})
	if err != nil || len(es) != 1 || next != "" {
		t.Fatalf("one event, limit 1: %d events, next %q, err %v", len(es), next, err)
	}
}

func testEventsBadCursor(t *testing.T, s store.Store) {
	for _, c := range []string{"x", "s", "s-1", "12", "s0", "sZZ"} {
		_, _, err := s.ListEvents(ctx(t), store.EventFilter{Cursor: c})
		if err == nil {
			t.Fatalf("cursor %q accepted", c)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", c)) {
			t.Fatalf("cursor %q: error %q does not name it", c, err)
		}
	}
}

func testOutcomes(t *testing.T, s store.Store) {
	since := T0.Add(time.Hour)
	const bucket = 10 * time.Minute
	until := since.Add(35 * time.Minute) // 4 buckets, the last one 5 minutes long
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{
		dlv("d1", "crm", "c1", T0), dlv("d2", "erp", "c1", T0), dlv("d3", "old", "c1", T0)}})
	resp := func(status int) *store.HTTPResponse { return &store.HTTPResponse{Status: status} }
	attempts := []struct {
		id      string
		at      time.Time
		resp    *store.HTTPResponse
		err     string
		finish  bool // logged by Finish (a worker attempt), else by AddAttempt (manual)
		webhook string
		bucket  int // -1: outside the range
		ok      bool
	}{
		{"d1", since.Add(-time.Microsecond), resp(200), "", false, "crm", -1, true},
		{"d1", since, resp(200), "", true, "crm", 0, true},
		{"d1", since.Add(time.Minute), resp(204), "", false, "crm", 0, true},
		{"d1", since.Add(bucket - time.Microsecond), resp(299), "", false, "crm", 0, true},
		{"d1", since.Add(bucket), resp(300), "", false, "crm", 1, false},
		{"d1", since.Add(bucket + time.Second), resp(500), "", false, "crm", 1, false},
		{"d1", since.Add(bucket + 2*time.Second), resp(200), "read body: unexpected EOF", false, "crm", 1, false},
		{"d1", since.Add(bucket + 3*time.Second), nil, "dial tcp: connection refused", false, "crm", 1, false},
		{"d1", since.Add(bucket + 4*time.Second), resp(199), "", false, "crm", 1, false},
		{"d1", since.Add(30 * time.Minute), resp(201), "", false, "crm", 3, true},
		{"d1", until.Add(-time.Microsecond), resp(404), "", false, "crm", 3, false},
		{"d1", until, resp(200), "", false, "crm", -1, true},
		{"d2", since.Add(25 * time.Minute), resp(200), "", false, "erp", 2, true},
		{"d3", since.Add(-time.Hour), resp(200), "", false, "old", -1, true},
		{"d3", until.Add(time.Hour), resp(500), "", false, "old", -1, false},
	}
	want := map[string][]store.OutcomeBucket{}
	for _, a := range attempts {
		at := store.Attempt{DeliveryID: a.id, At: a.at, Response: a.resp, Error: a.err, Request: store.HTTPRequest{Method: "POST", URL: "http://127.0.0.1:9/"}}
		if a.finish {
			claim(t, s, "w", T0, 1)
			check(t, s.Finish(ctx(t), []store.Result{{Owner: "w", Status: store.StatusPending, NextAttemptAt: T0, Attempt: at}}))
		} else {
			check(t, s.AddAttempt(ctx(t), at, false))
		}
		if a.bucket < 0 {
			continue
		}
		if want[a.webhook] == nil {
			want[a.webhook] = []store.OutcomeBucket{{Start: since}, {Start: since.Add(bucket)}, {Start: since.Add(2 * bucket)}, {Start: since.Add(3 * bucket)}}
		}
		if a.ok {
			want[a.webhook][a.bucket].OK++
		} else {
			want[a.webhook][a.bucket].Failed++
		}
	}
	got, err := s.Outcomes(ctx(t), since, until, bucket)
	check(t, err)
	equalOutcomes(t, "4 buckets", got, want)

	// One bucket over the whole range; a range with no attempts; an empty range.
	got, err = s.Outcomes(ctx(t), since, until, time.Hour)
	check(t, err)
	equalOutcomes(t, "1 bucket", got, map[string][]store.OutcomeBucket{
		"crm": {{Start: since, OK: 4, Failed: 6}}, "erp": {{Start: since, OK: 1}}})
	for _, r := range [][2]time.Time{{until.Add(2 * time.Hour), until.Add(3 * time.Hour)}, {since, since}} {
		got, err = s.Outcomes(ctx(t), r[0], r[1], bucket)
		check(t, err)
		equalOutcomes(t, fmt.Sprintf("range %v", r), got, map[string][]store.OutcomeBucket{})
	}
	// Times in another zone mean the same instants.
	zone := time.FixedZone("X", 5*3600)
	got, err = s.Outcomes(ctx(t), since.In(zone), until.In(zone), bucket)
	check(t, err)
	equalOutcomes(t, "in another zone", got, want)

	for _, bad := range []struct {
		since, until time.Time
		bucket       time.Duration
		name         string
	}{
		{since, until, 0, "0s"},
		{since, until, -time.Minute, "-1m0s"},
		{since, until, time.Nanosecond, "1ns"},
		{until, since, bucket, until.Format(time.RFC3339Nano)},
		{since, since.Add(24 * time.Hour), time.Second, "1s"},
	} {
		_, err := s.Outcomes(ctx(t), bad.since, bad.until, bad.bucket)
		if err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Fatalf("Outcomes(%v, %v, %v): error %v, want one naming %q", bad.since, bad.until, bad.bucket, err, bad.name)
		}
	}
}

func equalOutcomes(t *testing.T, what string, got, want map[string][]store.OutcomeBucket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: webhooks %v, want %v", what, got, want)
	}
	for w, bs := range want {
		g := got[w]
		if len(g) != len(bs) {
			t.Fatalf("%s: webhook %q: %d buckets %v, want %d %v", what, w, len(g), g, len(bs), bs)
		}
		for i := range bs {
			if !g[i].Start.Equal(bs[i].Start) || g[i].OK != bs[i].OK || g[i].Failed != bs[i].Failed || g[i].Start.Location() != time.UTC {
				t.Fatalf("%s: webhook %q bucket %d: got %+v, want %+v (UTC)\nall: %v", what, w, i, g[i], bs[i], g)
			}
		}
	}
}
