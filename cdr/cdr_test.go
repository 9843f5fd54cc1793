package cdr_test

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

func TestParseType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    cdr.Type
		wantErr string
	}{
		{"call.started", cdr.TypeCallStarted, ""},
		{"call.answered", cdr.TypeCallAnswered, ""},
		{"call.ended", cdr.TypeCallEnded, ""},
		{"queue.ended", cdr.TypeQueueEnded, ""},
		{"ivr.ended", cdr.TypeIVREnded, ""},
		{"source.connected", cdr.TypeSourceConnected, ""},
		{"source.disconnected", cdr.TypeSourceDisconnected, ""},
		{"webhook.failing", cdr.TypeWebhookFailing, ""},
		{"test", cdr.TypeTest, ""},
		{"App.QueueWebhook", cdr.TypeQueueEnded, ""},
		{"App.IvrWebhook", cdr.TypeIVREnded, ""},
		{"App.TestWebhook", cdr.TypeTest, ""},
		{"", "", `unknown event type ""`},
		{"call.ringing", "", `unknown event type "call.ringing"`},
		{"CALL.ENDED", "", `unknown event type "CALL.ENDED"`},
		{" call.ended", "", `unknown event type " call.ended"`},
		{"app.queuewebhook", "", `unknown event type "app.queuewebhook"`},
		{"App.CallWebhook", "", `unknown event type "App.CallWebhook"`},
	}
	for _, tt := range tests {
		got, err := cdr.ParseType(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseType(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			if !errors.Is(err, cdr.ErrUnknownType) {
				t.Errorf("ParseType(%q) error %v does not wrap ErrUnknownType", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseType(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTypeAllTypes(t *testing.T) {
	t.Parallel()
	seen := map[cdr.Type]bool{}
	for _, typ := range cdr.Types {
		if seen[typ] {
			t.Errorf("Types lists %s twice", typ)
		}
		seen[typ] = true
		if got, err := cdr.ParseType(string(typ)); err != nil || got != typ {
			t.Errorf("ParseType(%q) = %q, %v", typ, got, err)
		}
	}
	if len(cdr.Types) != 9 {
		t.Errorf("len(Types) = %d, want the 9 moments of DESIGN.md §3", len(cdr.Types))
	}
}

func TestTypeKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  cdr.Type
		kind cdr.Kind
		rec  cdr.Record
	}{
		{cdr.TypeCallStarted, cdr.KindCall, &cdr.Call{}},
		{cdr.TypeCallAnswered, cdr.KindCall, &cdr.Call{}},
		{cdr.TypeCallEnded, cdr.KindCall, &cdr.Call{}},
		{cdr.TypeQueueEnded, cdr.KindQueue, &cdr.Queue{}},
		{cdr.TypeTest, cdr.KindQueue, &cdr.Queue{}},
		{cdr.TypeIVREnded, cdr.KindIVR, &cdr.IVR{}},
		{cdr.TypeSourceConnected, cdr.KindSource, &cdr.SourceStatus{}},
		{cdr.TypeSourceDisconnected, cdr.KindSource, &cdr.SourceStatus{}},
		{cdr.TypeWebhookFailing, cdr.KindWebhook, &cdr.WebhookStatus{}},
		{"App.QueueWebhook", "", nil}, // aliases are resolved by ParseType, not by Kind
		{"", "", nil},
		{"call", "", nil},
	}
	for _, tt := range tests {
		if got := tt.typ.Kind(); got != tt.kind {
			t.Errorf("Type(%q).Kind() = %q, want %q", tt.typ, got, tt.kind)
		}
		got := tt.typ.NewRecord()
		if reflect.TypeOf(got) != reflect.TypeOf(tt.rec) {
			t.Errorf("Type(%q).NewRecord() = %T, want %T", tt.typ, got, tt.rec)
		}
	}
}

func TestEventID(t *testing.T) {
	t.Parallel()
	shape := regexp.MustCompile(`^evt_[0-9a-f]{32}$`)
	ids := map[string]string{}
	for _, typ := range cdr.Types {
		for _, rid := range []string{"", "ari:pbx1:1.1", "ari:pbx1:1.2", "teams:queue:x", "x\x00y"} {
			id := cdr.EventID(typ, rid)
			if !shape.MatchString(id) {
				t.Errorf("EventID(%s, %q) = %q, want evt_ and 32 hex digits", typ, rid, id)
			}
			if again := cdr.EventID(typ, rid); again != id {
				t.Errorf("EventID(%s, %q) not deterministic: %q then %q", typ, rid, id, again)
			}
			key := string(typ) + " " + rid
			if prev, dup := ids[id]; dup {
				t.Errorf("EventID collision: %q and %q both give %s", prev, key, id)
			}
			ids[id] = key
		}
	}
	// The separator keeps (type, id) pairs apart even when their
	// concatenation is equal.
	if cdr.EventID("test", ".x") == cdr.EventID("test.", "x") {
		t.Error("EventID(test, .x) == EventID(test., x)")
	}
	// Event ids are stored and sent to receivers for de-duplication: the
	// derivation must never change, or replays would be stored twice.
	if got, want := cdr.EventID(cdr.TypeCallEnded, "ari:pbx1:1700000000.1"), "evt_1a5373897eac319554eaa294cd8456ac"; got != want {
		t.Errorf("EventID changed: got %s, want %s", got, want)
	}
}

func TestNewEvent(t *testing.T) {
	t.Parallel()
	kyiv := time.FixedZone("EET", 2*3600)
	at := time.Date(2024, 3, 1, 11, 0, 0, 0, kyiv)
	r := answeredCall()
	e := cdr.NewEvent(cdr.TypeCallEnded, at, ari, r)
	if e.ID != cdr.EventID(cdr.TypeCallEnded, r.ID) {
		t.Errorf("ID = %s, want EventID(type, record id)", e.ID)
	}
	if e.Time.Location() != time.UTC || !e.Time.Equal(at) {
		t.Errorf("Time = %v, want %v in UTC", e.Time, at)
	}
	if e.Type != cdr.TypeCallEnded || e.Source != ari || e.Record != cdr.Record(r) {
		t.Errorf("NewEvent = %+v", e)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// The same record ingested twice gives the same id, whatever the time.
	if e2 := cdr.NewEvent(cdr.TypeCallEnded, at.Add(time.Hour), ari, answeredCall()); e2.ID != e.ID {
		t.Errorf("re-ingested record: id %s, want %s", e2.ID, e.ID)
	}
}

func TestRecordKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rec        cdr.Record
		id, key    string
		kind       cdr.Kind
		recordKind cdr.Kind
	}{
		{answeredCall(), "ari:pbx1:1700000000.1", "1700000000.1", cdr.KindCall, cdr.KindCall},
		{&cdr.Queue{Base: cdr.Base{ID: "teams:queue:c1", Kind: cdr.KindQueue, CallID: "c1"}}, "teams:queue:c1", "c1", cdr.KindQueue, cdr.KindQueue},
		{&cdr.IVR{Base: cdr.Base{ID: "teams:ivr:c2", Kind: cdr.KindIVR, CallID: "c2"}}, "teams:ivr:c2", "c2", cdr.KindIVR, cdr.KindIVR},
		{&cdr.SourceStatus{ID: "s1", Source: ari}, "s1", "pbx1", cdr.KindSource, cdr.KindSource},
		{&cdr.WebhookStatus{ID: "w1", Webhook: "crm"}, "w1", "crm", cdr.KindWebhook, cdr.KindWebhook},
		// A call-shaped record reports the kind it holds, so a mislabelled
		// record is caught by Event.Validate.
		{&cdr.Call{Base: cdr.Base{ID: "x", Kind: cdr.KindQueue}}, "x", "", cdr.KindQueue, cdr.KindQueue},
	}
	for _, tt := range tests {
		if got := tt.rec.RecordID(); got != tt.id {
			t.Errorf("%T.RecordID() = %q, want %q", tt.rec, got, tt.id)
		}
		if got := tt.rec.Key(); got != tt.key {
			t.Errorf("%T.Key() = %q, want %q", tt.rec, got, tt.key)
		}
		if got := tt.rec.RecordKind(); got != tt.recordKind {
			t.Errorf("%T.RecordKind() = %q, want %q", tt.rec, got, tt.recordKind)
		}
	}
}

// TestEventJSONRoundTrip marshals an event of every type, unmarshals it and
// expects the same Go value back.
func TestEventJSONRoundTrip(t *testing.T) {
	t.Parallel()
	seen := map[cdr.Type]bool{}
	for _, g := range goldenEvents() {
		t.Run(g.file, func(t *testing.T) {
			seen[g.event.Type] = true
			data, err := json.Marshal(g.event)
			if err != nil {
				t.Fatal(err)
			}
			var back cdr.Event
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("Unmarshal(%s): %v", data, err)
			}
			if !reflect.DeepEqual(back, g.event) {
				t.Fatalf("round trip differs:\n got: %#v\nwant: %#v", back, g.event)
			}
			if err := back.Validate(); err != nil {
				t.Fatalf("Validate after round trip: %v", err)
			}
		})
	}
	for _, typ := range cdr.Types {
		if !seen[typ] {
			t.Errorf("no round trip for %s", typ)
		}
	}
}

// TestUnmarshalAlias checks that Teams' type aliases decode to the canonical
// type and re-encode as it.
func TestUnmarshalAlias(t *testing.T) {
	t.Parallel()
	for alias, want := range map[string]cdr.Type{"App.QueueWebhook": cdr.TypeQueueEnded, "App.IvrWebhook": cdr.TypeIVREnded, "App.TestWebhook": cdr.TypeTest} {
		in := `{"id":"e","type":"` + alias + `","time":"2024-03-01T11:00:00+02:00","source":{"kind":"teams","name":"t"},"record":{"kind":"` + string(want.Kind()) + `"}}`
		var e cdr.Event
		if err := json.Unmarshal([]byte(in), &e); err != nil {
			t.Fatalf("%s: %v", alias, err)
		}
		if e.Type != want {
			t.Errorf("%s decoded as %s, want %s", alias, e.Type, want)
		}
		if e.Time.Location() != time.UTC || e.Time.Hour() != 9 {
			t.Errorf("%s: time %v, want 09:00 UTC", alias, e.Time)
		}
		out, _ := json.Marshal(e)
		if !strings.Contains(string(out), `"type":"`+string(want)+`"`) {
			t.Errorf("%s re-encoded as %s", alias, out)
		}
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	t.Parallel()
	const env = `"id":"e","time":"2024-03-01T00:00:00Z","source":{"kind":"ari","name":"p"}`
	tests := []struct {
		name, in, want string
	}{
		{"syntax", `{"id":`, "unexpected end of JSON input"},
		// "…": the message goes on to spell out UnmarshalJSON's helper struct.
		{"not an object", `[1]`, "json: cannot unmarshal array into Go value of type struct …"},
		{"null", `null`, `type: "" is not a known event type`},
		{"no type", `{` + env + `,"record":{}}`, `type: "" is not a known event type`},
		{"unknown type", `{` + env + `,"type":"call.ringing","record":{}}`, `type: "call.ringing" is not a known event type`},
		{"type not a string", `{` + env + `,"type":1,"record":{}}`, "json: cannot unmarshal number into Go struct field .type of type string"},
		{"no record", `{` + env + `,"type":"call.ended"}`, "record: is required"},
		{"null record", `{` + env + `,"type":"call.ended","record":null}`, "record: is required"},
		{"record not an object", `{` + env + `,"type":"call.ended","record":"x"}`, "record: json: cannot unmarshal string into Go value of type cdr.Call"},
		{"bad record time", `{` + env + `,"type":"queue.ended","record":{"started_at":"yesterday"}}`, `record: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
		{"bad record field type", `{` + env + `,"type":"ivr.ended","record":{"data_values":"x"}}`, "record: json: cannot unmarshal string into Go struct field IVR.data_values of type []string"},
		{"fractional duration", `{` + env + `,"type":"call.ended","record":{"duration":1.5}}`, "record: json: cannot unmarshal number 1.5 into Go struct field Call.duration of type int"},
		{"bad event time", `{"id":"e","time":"2024-03-01","type":"test","record":{}}`, `parsing time "2024-03-01" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e cdr.Event
			err := json.Unmarshal([]byte(tt.in), &e)
			if err == nil {
				t.Fatalf("Unmarshal(%s) = nil error, want %q", tt.in, tt.want)
			}
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok && strings.HasPrefix(err.Error(), prefix) {
				return
			}
			if err.Error() != tt.want {
				t.Fatalf("Unmarshal(%s) error:\n got: %s\nwant: %s", tt.in, err, tt.want)
			}
		})
	}
	// An unknown type is a field error naming the value.
	var e cdr.Event
	err := json.Unmarshal([]byte(`{"type":"nope","record":{}}`), &e)
	var fe *cdr.FieldError
	if !errors.As(err, &fe) || fe.Field != "type" || fe.Value != "nope" {
		t.Fatalf("unknown type: error %#v, want a *FieldError for type", err)
	}
}

// validCall returns a finished call that passes Validate.
func validCall() *cdr.Call { return answeredCall() }

func validQueue() *cdr.Queue {
	return &cdr.Queue{Base: cdr.Base{ID: "teams:queue:c", Kind: cdr.KindQueue, Source: teams, CallID: "c", Direction: cdr.DirectionInbound, StartedAt: ts("2024-03-01T11:00:00Z")}}
}

func validIVR() *cdr.IVR {
	return &cdr.IVR{
		Base:       cdr.Base{ID: "teams:ivr:c", Kind: cdr.KindIVR, Source: teams, CallID: "c", Direction: cdr.DirectionInbound, StartedAt: ts("2024-03-01T11:00:00Z")},
		DataValues: make([]string, cdr.DataValueCount),
	}
}

func validSource() *cdr.SourceStatus {
	return &cdr.SourceStatus{ID: "s", Kind: cdr.KindSource, Source: ari, Status: "connected", At: ts("2024-03-01T08:00:00Z")}
}

func validWebhook() *cdr.WebhookStatus {
	return &cdr.WebhookStatus{ID: "w", Kind: cdr.KindWebhook, Webhook: "crm", At: ts("2024-03-01T08:00:00Z")}
}

// TestRecordValidate covers every error path of the records' Validate with
// the exact message; each case breaks one field of a valid record.
func TestRecordValidate(t *testing.T) {
	t.Parallel()
	call := func(f func(*cdr.Call)) cdr.Record { c := validCall(); f(c); return c }
	queue := func(f func(*cdr.Queue)) cdr.Record { q := validQueue(); f(q); return q }
	ivr := func(f func(*cdr.IVR)) cdr.Record { r := validIVR(); f(r); return r }
	src := func(f func(*cdr.SourceStatus)) cdr.Record { s := validSource(); f(s); return s }
	wh := func(f func(*cdr.WebhookStatus)) cdr.Record { w := validWebhook(); f(w); return w }
	tests := []struct {
		name string
		rec  cdr.Record
		want string
	}{
		{"call ok", validCall(), ""},
		{"call in progress ok", call(func(c *cdr.Call) { c.EndedAt, c.AnsweredAt, c.Disposition, c.Hangup = nil, nil, "", cdr.Hangup{} }), ""},
		{"call every disposition ok", call(func(c *cdr.Call) { c.Disposition = cdr.DispositionCanceled }), ""},
		{"call id", call(func(c *cdr.Call) { c.ID = "" }), "id: is required"},
		{"call kind", call(func(c *cdr.Call) { c.Kind = cdr.KindQueue }), `kind: "queue" is not "call"`},
		{"call kind empty", call(func(c *cdr.Call) { c.Kind = "" }), `kind: "" is not "call"`},
		{"call source.kind", call(func(c *cdr.Call) { c.Source.Kind = "" }), "source.kind: is required"},
		{"call direction", call(func(c *cdr.Call) { c.Direction = "sideways" }), `direction: "sideways" is not one of inbound, outbound, internal, unknown`},
		{"call direction empty", call(func(c *cdr.Call) { c.Direction = "" }), `direction: "" is not one of inbound, outbound, internal, unknown`},
		{"call started_at", call(func(c *cdr.Call) { c.StartedAt = time.Time{} }), "started_at: is required"},
		{"call ended_at", call(func(c *cdr.Call) { c.EndedAt = tp("2024-03-01T09:14:59.5Z") }), `ended_at: "2024-03-01T09:14:59.5Z" is before started_at`},
		{"call disposition", call(func(c *cdr.Call) { c.Disposition = "ANSWERED" }), `disposition: "ANSWERED" is not a known disposition`},
		{"call answered_at", call(func(c *cdr.Call) { c.AnsweredAt = tp("2024-03-01T09:14:00Z") }), `answered_at: "2024-03-01T09:14:00Z" is before started_at`},
		{"call initiator", call(func(c *cdr.Call) { c.Hangup.Initiator = "nobody" }), `hangup.initiator: "nobody" is not one of caller, callee, system, unknown`},
		{"call duration", call(func(c *cdr.Call) { c.Duration = -1 }), `duration: "-1" is negative`},
		{"call billsec", call(func(c *cdr.Call) { c.Billsec = -2 }), `billsec: "-2" is negative`},
		{"call cause", call(func(c *cdr.Call) { c.Hangup.Cause = -16 }), `hangup.cause: "-16" is negative`},
		{"call sip_code", call(func(c *cdr.Call) { c.Hangup.SIPCode = -487 }), `hangup.sip_code: "-487" is negative`},
		{"queue ok", validQueue(), ""},
		{"queue kind", queue(func(q *cdr.Queue) { q.Kind = cdr.KindCall }), `kind: "call" is not "queue"`},
		{"queue id", queue(func(q *cdr.Queue) { q.ID = "" }), "id: is required"},
		{"queue call_length", queue(func(q *cdr.Queue) { q.CallLength = -1 }), `call_length: "-1" is negative`},
		{"queue wait", queue(func(q *cdr.Queue) { q.Wait = -1 }), `wait: "-1" is negative`},
		{"queue talk", queue(func(q *cdr.Queue) { q.Talk = -1 }), `talk: "-1" is negative`},
		{"ivr ok", validIVR(), ""},
		{"ivr kind", ivr(func(r *cdr.IVR) { r.Kind = cdr.KindQueue }), `kind: "queue" is not "ivr"`},
		{"ivr direction", ivr(func(r *cdr.IVR) { r.Direction = "up" }), `direction: "up" is not one of inbound, outbound, internal, unknown`},
		{"ivr 19 data values", ivr(func(r *cdr.IVR) { r.DataValues = r.DataValues[:19] }), `data_values: "19" has the wrong length (want 20)`},
		{"ivr 21 data values", ivr(func(r *cdr.IVR) { r.DataValues = append(r.DataValues, "") }), `data_values: "21" has the wrong length (want 20)`},
		{"ivr nil data values", ivr(func(r *cdr.IVR) { r.DataValues = nil }), `data_values: "0" has the wrong length (want 20)`},
		{"ivr call_length", ivr(func(r *cdr.IVR) { r.CallLength = -3 }), `call_length: "-3" is negative`},
		{"source ok", validSource(), ""},
		{"source disconnected ok", src(func(s *cdr.SourceStatus) { s.Status, s.Error = "disconnected", "eof" }), ""},
		{"source id", src(func(s *cdr.SourceStatus) { s.ID = "" }), "id: is required"},
		{"source kind", src(func(s *cdr.SourceStatus) { s.Kind = "" }), `kind: "" is not "source"`},
		{"source name", src(func(s *cdr.SourceStatus) { s.Source.Name = "" }), "source.name: is required"},
		{"source status", src(func(s *cdr.SourceStatus) { s.Status = "up" }), `status: "up" is not connected or disconnected`},
		{"source at", src(func(s *cdr.SourceStatus) { s.At = time.Time{} }), "at: is required"},
		{"webhook ok", validWebhook(), ""},
		{"webhook id", wh(func(w *cdr.WebhookStatus) { w.ID = "" }), "id: is required"},
		{"webhook kind", wh(func(w *cdr.WebhookStatus) { w.Kind = cdr.KindSource }), `kind: "source" is not "webhook"`},
		{"webhook name", wh(func(w *cdr.WebhookStatus) { w.Webhook = "" }), "webhook: is required"},
		{"webhook at", wh(func(w *cdr.WebhookStatus) { w.At = time.Time{} }), "at: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.rec.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			var fe *cdr.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() error is %T, want *cdr.FieldError", err)
			}
		})
	}
}

