package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// Store is the durable outbox: events, their deliveries, the attempt log,
// paused webhooks and webhooks created through the API. It is implemented by
// store/sqlite and store/postgres and is safe for concurrent use.
type Store interface {
	// Migrate applies the embedded migrations that are not applied yet; it is
	// idempotent and safe to run from several processes at once.
	Migrate(ctx context.Context) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database connections.
	Close() error

	// Accept stores each event with its deliveries in ONE transaction for the
	// whole batch. An event whose id is already stored is skipped with its
	// deliveries, unless Force is set, in which case its deliveries are added
	// anyway. It returns per input event whether it was new.
	Accept(ctx context.Context, batch []NewEvent) ([]bool, error)

	// Claim leases up to p.Limit due deliveries (status pending,
	// next_attempt_at <= p.Now, no live lease, webhook not in p.Exclude and
	// equal to p.Webhook when that is set, and
	// for ordered deliveries no earlier pending delivery of the same webhook
	// and key), oldest next_attempt_at first, for p.Lease. Several processes
	// may claim concurrently: each delivery goes to one.
	Claim(ctx context.Context, p ClaimParams) ([]Job, error)

	// Finish records the attempts of a batch of results and moves each
	// delivery to its new status in one transaction; a result whose owner no
	// longer holds the lease is still logged as an attempt but does not
	// change the delivery.
	Finish(ctx context.Context, results []Result) error

	// Release gives back leased deliveries that were never attempted (the
	// engine claimed them but is stopping): for every id in ids that is
	// pending and leased by owner, the lease is cleared and the delivery is
	// due again at next. No attempt is logged and the attempt count does not
	// change; ids that owner does not hold are left alone.
	Release(ctx context.Context, owner string, ids []string, next time.Time) error
	// ReleaseOwner gives back every pending delivery leased by owner (a
	// claim whose answer was lost): the lease is cleared and the delivery is
	// due again at next; no attempt is logged and the attempt count does not
	// change. Deliveries of other owners, and final ones, are left alone.
	ReleaseOwner(ctx context.Context, owner string, next time.Time) error

	// AddAttempt logs a manual attempt (resend, test) without changing the
	// schedule; it sets the status to delivered when the attempt succeeded.
	AddAttempt(ctx context.Context, a Attempt, succeeded bool) error

	// GetEvent returns the stored event with the given id, or ErrNotFound.
	GetEvent(ctx context.Context, id string) (cdr.Event, error)
	// GetDelivery returns a delivery and its attempts (oldest first), or ErrNotFound.
	GetDelivery(ctx context.Context, id string) (Delivery, []Attempt, error)
	// ListDeliveries returns a page of deliveries matching f, newest first,
	// and the cursor of the next page ("" at the end). Paging is by key, never
	// by offset, so rows added while paging cause no gaps or repeats.
	ListDeliveries(ctx context.Context, f Filter) ([]Delivery, string, error)
	// EventDelivered reports whether any delivery of the event was delivered
	// (replay uses it to skip events that already went out).
	EventDelivered(ctx context.Context, eventID string) (bool, error)
	// RecentAttempts returns up to n of the webhook's latest attempts, newest first.
	RecentAttempts(ctx context.Context, webhook string, n int) ([]Attempt, error)
	// Stats counts deliveries by status and reports the queue backlog at now.
	Stats(ctx context.Context, now time.Time) (Stats, error)
	// ListEvents returns a page of stored events matching f, newest first
	// (by store sequence number), and the cursor of the next page ("" at the
	// end). Paging is by key, like ListDeliveries.
	ListEvents(ctx context.Context, f EventFilter) ([]EventSummary, string, error)
	// Outcomes counts each webhook's attempts per bucket of the time range
	// [since, until) (for sparklines); see OutcomeBucket. Every webhook with
	// an attempt in the range gets all OutcomeBuckets(since, until, bucket)
	// buckets, oldest first, starting at since (empty ones included; the
	// last may be shorter than bucket); other webhooks are absent.
	Outcomes(ctx context.Context, since, until time.Time, bucket time.Duration) (map[string][]OutcomeBucket, error)

	// SetPaused records whether a webhook is paused.
	SetPaused(ctx context.Context, webhook string, paused bool) error
	// Paused returns the recorded paused state of every webhook that has one.
	Paused(ctx context.Context) (map[string]bool, error)
	// PutWebhook creates or replaces a webhook created via the API or UI.
	PutWebhook(ctx context.Context, w StoredWebhook) error
	// DeleteWebhook deletes a stored webhook, or returns ErrNotFound.
	DeleteWebhook(ctx context.Context, name string) error
	// ListWebhooks returns the stored webhooks ordered by name.
	ListWebhooks(ctx context.Context) ([]StoredWebhook, error)
}

