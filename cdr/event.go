package cdr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Type is an event type: a call moment, a record end, a status change or a test.
type Type string

// Event types.
const (
	TypeCallStarted        Type = "call.started"
	TypeCallAnswered       Type = "call.answered"
	TypeCallEnded          Type = "call.ended" // carries the final call record
	TypeQueueEnded         Type = "queue.ended"
	TypeIVREnded           Type = "ivr.ended"
	TypeSourceConnected    Type = "source.connected"
	TypeSourceDisconnected Type = "source.disconnected"
	TypeWebhookFailing     Type = "webhook.failing"
	TypeTest               Type = "test" // carries a queue record
)

// Types lists every event type in a stable order.
var Types = []Type{
	TypeCallStarted, TypeCallAnswered, TypeCallEnded, TypeQueueEnded, TypeIVREnded,
	TypeSourceConnected, TypeSourceDisconnected, TypeWebhookFailing, TypeTest,
}

var typeAliases = map[string]Type{
	"App.QueueWebhook": TypeQueueEnded,
	"App.IvrWebhook":   TypeIVREnded,
	"App.TestWebhook":  TypeTest,
}

// ParseType returns the event type named s, accepting the Teams aliases
// App.QueueWebhook, App.IvrWebhook and App.TestWebhook.
func ParseType(s string) (Type, error) {
	if t, ok := typeAliases[s]; ok {
		return t, nil
	}
	for _, t := range Types {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w %q", ErrUnknownType, s)
}

// Kind is the kind of record an event of type t carries.
func (t Type) Kind() Kind {
	switch t {
	case TypeCallStarted, TypeCallAnswered, TypeCallEnded:
		return KindCall
	case TypeQueueEnded, TypeTest:
		return KindQueue
	case TypeIVREnded:
		return KindIVR
	case TypeSourceConnected, TypeSourceDisconnected:
		return KindSource
	case TypeWebhookFailing:
		return KindWebhook
	}
	return ""
}

// NewRecord returns a new zero record of the kind events of type t carry, or
// nil for an unknown type.
func (t Type) NewRecord() Record {
	switch t.Kind() {
	case KindCall:
		return &Call{}
	case KindQueue:
		return &Queue{}
	case KindIVR:
		return &IVR{}
	case KindSource:
		return &SourceStatus{}
	case KindWebhook:
		return &WebhookStatus{}
	}
	return nil
}

// Event is the envelope every record travels in.
type Event struct {
	ID     string    `json:"id" expr:"id"`
	Type   Type      `json:"type" expr:"type"`
	Time   time.Time `json:"time" expr:"time"`
	Source SourceRef `json:"source" expr:"source"`
	Record Record    `json:"record" expr:"-"`
}

// EventID derives the event id from the event type and the record id, so the
// same record ingested twice gives the same event id.
func EventID(t Type, recordID string) string {
	sum := sha256.Sum256([]byte(string(t) + "\x00" + recordID))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// NewEvent wraps r in an event of type t at time at with a derived id.
func NewEvent(t Type, at time.Time, src SourceRef, r Record) Event {
	return Event{ID: EventID(t, r.RecordID()), Type: t, Time: at.UTC(), Source: src, Record: r}
}

// Validate checks the envelope and the record it carries.
func (e *Event) Validate() error {
	if e.ID == "" {
		return fieldErr("id", nil, "is required")
	}
	if e.Type.Kind() == "" {
		return fieldErr("type", e.Type, "is not a known event type")
	}
	if e.Time.IsZero() {
		return fieldErr("time", nil, "is required")
	}
	if e.Source.Kind == "" {
		return fieldErr("source.kind", nil, "is required")
	}
	if e.Record == nil {
		return fieldErr("record", nil, "is required")
	}
	if k := e.Record.RecordKind(); k != e.Type.Kind() {
		return fieldErr("record.kind", k, fmt.Sprintf("does not match event type %q", e.Type))
	}
	if err := e.Record.Validate(); err != nil {
		return fmt.Errorf("record.%w", err)
	}
	return nil
}

// UnmarshalJSON decodes an event, choosing the record type from the event
// type. It decodes in one pass what encoding/json would decode the same way
// (see decodeEventFast), the rest with encoding/json.
func (e *Event) UnmarshalJSON(data []byte) error {
	if decodeEventFast(data, e) {
		return nil
	}
	return e.decodeStd(data)
}

// decodeStd decodes an event with encoding/json: the reference for
// decodeEventFast, and the decoder of what it leaves (errors included).
func (e *Event) decodeStd(data []byte) error {
	var raw struct {
		ID     string          `json:"id"`
		Type   string          `json:"type"`
		Time   time.Time       `json:"time"`
		Source SourceRef       `json:"source"`
		Record json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	t, err := ParseType(raw.Type)
	if err != nil {
		return &FieldError{Field: "type", Value: raw.Type, Msg: "is not a known event type"}
	}
	if len(raw.Record) == 0 || string(raw.Record) == "null" {
		return fieldErr("record", nil, "is required")
	}
	rec := t.NewRecord()
	if err := json.Unmarshal(raw.Record, rec); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	toUTC(rec)
	*e = Event{ID: raw.ID, Type: t, Time: raw.Time.UTC(), Source: raw.Source, Record: rec}
	return nil
}

// toUTC converts every time of r to UTC ("UTC inside").
func toUTC(r Record) {
	utc := func(t *time.Time) {
		if t != nil {
			*t = t.UTC()
		}
	}
	base := func(b *Base) {
		utc(&b.StartedAt)
		utc(b.EndedAt)
	}
	switch r := r.(type) {
	case *Call:
		base(&r.Base)
		utc(r.AnsweredAt)
		for i := range r.Legs {
			utc(&r.Legs[i].StartedAt)
			utc(r.Legs[i].AnsweredAt)
			utc(r.Legs[i].EndedAt)
		}
	case *Queue:
		base(&r.Base)
	case *IVR:
		base(&r.Base)
		for i := range r.Inputs {
			utc(r.Inputs[i].At)
		}
	case *SourceStatus:
		utc(&r.At)
	case *WebhookStatus:
		utc(&r.At)
	}
}
