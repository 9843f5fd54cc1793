package cdr

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the kind of a record.
type Kind string

// Record kinds.
const (
	KindCall    Kind = "call"
	KindQueue   Kind = "queue"
	KindIVR     Kind = "ivr"
	KindSource  Kind = "source"  // source status (source.connected, source.disconnected)
	KindWebhook Kind = "webhook" // webhook status (webhook.failing)
)

// Direction is the direction of a call as seen from the PBX or tenant.
type Direction string

// Call directions.
const (
	DirectionInbound  Direction = "inbound"
	DirectionOutbound Direction = "outbound"
	DirectionInternal Direction = "internal"
	DirectionUnknown  Direction = "unknown"
)

// Valid reports whether d is one of the defined directions.
func (d Direction) Valid() bool {
	switch d {
	case DirectionInbound, DirectionOutbound, DirectionInternal, DirectionUnknown:
		return true
	}
	return false
}

// SourceRef names the source an event or record came from.
type SourceRef struct {
	Kind string `json:"kind" expr:"kind"` // teams, ari, hep, sip, csv, jsonl, cdrgw
	Name string `json:"name" expr:"name"` // the source's configured name
}

// Party is a caller or callee.
type Party struct {
	Number string `json:"number" expr:"number"`
	Name   string `json:"name" expr:"name"`
	UserID string `json:"user_id" expr:"user_id"`
	UPN    string `json:"upn" expr:"upn"`
}

// Base holds the fields every call, queue and IVR record has.
type Base struct {
	ID        string            `json:"id" expr:"id"`
	Kind      Kind              `json:"kind" expr:"kind"`
	Source    SourceRef         `json:"source" expr:"source"`
	CallID    string            `json:"call_id" expr:"call_id"`
	Direction Direction         `json:"direction" expr:"direction"`
	Caller    Party             `json:"caller" expr:"caller"`
	StartedAt time.Time         `json:"started_at" expr:"started_at"`
	EndedAt   *time.Time        `json:"ended_at" expr:"ended_at"` // nil while the call is in progress
	Custom    map[string]string `json:"custom" expr:"custom"`
}

// Record is implemented by every record an Event can carry.
type Record interface {
	// RecordID is the record's stable id (teams:queue:<CallId>, sip:<Call-ID>, ...).
	RecordID() string
	// RecordKind is the record's kind.
	RecordKind() Kind
	// Key is the record's debounce and ordering key: its call_id, or the
	// source or webhook name for status records.
	Key() string
	// Validate reports the first field that breaks the record's invariants.
	Validate() error
}

// Transfer describes where a queue or IVR transferred the call.
type Transfer struct {
	Type   string `json:"type" expr:"type"`
	ToID   string `json:"to_id" expr:"to_id"`
	ToName string `json:"to_name" expr:"to_name"`
}

// Named is an id and a name (a queue or an IVR).
type Named struct {
	ID   string `json:"id" expr:"id"`
	Name string `json:"name" expr:"name"`
}

// Agent is the queue agent who took the call.
type Agent struct {
	Name   string `json:"name" expr:"name"`
	ID     string `json:"id" expr:"id"`
	UserID string `json:"user_id" expr:"user_id"`
	UPN    string `json:"upn" expr:"upn"`
}

// Hangup describes how a call ended.
type Hangup struct {
	Cause     int       `json:"cause" expr:"cause"` // Q.850 cause code, 0 when unknown
	CauseText string    `json:"cause_text" expr:"cause_text"`
	SIPCode   int       `json:"sip_code" expr:"sip_code"` // final SIP status, 0 when not SIP
	Initiator Initiator `json:"initiator" expr:"initiator"`
}

// Initiator says which side ended a call.
type Initiator string

// Hangup initiators.
const (
	InitiatorCaller  Initiator = "caller"
	InitiatorCallee  Initiator = "callee"
	InitiatorSystem  Initiator = "system"
	InitiatorUnknown Initiator = "unknown"
)

// Leg is one channel of a call.
type Leg struct {
	Channel    string     `json:"channel" expr:"channel"`
	UniqueID   string     `json:"unique_id" expr:"unique_id"`
	StartedAt  time.Time  `json:"started_at" expr:"started_at"`
	AnsweredAt *time.Time `json:"answered_at" expr:"answered_at"`
	EndedAt    *time.Time `json:"ended_at" expr:"ended_at"`
}

