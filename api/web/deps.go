package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/ingest"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// Options configures the console. Engine and Store are required; the others
// may be nil, and a page whose dependency is nil says what is not available.
type Options struct {
	// Token is the admin token that signs in; "" leaves the console open
	// (config allows that only on a loopback listener).
	Token string
	// Webhooks creates, edits and deletes webhooks and compiles specs for
	// the preview; nil makes the webhooks read-only (no editor).
	Webhooks Webhooks
	// Engine is the delivery engine.
	Engine Engine
	// Store reads events and deliveries.
	Store Store
	// Events searches events and counts outcomes; nil hides the events
	// search and the sparklines.
	Events EventStore
	// Sources reports the state of the sources; nil shows none.
	Sources Sources
	// Preview renders ev with a compiled webhook as it would be sent; nil
	// means webhookset.Preview.
	Preview func(w *config.Webhook, ev cdr.Event) (*mapping.Request, error)
	// Sample returns the sample event of a type for previews; nil means
	// mapping.SampleEvent.
	Sample func(t cdr.Type) cdr.Event
	// Logger logs failures; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SessionTTL is how long a sign-in lasts; 0 means 12 hours.
	SessionTTL time.Duration
	// Context is the console's lifetime: work it runs in the background
	// (counting the sparklines' outcomes) stops when it ends; nil means
	// context.Background.
	Context context.Context
}

// Entry is one webhook of the set.
type Entry = webhookset.Entry

// Webhooks is the set of webhooks: those of the config file (read-only) and
// those stored in the database; *webhookset.Set is one. Create, Update and
// Compile return config.Errors for a definition that does not load, with
// paths relative to the webhook.
type Webhooks interface {
	List() []Entry
	Get(name string) (Entry, bool)
	Create(ctx context.Context, spec []byte) (Entry, error)
	Update(ctx context.Context, name string, spec []byte) (Entry, error)
	Delete(ctx context.Context, name string) error
	Compile(spec []byte) (*config.Webhook, error)
	// Test compiles spec and sends ev with it once now, storing nothing.
	Test(ctx context.Context, spec []byte, ev cdr.Event) (delivery.ManualAttempt, error)
}

// Engine is the delivery engine as the console drives it; *delivery.Engine
// is one.
type Engine interface {
	Webhooks() []delivery.WebhookInfo
	SetPaused(ctx context.Context, webhook string, paused bool) error
	Resend(ctx context.Context, deliveryID string) (delivery.ManualAttempt, error)
	TestSend(ctx context.Context, webhook string) (delivery.ManualAttempt, error)
	// TestWebhook sends ev once with w now, storing nothing.
	TestWebhook(ctx context.Context, w delivery.Webhook, ev cdr.Event) (delivery.ManualAttempt, error)
	Plan(ev cdr.Event, webhooks []string) []store.NewDelivery
	AcceptPlanned(ctx context.Context, planned []delivery.Planned, force bool) ([]bool, error)
}

// Store reads events and deliveries; store.Store is one.
type Store interface {
	GetEvent(ctx context.Context, id string) (cdr.Event, error)
	GetDelivery(ctx context.Context, id string) (store.Delivery, []store.Attempt, error)
	ListDeliveries(ctx context.Context, f store.Filter) ([]store.Delivery, string, error)
}

// Sources reports the sources' states; *ingest.Board is one.
type Sources interface {
	Snapshot() []ingest.State
}
