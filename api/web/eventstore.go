package web

import (
	"context"
	"time"

	"github.com/cdrgw/cdrgw/store"
)

// EventStore searches stored events and counts attempt outcomes; store.Store
// is one.
type EventStore interface {
	ListEvents(ctx context.Context, f EventFilter) ([]EventSummary, string, error)
	Outcomes(ctx context.Context, since, until time.Time, bucket time.Duration) (map[string][]OutcomeBucket, error)
}

// EventFilter selects events.
type EventFilter = store.EventFilter

// EventSummary is one event of a list.
type EventSummary = store.EventSummary

// OutcomeBucket counts a webhook's attempts in one time slot.
type OutcomeBucket = store.OutcomeBucket
