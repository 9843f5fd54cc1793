// Package ingest defines the contract between cdrgw's input adapters and the
// rest of the gateway: a Source produces events and hands them to a Sink.
//
// Adapters know nothing of webhooks or storage. A Sink's Accept returns only
// once the events are stored, so an adapter that can acknowledge its peer
// (HTTP 202 for Teams) does so only after Accept returns nil.
package ingest

import (
	"context"

	"github.com/cdrgw/cdrgw/cdr"
)

// Sink takes events from a source. Accept returns after the events are
// durably stored (or, for offline tools, fully processed).
type Sink interface {
	Accept(ctx context.Context, events []cdr.Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, events []cdr.Event) error

// Accept implements Sink.
func (f SinkFunc) Accept(ctx context.Context, events []cdr.Event) error { return f(ctx, events) }

// Source is a running input: an ARI connection, a HEP listener, a file.
// Run blocks until ctx is done or the source fails for good.
type Source interface {
	Name() string
	Run(ctx context.Context, sink Sink) error
}