// TestEventValidate covers the envelope's error paths and the record errors
// it prefixes with "record.".
func TestEventValidate(t *testing.T) {
	t.Parallel()
	ev := func(f func(*cdr.Event)) cdr.Event {
		e := cdr.NewEvent(cdr.TypeCallEnded, ts("2024-03-01T09:17:05Z"), ari, validCall())
		f(&e)
		return e
	}
	tests := []struct {
		name  string
		event cdr.Event
		want  string
		field string
	}{
		{"ok", ev(func(*cdr.Event) {}), "", ""},
		{"id", ev(func(e *cdr.Event) { e.ID = "" }), "id: is required", "id"},
		{"type", ev(func(e *cdr.Event) { e.Type = "call.ringing" }), `type: "call.ringing" is not a known event type`, "type"},
		{"alias type", ev(func(e *cdr.Event) { e.Type = "App.QueueWebhook" }), `type: "App.QueueWebhook" is not a known event type`, "type"},
		{"time", ev(func(e *cdr.Event) { e.Time = time.Time{} }), "time: is required", "time"},
		{"source.kind", ev(func(e *cdr.Event) { e.Source.Kind = "" }), "source.kind: is required", "source.kind"},
		{"record", ev(func(e *cdr.Event) { e.Record = nil }), "record: is required", "record"},
		{"record kind", ev(func(e *cdr.Event) { e.Record = validQueue() }), `record.kind: "queue" does not match event type "call.ended"`, "record.kind"},
		{"test carries queue", ev(func(e *cdr.Event) { e.Type, e.Record = cdr.TypeTest, validIVR() }), `record.kind: "ivr" does not match event type "test"`, "record.kind"},
		{"record error", ev(func(e *cdr.Event) { e.Record.(*cdr.Call).Duration = -1 }), `record.duration: "-1" is negative`, "duration"},
		{"record id", ev(func(e *cdr.Event) { e.Record.(*cdr.Call).ID = "" }), "record.id: is required", "id"},
		{"status record error", ev(func(e *cdr.Event) {
			e.Type, e.Record = cdr.TypeSourceConnected, &cdr.SourceStatus{ID: "s", Kind: cdr.KindSource, Status: "connected"}
		}), "record.source.name: is required", "source.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.event.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			var fe *cdr.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate() error %#v: want a *FieldError for %q", err, tt.field)
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  cdr.FieldError
		want string
	}{
		{cdr.FieldError{Field: "id", Msg: "is required"}, "id: is required"},
		{cdr.FieldError{Field: "direction", Value: cdr.Direction("up"), Msg: "is bad"}, `direction: "up" is bad`},
		{cdr.FieldError{Field: "wait", Value: -1, Msg: "is negative"}, `wait: "-1" is negative`},
		{cdr.FieldError{Field: "x", Value: "a\"b\n", Msg: "is odd"}, `x: "a\"b\n" is odd`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestDirectionAndDispositionValid(t *testing.T) {
	t.Parallel()
	for _, d := range []cdr.Direction{"inbound", "outbound", "internal", "unknown"} {
		if !d.Valid() {
			t.Errorf("Direction(%q).Valid() = false", d)
		}
	}
	for _, d := range []cdr.Direction{"", "Inbound", "in", "both"} {
		if d.Valid() {
			t.Errorf("Direction(%q).Valid() = true", d)
		}
	}
	for _, d := range []cdr.Disposition{"answered", "no_answer", "busy", "failed", "congestion", "canceled"} {
		if !d.Valid() {
			t.Errorf("Disposition(%q).Valid() = false", d)
		}
	}
	for _, d := range []cdr.Disposition{"", "ANSWERED", "no answer", "cancelled", "voicemail"} {
		if d.Valid() {
			t.Errorf("Disposition(%q).Valid() = true", d)
		}
	}
}

func TestParseAsteriskDisposition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want cdr.Disposition
		ok   bool
	}{
		{"ANSWERED", cdr.DispositionAnswered, true},
		{"NO ANSWER", cdr.DispositionNoAnswer, true},
		{"BUSY", cdr.DispositionBusy, true},
		{"FAILED", cdr.DispositionFailed, true},
		{"CONGESTION", cdr.DispositionCongestion, true},
		{"answered", cdr.DispositionAnswered, true},
		{" NO ANSWER\r\n", cdr.DispositionNoAnswer, true},
		{"No Answer", cdr.DispositionNoAnswer, true},
		{"NO_ANSWER", "", false},
		{"NOANSWER", "", false},
		{"CANCEL", "", false}, // Master.csv has no canceled disposition
		{"", "", false},
		{"UNKNOWN", "", false},
	}
	for _, tt := range tests {
		got, ok := cdr.ParseAsteriskDisposition(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseAsteriskDisposition(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && !got.Valid() {
			t.Errorf("ParseAsteriskDisposition(%q) = %q, not Valid", tt.in, got)
		}
	}
}

func TestCauseText(t *testing.T) {
	t.Parallel()
	// Names as Asterisk's causes.h / ast_cause2str print them.
	tests := []struct {
		code int
		want string
	}{
		{16, "Normal Clearing"},
		{17, "User busy"},
		{18, "No user responding"},
		{19, "User alerting, no answer"},
		{21, "Call Rejected"},
		{1, "Unallocated (unassigned) number"},
		{34, "Circuit/channel congestion"},
		{38, "Network out of order"},
		{127, "Interworking, unspecified"},
		{0, ""},
		{-1, ""},
		{4, ""},
		{128, ""},
		{487, ""}, // a SIP code, not a Q.850 cause
	}
	for _, tt := range tests {
		if got := cdr.CauseText(tt.code); got != tt.want {
			t.Errorf("CauseText(%d) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// TestRecordJSONNames checks the JSON names of every record against
// DESIGN.md §3: Base fields are flattened into each record, nested objects
// carry exactly their listed fields, and every field is always emitted.
func TestRecordJSONNames(t *testing.T) {
	t.Parallel()
	base := []string{"id", "kind", "source", "call_id", "direction", "caller", "started_at", "ended_at", "custom"}
	party := []string{"number", "name", "user_id", "upn"}
	transfer := []string{"type", "to_id", "to_name"}
	named := []string{"id", "name"}
	tests := []struct {
		name   string
		rec    cdr.Record
		fields []string
		nested map[string][]string
	}{
		{"call", &cdr.Call{Legs: []cdr.Leg{{}}}, append(slices.Clone(base), "callee", "answered_at", "duration", "billsec", "disposition", "hangup", "account_code", "user_field", "legs"),
			map[string][]string{"caller": party, "callee": party, "source": {"kind", "name"}, "hangup": {"cause", "cause_text", "sip_code", "initiator"}, "legs": {"channel", "unique_id", "started_at", "answered_at", "ended_at"}}},
		{"queue", &cdr.Queue{}, append(slices.Clone(base), "scenario_id", "queue", "agent", "call_length", "wait", "talk", "met_service_level", "leave_reason", "from", "parent_id", "ou_path", "callback_request_id", "transfer", "resource_account_object_id"),
			map[string][]string{"caller": party, "queue": named, "agent": {"name", "id", "user_id", "upn"}, "transfer": transfer}},
		{"ivr", &cdr.IVR{Inputs: []cdr.IVRInput{{}}}, append(slices.Clone(base), "scenario_id", "ivr", "call_length", "from", "parent_id", "ou_path", "transfer", "inputs", "data_values", "resource_account_object_id"),
			map[string][]string{"caller": party, "ivr": named, "transfer": transfer, "inputs": {"id", "at", "block", "block_type", "parameter", "value"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := json.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			if got, want := slices.Sorted(maps.Keys(m)), slices.Sorted(slices.Values(tt.fields)); !slices.Equal(got, want) {
				t.Fatalf("JSON names:\n got: %v\nwant: %v", got, want)
			}
			for name, want := range tt.nested {
				raw := m[name]
				if raw[0] == '[' {
					var arr []json.RawMessage
					if err := json.Unmarshal(raw, &arr); err != nil || len(arr) == 0 {
						t.Fatalf("%s: %s", name, raw)
					}
					raw = arr[0]
				}
				var sub map[string]json.RawMessage
				if err := json.Unmarshal(raw, &sub); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := slices.Sorted(maps.Keys(sub)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
					t.Errorf("%s JSON names: got %v, want %v", name, got, want)
				}
			}
		})
	}
}

// TestExprTags checks the package doc's promise that every field's expr tag
// equals its json tag, so expressions see exactly the JSON names.
func TestExprTags(t *testing.T) {
	t.Parallel()
	var check func(reflect.Type)
	seen := map[reflect.Type]bool{}
	check = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != "github.com/cdrgw/cdrgw/cdr" || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			if f.Anonymous {
				check(f.Type)
				continue
			}
			j, e := f.Tag.Get("json"), f.Tag.Get("expr")
			if typ.Name() == "Event" && f.Name == "Record" {
				if e != "-" {
					t.Errorf("Event.Record: expr tag %q, want - (expressions see it as record)", e)
				}
				continue
			}
			if j == "" || j != e {
				t.Errorf("%s.%s: json tag %q, expr tag %q", typ.Name(), f.Name, j, e)
			}
			check(f.Type)
		}
	}
	for _, v := range []any{cdr.Event{}, cdr.Call{}, cdr.Queue{}, cdr.IVR{}, cdr.SourceStatus{}, cdr.WebhookStatus{}} {
		check(reflect.TypeOf(v))
	}
}