// Call is a call record: a call moment in progress or a finished call.
type Call struct {
	Base
	Callee      Party       `json:"callee" expr:"callee"`
	AnsweredAt  *time.Time  `json:"answered_at" expr:"answered_at"`
	Duration    int         `json:"duration" expr:"duration"` // seconds, end - start
	Billsec     int         `json:"billsec" expr:"billsec"`   // seconds, end - answer, 0 if unanswered
	Disposition Disposition `json:"disposition" expr:"disposition"`
	Hangup      Hangup      `json:"hangup" expr:"hangup"`
	AccountCode string      `json:"account_code" expr:"account_code"`
	UserField   string      `json:"user_field" expr:"user_field"`
	Legs        []Leg       `json:"legs" expr:"legs"`
}

// Queue is a contact-center queue record.
type Queue struct {
	Base
	ScenarioID              string   `json:"scenario_id" expr:"scenario_id"`
	Queue                   Named    `json:"queue" expr:"queue"`
	Agent                   Agent    `json:"agent" expr:"agent"`
	CallLength              int      `json:"call_length" expr:"call_length"`
	Wait                    int      `json:"wait" expr:"wait"`
	Talk                    int      `json:"talk" expr:"talk"`
	MetServiceLevel         *bool    `json:"met_service_level" expr:"met_service_level"`
	LeaveReason             string   `json:"leave_reason" expr:"leave_reason"`
	From                    string   `json:"from" expr:"from"`
	ParentID                string   `json:"parent_id" expr:"parent_id"`
	OUPath                  string   `json:"ou_path" expr:"ou_path"`
	CallbackRequestID       string   `json:"callback_request_id" expr:"callback_request_id"`
	Transfer                Transfer `json:"transfer" expr:"transfer"`
	ResourceAccountObjectID string   `json:"resource_account_object_id" expr:"resource_account_object_id"`
}

// IVRInput is one input collected by an IVR.
type IVRInput struct {
	ID        string     `json:"id" expr:"id"`
	At        *time.Time `json:"at" expr:"at"`
	Block     string     `json:"block" expr:"block"`
	BlockType string     `json:"block_type" expr:"block_type"`
	Parameter string     `json:"parameter" expr:"parameter"`
	Value     string     `json:"value" expr:"value"`
}

// DataValueCount is the number of IVR data values (DataValue01..DataValue20).
const DataValueCount = 20

// IVR is a contact-center IVR record.
type IVR struct {
	Base
	ScenarioID              string     `json:"scenario_id" expr:"scenario_id"`
	IVR                     Named      `json:"ivr" expr:"ivr"`
	CallLength              int        `json:"call_length" expr:"call_length"`
	From                    string     `json:"from" expr:"from"`
	ParentID                string     `json:"parent_id" expr:"parent_id"`
	OUPath                  string     `json:"ou_path" expr:"ou_path"`
	Transfer                Transfer   `json:"transfer" expr:"transfer"`
	Inputs                  []IVRInput `json:"inputs" expr:"inputs"`
	DataValues              []string   `json:"data_values" expr:"data_values"` // always DataValueCount long; index 0 is DataValue01
	ResourceAccountObjectID string     `json:"resource_account_object_id" expr:"resource_account_object_id"`
}

// SourceStatus is the record of source.connected and source.disconnected.
type SourceStatus struct {
	ID     string    `json:"id" expr:"id"`
	Kind   Kind      `json:"kind" expr:"kind"` // always KindSource
	Source SourceRef `json:"source" expr:"source"`
	Status string    `json:"status" expr:"status"` // connected or disconnected
	At     time.Time `json:"at" expr:"at"`
	Error  string    `json:"error" expr:"error"` // why it disconnected, "" otherwise
}

// WebhookStatus is the record of webhook.failing.
type WebhookStatus struct {
	ID                  string    `json:"id" expr:"id"`
	Kind                Kind      `json:"kind" expr:"kind"` // always KindWebhook
	Webhook             string    `json:"webhook" expr:"webhook"`
	At                  time.Time `json:"at" expr:"at"`
	ConsecutiveFailures int       `json:"consecutive_failures" expr:"consecutive_failures"`
	LastStatus          int       `json:"last_status" expr:"last_status"` // last HTTP status, 0 for a network error
	LastError           string    `json:"last_error" expr:"last_error"`
	Paused              bool      `json:"paused" expr:"paused"`
}

// RecordID implements Record.
func (b *Base) RecordID() string { return b.ID }

// RecordKind implements Record.
func (b *Base) RecordKind() Kind { return b.Kind }

// Key implements Record.
func (b *Base) Key() string { return b.CallID }

// RecordID implements Record.
func (s *SourceStatus) RecordID() string { return s.ID }

// RecordKind implements Record.
func (s *SourceStatus) RecordKind() Kind { return KindSource }

