package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// Manual attempts: a resend of a stored delivery and a test send of a
// sample record. Both make exactly one attempt through the webhook's own
// renderer, signer, sender and timeout, whether or not the webhook is paused,
// and never schedule a retry.
//
// A resend keeps the delivery's id (the webhook-id header), as an automatic
// retry does: it is the same message sent again, so a receiver that already
// processed it may drop it as a duplicate. Its attempt is logged with
// manual=true (not counted against the retry budget) and, when it succeeds,
// the delivery becomes delivered. It counts in the endpoint's health.
//
// A test send renders mapping.SampleEvent of the webhook's first event type
// under a fresh delivery id and is not stored: no event, no delivery and no
// attempt row is written, and it does not count in the endpoint's health, so
// that test sends neither appear in the delivery log nor skew its figures.

// ErrUnknownWebhook is returned (wrapped) when no webhook has the given name.
var ErrUnknownWebhook = errors.New("no such webhook")

// ErrSampleSkipped is returned (wrapped) by TestSend when the webhook's
// "when" filter rejects the sample record, so there is nothing to send.
var ErrSampleSkipped = errors.New("the sample record does not pass the webhook's filter")

// ManualAttempt is the result of a resend or a test send.
type ManualAttempt struct {
	Attempt   store.Attempt // as logged (for a test send: as it would be logged)
	OK        bool          // the receiver answered 2xx
	EventID   string
	EventType cdr.Type
}

// WebhookInfo describes a webhook the engine runs, for the admin API.
type WebhookInfo struct {
	Name     string
	Active   bool
	Paused   bool
	Events   []cdr.Type
	Encoding string
	URL      string // as configured, secrets redacted
	Health   HealthSnapshot
}

// manualStore is what manual attempts need from the store beyond Store;
// store.Store has it.
type manualStore interface {
	GetEvent(ctx context.Context, id string) (cdr.Event, error)
	GetDelivery(ctx context.Context, id string) (store.Delivery, []store.Attempt, error)
}

// specer is implemented by *mapping.Webhook.
type specer interface{ Spec() mapping.Spec }

// Webhooks describes every webhook of the engine, in config order.
func (e *Engine) Webhooks() []WebhookInfo {
	set := e.set()
	out := make([]WebhookInfo, 0, len(set.order))
	for _, h := range set.order {
		out = append(out, e.info(h))
	}
	return out
}

// Webhook describes the named webhook.
func (e *Engine) Webhook(name string) (WebhookInfo, bool) {
	h := e.hook(name)
	if h == nil {
		return WebhookInfo{}, false
	}
	return e.info(h), true
}

func (e *Engine) info(h *hook) WebhookInfo {
	w := WebhookInfo{Name: h.Name, Active: h.Active, Paused: h.paused.Load(), Health: h.health.Snapshot(), Events: []cdr.Type{}}
	if s, ok := h.Renderer.(specer); ok {
		spec := s.Spec()
		w.Events = append(w.Events, spec.Events...)
		w.Encoding = spec.Encoding
		if w.Encoding == "" {
			w.Encoding = mapping.EncodingJSON
		}
		w.URL = RedactURL(spec.URL, h.redactions())
	}
	return w
}

// redactions lists the strings the attempt log hides for h.
func (h *hook) redactions() []string {
	return append(append([]string(nil), h.Signer.Secrets()...), h.Secrets...)
}

// Resend makes one manual attempt of a stored delivery now and logs it. The
// error is store.ErrNotFound (wrapped) for an unknown delivery or event and
// ErrUnknownWebhook when the delivery's webhook is no longer configured; a
// failed attempt is not an error (see ManualAttempt.OK and Attempt.Error).
func (e *Engine) Resend(ctx context.Context, deliveryID string) (ManualAttempt, error) {
	ms, ok := e.st.(manualStore)
	if !ok {
		return ManualAttempt{}, errors.New("resend: the store cannot read deliveries")
	}
	d, _, err := ms.GetDelivery(ctx, deliveryID)
	if err != nil {
		return ManualAttempt{}, fmt.Errorf("resend: %w", err)
	}
	h := e.hook(d.Webhook)
	if h == nil {
		return ManualAttempt{}, fmt.Errorf("resend delivery %q: webhook %q: %w", deliveryID, d.Webhook, ErrUnknownWebhook)
	}
	ev, err := ms.GetEvent(ctx, d.EventID)
	if err != nil {
		return ManualAttempt{}, fmt.Errorf("resend delivery %q: %w", deliveryID, err)
	}
	m := e.manualAttempt(ctx, h, ev, deliveryID)
	h.health.Record(m.OK, m.status(), time.Duration(m.Attempt.LatencyMS)*time.Millisecond)
	// The log write must not be lost because the caller went away after the
	// request was sent.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.st.AddAttempt(wctx, m.Attempt, m.OK); err != nil {
		return m, fmt.Errorf("resend delivery %q: log attempt: %w", deliveryID, err)
	}
	// A delivered ordered delivery lets the next of its key go.
	e.markDue(d.Webhook, e.opts.Now())
	if m.OK {
		e.opts.Metrics.attempt(h.Name, string(store.StatusDelivered), time.Duration(m.Attempt.LatencyMS)*time.Millisecond)
	}
	// Read back the number the store gave the attempt.
	if _, as, err := ms.GetDelivery(wctx, deliveryID); err == nil {
		for i := len(as) - 1; i >= 0; i-- {
			if as[i].Manual && as[i].At.Equal(m.Attempt.At.Truncate(time.Microsecond)) {
				m.Attempt.N = as[i].N
				break
			}
		}
	}
	return m, nil
}

