package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// Renderer renders a webhook's request for an event; *mapping.Webhook is one.
type Renderer interface {
	Subscribes(t cdr.Type) bool
	Render(ev cdr.Event, deliveryID string) (*mapping.Request, error)
}

// Store is what the engine needs from storage; store.Store satisfies it.
type Store interface {
	Accept(ctx context.Context, batch []store.NewEvent) ([]bool, error)
	Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error)
	Finish(ctx context.Context, results []store.Result) error
	AddAttempt(ctx context.Context, a store.Attempt, succeeded bool) error
	SetPaused(ctx context.Context, webhook string, paused bool) error
	Paused(ctx context.Context) (map[string]bool, error)
	RecentAttempts(ctx context.Context, webhook string, n int) ([]store.Attempt, error)
	Stats(ctx context.Context, now time.Time) (store.Stats, error)
}

// Webhook is one webhook as the engine runs it.
type Webhook struct {
	Name           string
	Renderer       Renderer
	Active         bool          // inactive webhooks enqueue nothing
	Delay          time.Duration // before the first attempt
	Debounce       time.Duration // latest wins within the window, per (event type, key)
	Timeout        time.Duration // per attempt
	MaxAttempts    int           // total automatic attempts
	Retry          RetryPolicy
	Signer         *Signer  // nil: requests are not signed
	Secrets        []string // redacted from the attempt log
	Concurrency    int      // attempts in flight at once
	Ordered        bool     // deliveries sharing a key go out in event order
	FailingAfter   int      // consecutive failures before webhook.failing
	PauseOnFailing bool
	RetryOn        []int // statuses retried besides the default ones
}

// Options configures an Engine.
type Options struct {
	Owner        string        // lease owner; unique per process
	Workers      int           // attempts in flight at once across all webhooks (default 64)
	PollInterval time.Duration // how often to look for due work without a local wake-up (default 250ms)
	Lease        time.Duration // how long a claim lasts (default: longest timeout + 30s)
	Logger       *slog.Logger
	Metrics      *Metrics
	Client       *http.Client // nil means NewClient(false): private targets refused
	UserAgent    string
	Now          func() time.Time
	Source       cdr.SourceRef // source of webhook.failing events
}

// Engine accepts events into the store and delivers them.
type Engine struct {
	st    Store
	opts  Options
	hooks map[string]*hook
	order []*hook

	wake     chan struct{}
	results  chan store.Result
	inflight atomic.Int64

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc // stops claiming
	abort   context.CancelFunc // cancels sends in flight
	workers sync.WaitGroup
	loops   sync.WaitGroup
}

type hook struct {
	Webhook
	slots    chan struct{}
	assigned atomic.Int64
	paused   atomic.Bool
	health   *Health
	sender   *Sender

	mu          sync.Mutex
	consecutive int
	raised      bool
}

