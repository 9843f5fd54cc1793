// Package row holds the conversions between store types and table rows
// shared by store/sqlite and store/postgres.
package row

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

// EventRow holds the columns stored for an event.
type EventRow struct {
	ID           string
	Type         string
	Time         time.Time
	SourceKind   string
	SourceName   string
	RecordID     string
	CallID       string
	CallerNumber string
	Body         []byte // the event's JSON
}

// MakeEventRow checks an event and returns the columns to store for it.
func MakeEventRow(e *cdr.Event) (EventRow, error) {
	if e.ID == "" {
		return EventRow{}, errors.New("event id: is required")
	}
	if e.Type == "" {
		return EventRow{}, fmt.Errorf("event %q: type: is required", e.ID)
	}
	if e.Record == nil {
		return EventRow{}, fmt.Errorf("event %q: record: is required", e.ID)
	}
	body, err := cdr.AppendEventJSON(make([]byte, 0, 1024), e) // what json.Marshal writes, without its checking pass
	if err != nil {
		return EventRow{}, fmt.Errorf("event %q: encode: %w", e.ID, err)
	}
	r := EventRow{
		ID: e.ID, Type: string(e.Type), Time: e.Time.UTC(),
		SourceKind: e.Source.Kind, SourceName: e.Source.Name,
		RecordID: e.Record.RecordID(), Body: body,
	}
	var base *cdr.Base
	switch rec := e.Record.(type) {
	case *cdr.Call:
		base = &rec.Base
	case *cdr.Queue:
		base = &rec.Base
	case *cdr.IVR:
		base = &rec.Base
	}
	if base != nil {
		r.CallID = base.CallID
		r.CallerNumber = base.Caller.Number
	}
	return r, nil
}

// DecodeEvent decodes an event body stored by MakeEventRow.
func DecodeEvent(body []byte) (cdr.Event, error) {
	// UnmarshalJSON checks the syntax itself: json.Unmarshal would scan the
	// body once more first.
	var e cdr.Event
	if err := e.UnmarshalJSON(body); err != nil {
		return cdr.Event{}, fmt.Errorf("decode stored event: %w", err)
	}
	return e, nil
}

// CheckNewDelivery reports the first missing field of a new delivery.
func CheckNewDelivery(eventID string, d *store.NewDelivery) error {
	switch {
	case d.ID == "":
		return fmt.Errorf("event %q: delivery id: is required", eventID)
	case d.Webhook == "":
		return fmt.Errorf("event %q: delivery %q: webhook: is required", eventID, d.ID)
	}
	return nil
}

// CheckResult reports the first invalid field of a result.
func CheckResult(r *store.Result) error {
	switch {
	case r.Attempt.DeliveryID == "":
		return errors.New("result: attempt.delivery_id: is required")
	case !r.Status.Valid():
		return fmt.Errorf("result for delivery %q: status %q: is not pending, delivered, failed or dead", r.Attempt.DeliveryID, r.Status)
	case r.Status == store.StatusPending && r.NextAttemptAt.IsZero():
		return fmt.Errorf("result for delivery %q: next_attempt_at: is required when status is pending", r.Attempt.DeliveryID)
	}
	return nil
}

// DecodeAttemptJSON decodes the stored request and response of an attempt into a.
func DecodeAttemptJSON(a *store.Attempt, req, resp []byte) error {
	if len(req) > 0 {
		if err := json.Unmarshal(req, &a.Request); err != nil {
			return fmt.Errorf("decode request of attempt %d of delivery %q: %w", a.N, a.DeliveryID, err)
		}
	}
	if len(resp) > 0 && string(resp) != "null" {
		a.Response = new(store.HTTPResponse)
		if err := json.Unmarshal(resp, a.Response); err != nil {
			return fmt.Errorf("decode response of attempt %d of delivery %q: %w", a.N, a.DeliveryID, err)
		}
	}
	return nil
}

// CheckWebhook reports the first invalid field of a stored webhook.
func CheckWebhook(w *store.StoredWebhook) error {
	switch {
	case w.Name == "":
		return errors.New("name: is required")
	case !json.Valid(w.Spec):
		return fmt.Errorf("webhook %q: spec: is not valid JSON", w.Name)
	}
	return nil
}