// ErrNotFound is returned (wrapped) when an event, delivery or webhook does not exist.
var ErrNotFound = errors.New("not found")

// Status is the state of a delivery.
type Status string

// Delivery statuses. Pending deliveries are waiting for an attempt (or
// being attempted, when leased); the others are final.
const (
	StatusPending   Status = "pending"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed" // a final non-retryable answer (most 4xx)
	StatusDead      Status = "dead"   // retries exhausted
)

// Statuses lists every status in a stable order.
var Statuses = []Status{StatusPending, StatusDelivered, StatusFailed, StatusDead}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusDelivered, StatusFailed, StatusDead:
		return true
	}
	return false
}

// NewEvent is an event to store together with the deliveries it causes.
type NewEvent struct {
	Event      cdr.Event
	Force      bool // add the deliveries even when the event is already stored (replay --force, resend)
	Deliveries []NewDelivery
}

// NewDelivery is a delivery of an event to one webhook.
type NewDelivery struct {
	ID        string    // caller-generated, unique, time-sortable
	Webhook   string    // webhook name
	Key       string    // record key (cdr.Record.Key()), for debounce and ordering
	NotBefore time.Time // first attempt not before; zero means now
	// Debounce replaces a pending, never-attempted, never-leased debounced
	// delivery with the same (webhook, event type, key): that delivery takes
	// this event id and NotBefore and no new row is added.
	Debounce bool
	// Ordered holds this delivery until every earlier pending delivery of
	// the same webhook and key is delivered, failed or dead.
	Ordered bool
}

// Delivery is the stored state of one delivery.
type Delivery struct {
	ID            string
	Webhook       string
	EventID       string
	EventType     cdr.Type
	Key           string
	Status        Status
	Attempts      int // attempts made by workers (manual attempts are not counted)
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastError     string
	Ordered       bool
	Debounce      bool
	LeaseOwner    string    // "" when not leased
	LeaseUntil    time.Time // zero when not leased
}

// Job is a claimed delivery with its event.
type Job struct {
	Delivery Delivery
	Event    cdr.Event
	Lease    string // the owner that claimed it
}

// HTTPRequest is the request an attempt sent (secrets redacted).
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// HTTPResponse is the response an attempt received.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"` // the first 4 KiB
}

// Attempt is one logged attempt of a delivery.
type Attempt struct {
	DeliveryID string
	N          int // attempt number, 1-based; 0 lets the store assign the next number
	At         time.Time
	Manual     bool // a resend or test, not counted against the retry budget
	Request    HTTPRequest
	Response   *HTTPResponse // nil when no response
	LatencyMS  int64
	Error      string
	Webhook    string // filled in by the store when reading
}

// Result is the outcome of one claimed job.
type Result struct {
	Owner         string // the lease owner that claimed the job
	Attempt       Attempt
	Status        Status    // new status
	NextAttemptAt time.Time // when Status is pending
}

// ClaimParams says what to claim.
type ClaimParams struct {
	Owner   string        // lease owner, unique per worker process
	Now     time.Time     // due deliveries have next_attempt_at <= Now
	Limit   int           // at most this many; <= 0 means 1
	Lease   time.Duration // leases last until Now+Lease
	Exclude []string      // webhooks not to claim (paused)
	Webhook string        // when not "", claim only this webhook's deliveries
}

// Filter selects deliveries for ListDeliveries; zero fields do not filter.
type Filter struct {
	Webhook   string
	Status    Status
	EventType cdr.Type
	EventID   string
	Since     time.Time // created at or after
	Until     time.Time // created before
	Limit     int       // page size; 0 means DefaultLimit, capped at MaxLimit
	Cursor    string    // from the previous page; "" for the first
}