// New returns an engine for the given webhooks. Call Start to deliver.
func New(st Store, webhooks []Webhook, opts Options) (*Engine, error) {
	if opts.Owner == "" {
		return nil, errors.New("delivery: Options.Owner is required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Client == nil {
		opts.Client = NewClient(false)
	}
	if opts.Source.Kind == "" {
		opts.Source = cdr.SourceRef{Kind: "cdrgw", Name: "cdrgw"}
	}
	e := &Engine{
		st:      st,
		opts:    opts,
		hooks:   make(map[string]*hook, len(webhooks)),
		wake:    make(chan struct{}, 1),
		results: make(chan store.Result, 4*opts.Workers),
	}
	var longest time.Duration
	for _, w := range webhooks {
		if _, dup := e.hooks[w.Name]; dup {
			return nil, fmt.Errorf("delivery: webhook %q defined twice", w.Name)
		}
		if w.Concurrency <= 0 {
			w.Concurrency = 4
		}
		if w.MaxAttempts <= 0 {
			w.MaxAttempts = 3
		}
		if w.Timeout <= 0 {
			w.Timeout = 10 * time.Second
		}
		if w.Retry == nil {
			w.Retry = Backoff{Schedule: Exponential, Interval: 30 * time.Second, MaxInterval: 10 * time.Minute, Jitter: 0.1}
		}
		longest = max(longest, w.Timeout)
		h := &hook{Webhook: w, slots: make(chan struct{}, w.Concurrency), health: &Health{},
			sender: &Sender{Client: opts.Client, UserAgent: opts.UserAgent, RetryOn: w.RetryOn}}
		e.hooks[w.Name] = h
		e.order = append(e.order, h)
	}
	if e.opts.Lease <= 0 {
		e.opts.Lease = longest + 30*time.Second
	}
	return e, nil
}

// Accept implements ingest.Sink: it stores the events with one delivery per
// matching active webhook in one transaction and returns once they are
// committed.
func (e *Engine) Accept(ctx context.Context, events []cdr.Event) error {
	_, err := e.AcceptBatch(ctx, events, false)
	return err
}

// AcceptBatch is Accept that reports per event whether it was new. With force,
// events already stored get new deliveries anyway (replay --force).
func (e *Engine) AcceptBatch(ctx context.Context, events []cdr.Event, force bool) ([]bool, error) {
	now := e.opts.Now()
	batch := make([]store.NewEvent, 0, len(events))
	for i := range events {
		ev := events[i]
		if err := ev.Validate(); err != nil {
			return nil, fmt.Errorf("event %d (%s): %w", i, ev.ID, err)
		}
		batch = append(batch, store.NewEvent{Event: ev, Force: force, Deliveries: e.deliveriesFor(ev, now)})
	}
	fresh, err := e.st.Accept(ctx, batch)
	if err != nil {
		return nil, fmt.Errorf("store events: %w", err)
	}
	for i, ok := range fresh {
		if ok {
			e.opts.Metrics.accepted(events[i])
		}
	}
	e.signal()
	return fresh, nil
}

// deliveriesFor returns the deliveries ev causes: one per active webhook that
// subscribes to its type and whose filter accepts it.
func (e *Engine) deliveriesFor(ev cdr.Event, now time.Time) []store.NewDelivery {
	var out []store.NewDelivery
	for _, h := range e.order {
		if !h.Active || !h.Renderer.Subscribes(ev.Type) {
			continue
		}
		// A render error is not a reason to drop the event: the delivery is
		// created and fails at send time with the error in its attempt log.
		if _, err := h.Renderer.Render(ev, ""); errors.Is(err, mapping.ErrSkipped) {
			continue
		}
		d := store.NewDelivery{
			ID:        NewID(now),
			Webhook:   h.Name,
			Key:       ev.Record.Key(),
			NotBefore: now.Add(h.Delay),
			Ordered:   h.Ordered,
		}
		if h.Debounce > 0 {
			d.Debounce = true
			d.NotBefore = now.Add(max(h.Delay, h.Debounce))
		}
		out = append(out, d)
	}
	return out
}

// signal wakes the claim loop without blocking.
func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start loads paused state and recent health, then starts claiming and
// delivering in the background until Stop.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("delivery: engine already started")
	}
	paused, err := e.st.Paused(ctx)
	if err != nil {
		return fmt.Errorf("load paused webhooks: %w", err)
	}
	for _, h := range e.order {
		h.paused.Store(paused[h.Name])
		recent, err := e.st.RecentAttempts(ctx, h.Name, 100)
		if err != nil {
			return fmt.Errorf("load health of webhook %q: %w", h.Name, err)
		}
		for i := len(recent) - 1; i >= 0; i-- {
			a := recent[i]
			status := 0
			if a.Response != nil {
				status = a.Response.Status
			}
			h.health.Record(a.Error == "" && status >= 200 && status < 300, status, time.Duration(a.LatencyMS)*time.Millisecond)
		}
	}
	claimCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sendCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel, e.abort, e.started = cancel, abort, true
	e.loops.Add(2)
	go func() { defer e.loops.Done(); e.claimLoop(claimCtx, sendCtx) }()
	go func() { defer e.loops.Done(); e.finishLoop() }()
	return nil
}

// Stop stops claiming, lets attempts in flight finish until ctx is done
// (then cancels them; their deliveries are retried), writes every result and
// returns when all goroutines are gone. It is safe to call more than once.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		return nil
	}
	e.started = false
	e.cancel()
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.abort()
		<-done
	}
	close(e.results)
	e.loops.Wait()
	e.abort()
	return nil
}