// Key implements Record.
func (s *SourceStatus) Key() string { return s.Source.Name }

// RecordID implements Record.
func (w *WebhookStatus) RecordID() string { return w.ID }

// RecordKind implements Record.
func (w *WebhookStatus) RecordKind() Kind { return KindWebhook }

// Key implements Record.
func (w *WebhookStatus) Key() string { return w.Webhook }

// FieldError is a validation error naming the field and the offending value.
type FieldError struct {
	Field string // JSON path, e.g. "caller.number"
	Value any
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %q %s", e.Field, fmt.Sprint(e.Value), e.Msg)
}

func fieldErr(field string, value any, msg string) error {
	return &FieldError{Field: field, Value: value, Msg: msg}
}

func (b *Base) validate(kind Kind) error {
	if b.ID == "" {
		return fieldErr("id", nil, "is required")
	}
	if b.Kind != kind {
		return fieldErr("kind", b.Kind, fmt.Sprintf("is not %q", kind))
	}
	if b.Source.Kind == "" {
		return fieldErr("source.kind", nil, "is required")
	}
	if !b.Direction.Valid() {
		return fieldErr("direction", b.Direction, "is not one of inbound, outbound, internal, unknown")
	}
	if b.StartedAt.IsZero() {
		return fieldErr("started_at", nil, "is required")
	}
	if b.EndedAt != nil && b.EndedAt.Before(b.StartedAt) {
		return fieldErr("ended_at", b.EndedAt.Format(time.RFC3339Nano), "is before started_at")
	}
	return nil
}

// named is a field name with its value, for ordered checks.
type named struct {
	name  string
	value int
}

func nonNegative(fields ...named) error {
	for _, f := range fields {
		if f.value < 0 {
			return fieldErr(f.name, f.value, "is negative")
		}
	}
	return nil
}

// Validate implements Record.
func (c *Call) Validate() error {
	if err := c.Base.validate(KindCall); err != nil {
		return err
	}
	if c.Disposition != "" && !c.Disposition.Valid() {
		return fieldErr("disposition", c.Disposition, "is not a known disposition")
	}
	if c.AnsweredAt != nil && c.AnsweredAt.Before(c.StartedAt) {
		return fieldErr("answered_at", c.AnsweredAt.Format(time.RFC3339Nano), "is before started_at")
	}
	switch c.Hangup.Initiator {
	case "", InitiatorCaller, InitiatorCallee, InitiatorSystem, InitiatorUnknown:
	default:
		return fieldErr("hangup.initiator", c.Hangup.Initiator, "is not one of caller, callee, system, unknown")
	}
	return nonNegative(named{"duration", c.Duration}, named{"billsec", c.Billsec}, named{"hangup.cause", c.Hangup.Cause}, named{"hangup.sip_code", c.Hangup.SIPCode})
}

// Validate implements Record.
func (q *Queue) Validate() error {
	if err := q.Base.validate(KindQueue); err != nil {
		return err
	}
	return nonNegative(named{"call_length", q.CallLength}, named{"wait", q.Wait}, named{"talk", q.Talk})
}

// Validate implements Record.
func (r *IVR) Validate() error {
	if err := r.Base.validate(KindIVR); err != nil {
		return err
	}
	if len(r.DataValues) != DataValueCount {
		return fieldErr("data_values", len(r.DataValues), fmt.Sprintf("has the wrong length (want %d)", DataValueCount))
	}
	return nonNegative(named{"call_length", r.CallLength})
}

// Validate implements Record.
func (s *SourceStatus) Validate() error {
	switch {
	case s.ID == "":
		return fieldErr("id", nil, "is required")
	case s.Kind != KindSource:
		return fieldErr("kind", s.Kind, `is not "source"`)
	case s.Source.Name == "":
		return fieldErr("source.name", nil, "is required")
	case s.Status != "connected" && s.Status != "disconnected":
		return fieldErr("status", s.Status, "is not connected or disconnected")
	case s.At.IsZero():
		return fieldErr("at", nil, "is required")
	}
	return nil
}

// Validate implements Record.
func (w *WebhookStatus) Validate() error {
	switch {
	case w.ID == "":
		return fieldErr("id", nil, "is required")
	case w.Kind != KindWebhook:
		return fieldErr("kind", w.Kind, `is not "webhook"`)
	case w.Webhook == "":
		return fieldErr("webhook", nil, "is required")
	case w.At.IsZero():
		return fieldErr("at", nil, "is required")
	}
	return nil
}

// ErrUnknownType is returned for an event type cdrgw does not define.
var ErrUnknownType = errors.New("unknown event type")