// Page sizes of ListDeliveries.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// PageLimit returns the page size for f.Limit.
func (f Filter) PageLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// EventFilter selects events for ListEvents; zero fields do not filter.
// Since and Until compare with the time the store received the event
// (EventSummary.ReceivedAt, the store's clock), not the record's own time:
// it follows the paging order, so a time range stays cheap to page.
type EventFilter struct {
	CallerNumber string    // exact caller number
	CallID       string    // exact call id
	Type         cdr.Type  // event type
	Source       string    // source name
	Since        time.Time // received at or after
	Until        time.Time // received before
	Limit        int       // page size; 0 means DefaultLimit, capped at MaxLimit
	Cursor       string    // from the previous page; "" for the first
}

// PageLimit returns the page size for f.Limit.
func (f EventFilter) PageLimit() int { return Filter{Limit: f.Limit}.PageLimit() }

// EventSummary is a stored event without its record.
type EventSummary struct {
	Seq          int64 // store sequence number, increasing in the order events were stored
	ID           string
	Type         cdr.Type
	Time         time.Time // the event's time
	SourceKind   string
	SourceName   string
	RecordID     string
	CallID       string
	CallerNumber string
	ReceivedAt   time.Time // when the store accepted it
}

// OutcomeBucket counts a webhook's attempts in [Start, Start+bucket). An
// attempt is OK when it got a 2xx response and no error, and Failed
// otherwise (no response, an error, or any other status). Manual attempts
// (resend, test send of a stored delivery) count too: they went to the
// same endpoint. Attempts are placed by their time (Attempt.At).
type OutcomeBucket struct {
	Start      time.Time
	OK, Failed int
}

// MaxOutcomeBuckets bounds the number of buckets Outcomes returns per webhook.
const MaxOutcomeBuckets = 10000

// OutcomeBuckets returns the number of buckets of bucket length covering
// [since, until), the last one possibly partial, or an error naming the
// values when the range or the bucket length is unusable.
func OutcomeBuckets(since, until time.Time, bucket time.Duration) (int, error) {
	if bucket <= 0 || bucket%time.Microsecond != 0 {
		return 0, fmt.Errorf("outcomes: bucket %v: is not a positive whole number of microseconds", bucket)
	}
	if until.Before(since) {
		return 0, fmt.Errorf("outcomes: until %s: is before since %s", until.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
	}
	d := until.Sub(since)
	n := d / bucket
	if d%bucket != 0 {
		n++
	}
	if n > MaxOutcomeBuckets {
		return 0, fmt.Errorf("outcomes: bucket %v: makes %d buckets of %v, more than %d", bucket, n, d, MaxOutcomeBuckets)
	}
	return int(n), nil
}

// Stats is a summary of the outbox.
type Stats struct {
	Pending       int64
	Due           int64     // pending deliveries due at the Stats call's now
	OldestPending time.Time // creation time of the oldest pending delivery; zero if none
	ByStatus      map[Status]int64
}

// StoredWebhook is a webhook created via the API or UI, kept as its JSON spec.
type StoredWebhook struct {
	Name      string
	Spec      json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EncodeCursor returns the opaque cursor that pages after the delivery (or,
// for ListEvents, the event) with sequence number seq.
func EncodeCursor(seq int64) string {
	return "s" + strconv.FormatInt(seq, 36)
}

// DecodeCursor parses a cursor made by EncodeCursor; "" decodes to 0 (the first page).
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(c, "s")
	if !ok || rest == "" || len(rest) > 13 {
		return 0, fmt.Errorf("cursor %q: %w", c, errBadCursor)
	}
	seq, err := strconv.ParseInt(rest, 36, 64)
	if err != nil || seq <= 0 || EncodeCursor(seq) != c {
		return 0, fmt.Errorf("cursor %q: %w", c, errBadCursor)
	}
	return seq, nil
}

var errBadCursor = errors.New("is not a cursor returned by a previous page")

// NewOutcomeBuckets returns n empty buckets of length bucket from since.
func NewOutcomeBuckets(since time.Time, bucket time.Duration, n int) []OutcomeBucket {
	bs := make([]OutcomeBucket, n)
	for i := range bs {
		bs[i].Start = since.Add(time.Duration(i) * bucket)
	}
	return bs
}