func (e *Engine) claimLoop(ctx, sendCtx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
		for e.claim(ctx, sendCtx) {
		}
		timer.Reset(e.opts.PollInterval)
	}
}

// claim claims due work for each webhook with free slots; it reports whether
// a webhook's claim came back full, so more may be due at once.
func (e *Engine) claim(ctx, sendCtx context.Context) (more bool) {
	now := e.opts.Now()
	for _, h := range e.order {
		free := min(int64(h.Concurrency)-h.assigned.Load(), int64(e.opts.Workers)-e.inflight.Load())
		if free <= 0 || h.paused.Load() {
			continue
		}
		jobs, err := e.st.Claim(ctx, store.ClaimParams{
			Owner: e.opts.Owner, Now: now, Limit: int(free), Lease: e.opts.Lease, Webhook: h.Name,
		})
		if err != nil {
			if ctx.Err() == nil {
				e.opts.Logger.Warn("claim deliveries", "webhook", h.Name, "err", err)
			}
			return false
		}
		for _, j := range jobs {
			e.inflight.Add(1)
			h.assigned.Add(1)
			e.workers.Add(1)
			go e.work(sendCtx, h, j)
		}
		if int64(len(jobs)) == free {
			more = true
		}
	}
	return more && ctx.Err() == nil
}

func (e *Engine) work(ctx context.Context, h *hook, j store.Job) {
	defer e.workers.Done()
	defer e.signal()
	defer e.inflight.Add(-1)
	defer h.assigned.Add(-1)
	res := e.attempt(ctx, h, j)
	e.results <- res
}

// finishLoop writes results in batches until the results channel is closed.
func (e *Engine) finishLoop() {
	const maxBatch = 256
	batch := make([]store.Result, 0, maxBatch)
	for r := range e.results {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-e.results:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		e.finish(batch)
	}
}