// TestSend renders a sample record of the webhook's first event type and
// sends it once now under a fresh delivery id, without storing anything. The
// error is ErrUnknownWebhook or ErrSampleSkipped (wrapped); a failed attempt
// is not an error.
func (e *Engine) TestSend(ctx context.Context, webhook string) (ManualAttempt, error) {
	h := e.hook(webhook)
	if h == nil {
		return ManualAttempt{}, fmt.Errorf("test send: webhook %q: %w", webhook, ErrUnknownWebhook)
	}
	s, ok := h.Renderer.(specer)
	if !ok || len(s.Spec().Events) == 0 {
		return ManualAttempt{}, fmt.Errorf("test send: webhook %q subscribes to no event type", webhook)
	}
	ev := mapping.SampleEvent(s.Spec().Events[0])
	if _, err := h.Renderer.Render(ev, ""); errors.Is(err, mapping.ErrSkipped) {
		return ManualAttempt{}, fmt.Errorf("test send: webhook %q, sample %s record %s: %w", webhook, ev.Type, ev.ID, ErrSampleSkipped)
	}
	m := e.manualAttempt(ctx, h, ev, NewID(e.opts.Now()))
	m.Attempt.N = 1
	return m, nil
}

// TestWebhook renders ev with w, which need not be one of the engine's
// webhooks, and sends it once now under a fresh delivery id, without storing
// anything and without counting in any webhook's health: TestSend for a
// definition being edited. The error is ErrSampleSkipped (wrapped) when w
// does not subscribe to ev's type or its filter rejects ev, or says why w is
// not a usable webhook; a failed attempt is not an error.
func (e *Engine) TestWebhook(ctx context.Context, w Webhook, ev cdr.Event) (ManualAttempt, error) {
	if w.Name == "" {
		w.Name = "test"
	}
	h, err := e.newHook(w)
	if err != nil {
		return ManualAttempt{}, fmt.Errorf("test webhook: %w", err)
	}
	h.hookState = &hookState{health: &Health{}}
	if _, err := h.Renderer.Render(ev, ""); errors.Is(err, mapping.ErrSkipped) {
		return ManualAttempt{}, fmt.Errorf("test webhook %q: %w: %w", w.Name, ErrSampleSkipped, err)
	}
	m := e.manualAttempt(ctx, h, ev, NewID(e.opts.Now()))
	m.Attempt.N = 1
	return m, nil
}

// manualAttempt renders ev for h and sends it once.
func (e *Engine) manualAttempt(ctx context.Context, h *hook, ev cdr.Event, deliveryID string) ManualAttempt {
	now := e.opts.Now()
	m := ManualAttempt{EventID: ev.ID, EventType: ev.Type,
		Attempt: store.Attempt{DeliveryID: deliveryID, At: now, Manual: true, Webhook: h.Name}}
	req, err := h.Renderer.Render(ev, deliveryID)
	if err != nil {
		m.Attempt.Error = "render: " + err.Error()
		return m
	}
	r := h.sender.Send(ctx, &Request{Method: req.Method, URL: req.URL, Header: req.Header, Body: req.Body, Redact: h.Secrets},
		h.Timeout, h.Signer, deliveryID, now)
	m.Attempt.At = r.At
	m.Attempt.Request = store.HTTPRequest(r.Request)
	if r.Response != nil {
		resp := store.HTTPResponse(*r.Response)
		m.Attempt.Response = &resp
	}
	m.Attempt.LatencyMS = r.Latency.Milliseconds()
	m.Attempt.Error = r.Error
	m.OK = r.Outcome.Final == Delivered
	return m
}

func (m ManualAttempt) status() int {
	if m.Attempt.Response == nil {
		return 0
	}
	return m.Attempt.Response.Status
}

// Planned is one event with the deliveries replay plans for it.
type Planned struct {
	Event      cdr.Event
	Deliveries []store.NewDelivery
}

// Plan returns the deliveries ev would get from Accept, limited to the named
// webhooks (all when none are named), for replay. Replayed deliveries are
// never debounced: replayed records are final, and a debounced delivery
// could merge into one that replay does not wait for.
func (e *Engine) Plan(ev cdr.Event, webhooks []string) []store.NewDelivery {
	ds := e.deliveriesFor(ev, e.opts.Now())
	out := ds[:0]
	for _, d := range ds {
		if len(webhooks) > 0 && !slices.Contains(webhooks, d.Webhook) {
			continue
		}
		d.Debounce = false
		out = append(out, d)
	}
	return out
}

// AcceptPlanned stores the planned events and deliveries in one transaction
// (as store.Store.Accept does, force adding the deliveries of events already
// stored) and wakes the workers. It reports per event whether it was new.
func (e *Engine) AcceptPlanned(ctx context.Context, planned []Planned, force bool) ([]bool, error) {
	batch := make([]store.NewEvent, 0, len(planned))
	for i, p := range planned {
		if err := p.Event.Validate(); err != nil {
			return nil, fmt.Errorf("event %d (%s): %w", i, p.Event.ID, err)
		}
		batch = append(batch, store.NewEvent{Event: p.Event, Force: force, Deliveries: p.Deliveries})
	}
	fresh, err := e.st.Accept(ctx, batch)
	if err != nil {
		return nil, fmt.Errorf("store events: %w", err)
	}
	for i, ok := range fresh {
		if ok {
			e.opts.Metrics.accepted(planned[i].Event)
		}
	}
	e.markAccepted(batch)
	return fresh, nil
}