// finish writes a batch of results, retrying while the store is down: a
// result that is never written leaves its lease to expire and the delivery
// is attempted again (at least once).
func (e *Engine) finish(batch []store.Result) {
	backoff := 50 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.st.Finish(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		e.opts.Logger.Error("write delivery results", "results", len(batch), "try", try, "err", err)
		if try >= 20 {
			e.opts.Logger.Error("giving up writing delivery results; their deliveries will be retried when their leases expire", "results", len(batch))
			return
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// attempt makes one automatic attempt of a claimed delivery and returns its result.
func (e *Engine) attempt(ctx context.Context, h *hook, j store.Job) store.Result {
	n := j.Delivery.Attempts + 1
	now := e.opts.Now()
	res := store.Result{Owner: e.opts.Owner, Attempt: store.Attempt{DeliveryID: j.Delivery.ID, N: n, At: now}}
	req, err := h.Renderer.Render(j.Event, j.Delivery.ID)
	if err != nil {
		// The record does not render (a run-time expression error, a header
		// with CR/LF, or the filter no longer accepts it after a config
		// change): retrying cannot help.
		res.Attempt.Error = "render: " + err.Error()
		res.Status = store.StatusFailed
		e.opts.Logger.Warn("delivery not rendered", "webhook", h.Name, "delivery", j.Delivery.ID, "event", j.Event.ID, "err", err)
		e.opts.Metrics.attempt(h.Name, string(store.StatusFailed), 0)
		return res
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		res.Attempt.Error = "not sent: gateway stopping"
		res.Status, res.NextAttemptAt = store.StatusPending, now
		return res
	}
	r := h.sender.Send(ctx, &Request{Method: req.Method, URL: req.URL, Header: req.Header, Body: req.Body, Redact: h.Secrets},
		h.Timeout, h.Signer, j.Delivery.ID, now)
	<-h.slots
	res.Attempt.At = r.At
	res.Attempt.Request = store.HTTPRequest(r.Request)
	if r.Response != nil {
		resp := store.HTTPResponse(*r.Response)
		res.Attempt.Response = &resp
	}
	res.Attempt.LatencyMS = r.Latency.Milliseconds()
	res.Attempt.Error = r.Error
	status := 0
	if r.Response != nil {
		status = r.Response.Status
	}
	ok := r.Outcome.Final == Delivered
	h.health.Record(ok, status, r.Latency)
	switch {
	case ok:
		res.Status = store.StatusDelivered
	case r.Outcome.Reason == ReasonCanceled:
		// Stopping: the attempt did not really happen; do not spend one.
		res.Status, res.NextAttemptAt = store.StatusPending, e.opts.Now()
		res.Attempt.N = n
	case r.Outcome.Retry && n < h.MaxAttempts:
		res.Status = store.StatusPending
		res.NextAttemptAt = NextAttemptAt(h.Retry, n, e.opts.Now(), r.Outcome)
	case r.Outcome.Retry:
		res.Status = store.StatusDead
	default:
		res.Status = store.StatusFailed
	}
	outcome := string(res.Status)
	if res.Status == store.StatusPending {
		outcome = "retry"
	}
	e.opts.Metrics.attempt(h.Name, outcome, r.Latency)
	if ok {
		h.mu.Lock()
		h.consecutive, h.raised = 0, false
		h.mu.Unlock()
		return res
	}
	e.opts.Logger.Info("delivery attempt failed", "webhook", h.Name, "delivery", j.Delivery.ID, "attempt", n,
		"status", status, "reason", r.Outcome.Reason, "err", r.Error, "next", res.Status)
	e.failed(ctx, h, status, r.Error, r.Outcome.Reason == ReasonGone)
	return res
}

// failed counts a failed attempt; after FailingAfter in a row, or at once on
// 410 Gone, it raises webhook.failing and, when configured or on 410, pauses
// the webhook.
func (e *Engine) failed(ctx context.Context, h *hook, status int, errText string, gone bool) {
	h.mu.Lock()
	h.consecutive++
	count := h.consecutive
	raise := !h.raised && (gone || (h.FailingAfter > 0 && count >= h.FailingAfter))
	if raise {
		h.raised = true
	}
	h.mu.Unlock()
	if !raise {
		return
	}
	pause := gone || h.PauseOnFailing
	if pause {
		h.paused.Store(true)
		if err := e.st.SetPaused(context.WithoutCancel(ctx), h.Name, true); err != nil {
			e.opts.Logger.Error("pause webhook", "webhook", h.Name, "err", err)
		}
	}
	now := e.opts.Now().UTC()
	rec := &cdr.WebhookStatus{
		ID: fmt.Sprintf("webhook:%s:failing:%d", h.Name, now.UnixNano()), Kind: cdr.KindWebhook, Webhook: h.Name, At: now,
		ConsecutiveFailures: count, LastStatus: status, LastError: errText, Paused: pause,
	}
	ev := cdr.NewEvent(cdr.TypeWebhookFailing, now, e.opts.Source, rec)
	e.opts.Logger.Warn("webhook failing", "webhook", h.Name, "consecutive_failures", count, "last_status", status, "paused", pause)
	if err := e.Accept(context.WithoutCancel(ctx), []cdr.Event{ev}); err != nil {
		e.opts.Logger.Error("raise webhook.failing", "webhook", h.Name, "err", err)
	}
}

// Health returns the health of a webhook over its last attempts.
func (e *Engine) Health(webhook string) (HealthSnapshot, bool) {
	h, ok := e.hooks[webhook]
	if !ok {
		return HealthSnapshot{}, false
	}
	return h.health.Snapshot(), true
}

// SetPaused pauses or resumes a webhook: a paused webhook keeps its
// deliveries pending until it is resumed.
func (e *Engine) SetPaused(ctx context.Context, webhook string, paused bool) error {
	h, ok := e.hooks[webhook]
	if !ok {
		return fmt.Errorf("no webhook %q", webhook)
	}
	if err := e.st.SetPaused(ctx, webhook, paused); err != nil {
		return err
	}
	h.paused.Store(paused)
	if !paused {
		h.mu.Lock()
		h.consecutive, h.raised = 0, false
		h.mu.Unlock()
		e.signal()
	}
	return nil
}
