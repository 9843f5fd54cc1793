package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
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
	// Match reports whether the webhook subscribes to ev and its filter
	// accepts it, without rendering the request.
	Match(ev cdr.Event) (bool, error)
	Render(ev cdr.Event, deliveryID string) (*mapping.Request, error)
}

// Store is what the engine needs from storage; store.Store satisfies it.
type Store interface {
	Accept(ctx context.Context, batch []store.NewEvent) ([]bool, error)
	Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error)
	Finish(ctx context.Context, results []store.Result) error
	Release(ctx context.Context, owner string, ids []string, next time.Time) error
	ReleaseOwner(ctx context.Context, owner string, next time.Time) error
	AddAttempt(ctx context.Context, a store.Attempt, succeeded bool) error
	SetPaused(ctx context.Context, webhook string, paused bool) error
	Paused(ctx context.Context) (map[string]bool, error)
	RecentAttempts(ctx context.Context, webhook string, n int) ([]store.Attempt, error)
	Stats(ctx context.Context, now time.Time) (store.Stats, error)
}

// ConcurrentClaimer is implemented by a Store whose claims of one webhook
// may run side by side (PostgreSQL's row locks let them); the engine then
// runs up to ConcurrentClaims of them at once per webhook, and as many
// loops writing results, else one of each.
type ConcurrentClaimer interface {
	ConcurrentClaims() int
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
	FailingAfter   int      // consecutive failures before webhook.failing; 0 means DefaultFailingAfter, < 0 never
	PauseOnFailing bool     // pause the webhook when it raises webhook.failing
	RetryOn        []int    // statuses retried besides the default ones
}

// Engine defaults for zero Webhook and Options fields.
const (
	// DefaultConcurrency is a webhook's attempts in flight at once.
	DefaultConcurrency = 4
	// DefaultFailingAfter is the number of consecutive failed attempts that
	// raises webhook.failing.
	DefaultFailingAfter = 5
	// DefaultWorkers is the number of attempts in flight across all webhooks.
	DefaultWorkers = 64
	// DefaultPollInterval is how often the engine looks for due work
	// without a wake-up.
	DefaultPollInterval = 250 * time.Millisecond
	// LeaseMargin is added to the longest webhook timeout to make the
	// default lease: the time a result may take to be written.
	LeaseMargin = 30 * time.Second
)

// Options configures an Engine.
type Options struct {
	Owner        string        // lease owner prefix; unique per process
	Workers      int           // attempts in flight at once across all webhooks (default 64)
	PollInterval time.Duration // how often to look for due work without a local wake-up (default 250ms)
	Lease        time.Duration // how long a claim lasts (default: the webhook's timeout + LeaseMargin; New refuses one not longer than every initial webhook's timeout, a webhook added later gets its timeout + LeaseMargin then)
	Logger       *slog.Logger
	Metrics      *Metrics
	Client       *http.Client // nil means NewClient(false): private targets refused
	UserAgent    string
	Now          func() time.Time
	Source       cdr.SourceRef // source of webhook.failing events
}

// Engine accepts events into the store and delivers them; see the package
// documentation for its life cycle and guarantees.
type Engine struct {
	st   Store
	opts Options

	// hooks is the current webhook set, replaced whole (copy on write) by
	// PutWebhook and RemoveWebhook under hooksMu and read without a lock.
	hooks   atomic.Pointer[hookSet]
	hooksMu sync.Mutex
	loaded  bool                  // under hooksMu: Start loaded paused state and health
	states  map[string]*hookState // under hooksMu: per-name state of the current webhooks
	// every lists the current webhooks' states and those of removed ones
	// that still have jobs queued; replaced whole under hooksMu.
	every atomic.Pointer[[]*hookState]

	wake     chan struct{}
	parallel int // claims of one webhook at once (see ConcurrentClaimer)
	results  chan outcome
	inflight atomic.Int64 // attempts running (workers busy), across webhooks
	claims   atomic.Uint64

	// lostClaims are the owner tokens of claims that returned an error and
	// may hold leases all the same (see lostclaim.go); lostN is their number.
	lostMu     sync.Mutex
	lostClaims []lostClaim
	lostN      atomic.Int64
	lostGrace  time.Duration // lostClaimGrace; tests change it

	// bg is canceled when Stop gives up on writing: it bounds every store
	// write made after a claim (results, releases, webhook.failing).
	bg       context.Context
	bgCancel context.CancelFunc

	mu      sync.Mutex
	state   int // stateNew, stateRunning, stateStopped
	cancel  context.CancelFunc
	abort   context.CancelFunc
	claimWG sync.WaitGroup // the claim loop and the claims it runs on their own
	workWG  sync.WaitGroup // the workers, one per running attempt
	writeWG sync.WaitGroup // the finish loops
	lost    atomic.Int64   // results or releases not written
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

// outcome is what a worker hands to the finish loop: a result to write, or
// (release) a claimed job to give back unattempted, or (owner) the token of
// a failed claim whose deliveries, if any, are to be given back.
type outcome struct {
	res     store.Result
	release bool
	owner   string
	webhook string // of the delivery (res, release)
	ordered bool   // the delivery is ordered: finishing it may unblock the next
}

// hook is one definition of a webhook as the engine runs it. A definition
// never changes: PutWebhook makes a new hook that shares the old one's
// hookState, so attempts in flight finish with the definition they started
// with.
type hook struct {
	Webhook
	*hookState
	sender *Sender
	lease  time.Duration // of each claim: longer than Timeout
}

// hookState is what a webhook keeps across replacements of its definition.
type hookState struct {
	name     string
	assigned atomic.Int64 // attempts running (slots taken); changed under qmu
	maxSeen  atomic.Int64 // highest assigned ever (tests)
	paused   atomic.Bool
	health   *Health
	lastOK   atomic.Bool // the latest attempt that reached the endpoint succeeded
	// lastFailed: the latest attempt that reached the endpoint failed
	// (false, like lastOK, before the first).
	lastFailed atomic.Bool
	backlog    atomic.Bool // the latest claim came back full
	// failLatency: the latency of the latest failed attempt that reached
	// the endpoint (ns), for pacing (see pace).
	failLatency atomic.Int64
	dues        dueState // when its deliveries fall due, as far as the engine knows

	claiming     atomic.Int64 // claims running on their own (parallel > 1)
	claimingJobs atomic.Int64 // the jobs they may bring

	qmu       sync.Mutex
	queue     []queued  // claimed ahead and not started, oldest first
	nextStart time.Time // paced: no attempt starts before (real clock; see pace)

	mu          sync.Mutex
	consecutive int
	raised      bool
}

// queued is a job claimed ahead, waiting for a free slot of its webhook.
type queued struct {
	job   store.Job
	until time.Time // its lease's end, by Options.Now
}

// hookSet is an immutable set of webhooks: by name, and in the order they
// were added.
type hookSet struct {
	byName map[string]*hook
	order  []*hook
}

// with returns a copy of s with h added, or replacing the hook of its name
// in place.
func (s *hookSet) with(h *hook) *hookSet {
	n := &hookSet{byName: make(map[string]*hook, len(s.byName)+1), order: make([]*hook, 0, len(s.order)+1)}
	replaced := false
	for _, o := range s.order {
		if o.Name == h.Name {
			o, replaced = h, true
		}
		n.order = append(n.order, o)
		n.byName[o.Name] = o
	}
	if !replaced {
		n.order = append(n.order, h)
		n.byName[h.Name] = h
	}
	return n
}

// without returns a copy of s without the named hook.
func (s *hookSet) without(name string) *hookSet {
	n := &hookSet{byName: make(map[string]*hook, len(s.byName)), order: make([]*hook, 0, len(s.order))}
	for _, o := range s.order {
		if o.Name != name {
			n.order = append(n.order, o)
			n.byName[o.Name] = o
		}
	}
	return n
}

// set returns the current webhooks.
func (e *Engine) set() *hookSet { return e.hooks.Load() }

// hook returns the current definition of the named webhook, nil if none.
func (e *Engine) hook(name string) *hook { return e.set().byName[name] }

// New returns an engine for the given webhooks. Call Start to deliver.
func New(st Store, webhooks []Webhook, opts Options) (*Engine, error) {
	if st == nil {
		return nil, errors.New("delivery: store is nil")
	}
	if opts.Owner == "" {
		return nil, errors.New("delivery: Options.Owner is required")
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
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
		states:  make(map[string]*hookState, len(webhooks)),
		wake:    make(chan struct{}, 1),
		results: make(chan outcome, 4*opts.Workers),

		lostGrace: lostClaimGrace,
	}
	e.parallel = 1
	if cc, ok := st.(ConcurrentClaimer); ok {
		e.parallel = max(1, cc.ConcurrentClaims())
	}
	set := &hookSet{byName: map[string]*hook{}}
	var longest time.Duration
	for i, w := range webhooks {
		if w.Name == "" {
			return nil, fmt.Errorf("delivery: webhooks[%d]: name is empty", i)
		}
		if _, dup := set.byName[w.Name]; dup {
			return nil, fmt.Errorf("delivery: webhook %q defined twice", w.Name)
		}
		h, err := e.newHook(w)
		if err != nil {
			return nil, err
		}
		longest = max(longest, h.Timeout)
		h.hookState = &hookState{name: h.Name, health: &Health{}}
		e.states[h.Name] = h.hookState
		set = set.with(h)
	}
	e.pruneStates()
	if e.opts.Lease != 0 && e.opts.Lease <= longest {
		return nil, fmt.Errorf("delivery: Options.Lease %s: must be longer than the longest webhook timeout (%s)", e.opts.Lease, longest)
	}
	e.hooks.Store(set)
	e.bg, e.bgCancel = context.WithCancel(context.Background())
	return e, nil
}

// newHook checks w, fills in its defaults and returns its definition
// without state.
func (e *Engine) newHook(w Webhook) (*hook, error) {
	if w.Name == "" {
		return nil, errors.New("delivery: webhook name is empty")
	}
	if w.Renderer == nil {
		return nil, fmt.Errorf("delivery: webhook %q: renderer is nil", w.Name)
	}
	if w.Concurrency <= 0 {
		w.Concurrency = DefaultConcurrency
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = DefaultAttempts
	}
	if w.Timeout <= 0 {
		w.Timeout = DefaultTimeout
	}
	if w.FailingAfter == 0 {
		w.FailingAfter = DefaultFailingAfter
	}
	if w.Retry == nil {
		w.Retry = Backoff{Schedule: Exponential, Interval: DefaultRetryInterval, MaxInterval: DefaultMaxInterval, Jitter: 0.1}
	}
	// The lease must outlast the attempt: Options.Lease when it does,
	// else the webhook's timeout plus LeaseMargin.
	lease := e.opts.Lease
	if lease <= w.Timeout {
		lease = w.Timeout + LeaseMargin
	}
	return &hook{Webhook: w, lease: lease,
		sender: &Sender{Client: e.opts.Client, UserAgent: e.opts.UserAgent, RetryOn: w.RetryOn}}, nil
}

// PutWebhook adds a webhook, or replaces the one with the same name, while
// the engine runs (or before Start). A replaced webhook keeps its health,
// failure streak, paused state and concurrency slots; attempts in flight
// finish with the old definition. A new one loads its paused state and
// recent health from the store when the engine runs (else Start loads them).
func (e *Engine) PutWebhook(ctx context.Context, w Webhook) error {
	h, err := e.newHook(w)
	if err != nil {
		return err
	}
	e.hooksMu.Lock()
	defer e.hooksMu.Unlock()
	st, ok := e.states[h.Name]
	if !ok {
		st = &hookState{name: h.Name, health: &Health{}}
		if e.loaded {
			paused, err := e.st.Paused(ctx)
			if err != nil {
				return fmt.Errorf("add webhook %q: load paused webhooks: %w", h.Name, err)
			}
			st.paused.Store(paused[h.Name])
			if err := e.loadHealth(ctx, h.Name, st.health); err != nil {
				return fmt.Errorf("add webhook %q: %w", h.Name, err)
			}
		}
		e.states[h.Name] = st
	}
	h.hookState = st
	e.hooks.Store(e.set().with(h))
	e.pruneStates()
	st.dues.dirty.Store(true) // it may have deliveries pending from before
	e.signal()
	return nil
}

// RemoveWebhook stops claiming and accepting for a webhook; its deliveries
// stay in the store (pending ones wait until a webhook of that name exists
// again) and attempts in flight finish. The error wraps ErrUnknownWebhook
// when there is no webhook of that name.
func (e *Engine) RemoveWebhook(name string) error {
	e.hooksMu.Lock()
	defer e.hooksMu.Unlock()
	if e.hook(name) == nil {
		return fmt.Errorf("remove webhook %q: %w", name, ErrUnknownWebhook)
	}
	// The state goes too: a webhook added again under this name is a new
	// one and loads its state from the store. Attempts still in flight
	// keep the old state.
	delete(e.states, name)
	e.hooks.Store(e.set().without(name))
	e.pruneStates()
	e.signal() // the claim loop gives back the jobs it queued ahead
	return nil
}

// pruneStates rebuilds every from the current states and those of removed
// webhooks that still have jobs queued; call it under hooksMu.
func (e *Engine) pruneStates() {
	var every []*hookState
	if old := e.every.Load(); old != nil {
		for _, st := range *old {
			st.qmu.Lock()
			queued := len(st.queue) > 0
			st.qmu.Unlock()
			if queued && e.states[st.name] != st {
				every = append(every, st)
			}
		}
	}
	for _, st := range e.states {
		every = append(every, st)
	}
	e.every.Store(&every)
}

// loadHealth records the webhook's last HealthWindow stored attempts in h.
func (e *Engine) loadHealth(ctx context.Context, name string, h *Health) error {
	recent, err := e.st.RecentAttempts(ctx, name, HealthWindow)
	if err != nil {
		return fmt.Errorf("load health of webhook %q: %w", name, err)
	}
	for i := len(recent) - 1; i >= 0; i-- {
		a := recent[i]
		status := 0
		if a.Response != nil {
			status = a.Response.Status
		}
		h.Record(a.Error == "" && status >= 200 && status < 300, status, time.Duration(a.LatencyMS)*time.Millisecond)
	}
	return nil
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
	e.markAccepted(batch)
	return fresh, nil
}

// markAccepted marks the webhooks of a committed batch due when its
// deliveries fall due (see markDue).
func (e *Engine) markAccepted(batch []store.NewEvent) {
	var first map[string]time.Time
	for _, ev := range batch {
		for _, d := range ev.Deliveries {
			if first == nil {
				first = map[string]time.Time{}
			}
			if t, ok := first[d.Webhook]; !ok || d.NotBefore.Before(t) {
				first[d.Webhook] = d.NotBefore
			}
		}
	}
	for webhook, at := range first {
		e.markDue(webhook, at)
	}
}

// deliveriesFor returns the deliveries ev causes: one per active webhook that
// subscribes to its type and whose filter accepts it.
func (e *Engine) deliveriesFor(ev cdr.Event, now time.Time) []store.NewDelivery {
	var out []store.NewDelivery
	for _, h := range e.set().order {
		if !h.Active || !h.Renderer.Subscribes(ev.Type) {
			continue
		}
		// A filter error is not a reason to drop the event: the delivery is
		// created and fails at send time with the error in its attempt log.
		if ok, _ := h.Renderer.Match(ev); !ok {
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
// delivering in the background until Stop. ctx bounds only the loading:
// the engine runs until Stop whatever becomes of ctx. An engine starts at
// most once.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case stateRunning:
		return errors.New("delivery: engine already started")
	case stateStopped:
		return errors.New("delivery: engine stopped; make a new one")
	}
	if err := e.load(ctx); err != nil {
		return err
	}
	claimCtx, cancel := context.WithCancel(context.Background())
	sendCtx, abort := context.WithCancel(context.Background())
	e.cancel, e.abort, e.state = cancel, abort, stateRunning
	e.claimWG.Add(1)
	go func() { defer e.claimWG.Done(); e.claimLoop(claimCtx, sendCtx) }()
	// A store that takes claims side by side takes results side by side
	// too: as many finish loops as claims at once.
	for range e.parallel {
		e.writeWG.Add(1)
		go func() { defer e.writeWG.Done(); e.finishLoop() }()
	}
	return nil
}

// load loads the paused state and recent health of every webhook; from then
// on PutWebhook loads those of a new webhook itself.
func (e *Engine) load(ctx context.Context) error {
	e.hooksMu.Lock()
	defer e.hooksMu.Unlock()
	paused, err := e.st.Paused(ctx)
	if err != nil {
		return fmt.Errorf("load paused webhooks: %w", err)
	}
	for _, h := range e.set().order {
		h.paused.Store(paused[h.Name])
		if err := e.loadHealth(ctx, h.Name, h.health); err != nil {
			return err
		}
	}
	e.loaded = true
	return nil
}

// Stop stops the engine within ctx's deadline and returns when every
// goroutine it started is gone. It stops claiming at once and lets attempts
// in flight finish; shortly before the deadline (a third of the time left,
// at most two seconds, is kept for writing) it cancels those still running — their deliveries stay
// pending and are retried, the canceled attempt logged — and gives back,
// unattempted, claimed jobs not sent yet, and what claims that returned an
// error may hold. It then writes every result, and gives up at the
// deadline: what is not written by then stays leased until the lease runs
// out and is attempted again, so nothing is lost. Stop returns an error
// when it gave up on writing a result or a release of claimed jobs; it is
// safe to call more than once.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateRunning {
		e.state = stateStopped
		e.bgCancel()
		return nil
	}
	e.state = stateStopped
	// Past the hard deadline nothing more is written.
	stopWrites := context.AfterFunc(ctx, e.bgCancel)
	defer stopWrites()
	defer e.bgCancel()

	e.cancel()
	e.claimWG.Wait() // no job is claimed after this
	e.handOverLost()

	soft := ctx
	if dl, ok := ctx.Deadline(); ok {
		reserve := min(time.Until(dl)/3, 2*time.Second)
		var cancel context.CancelFunc
		soft, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	done := make(chan struct{})
	go func() { e.workWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-soft.Done():
		e.abort()
		<-done
	}
	e.abort()
	// Jobs queued ahead were never sent: give them back.
	for _, st := range *e.every.Load() {
		e.release(st.drain())
	}
	close(e.results)
	e.writeWG.Wait()
	if n := e.lost.Swap(0); n > 0 {
		return fmt.Errorf("delivery: stopped with %d results unwritten; their deliveries are attempted again when their leases expire", n)
	}
	return nil
}

// claimLoop claims until ctx is done: when woken (an accept, a result, a
// freed slot, a webhook change), when a due time the engine knows of comes,
// and every Options.PollInterval, when every webhook is claimed for (see
// markAllDue).
func (e *Engine) claimLoop(ctx, sendCtx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var polled time.Time // of the latest poll, by the real clock
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
		if time.Since(polled) >= e.opts.PollInterval {
			polled = time.Now()
			e.markAllDue()
		}
		var wait time.Duration
		for {
			var more bool
			if more, wait = e.claim(ctx, sendCtx); !more {
				break
			}
		}
		wait = min(wait, e.opts.PollInterval-time.Since(polled))
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, 0))
	}
}

// noWait is claim's wait when nothing is known to come.
const noWait = time.Duration(math.MaxInt64)

// claim claims due work for each webhook that has room and may have some
// (see dueState), and reports whether a claim came back full, so that more
// may be due at once, and how long until the next thing it knows will come:
// a due time or a paced webhook's next start (noWait if none). Every claim call
// leases under its own owner token (Options.Owner#n), so a result that comes
// back after its lease expired and was taken again, even by this process,
// cannot change the newer attempt's delivery.
func (e *Engine) claim(ctx, sendCtx context.Context) (more bool, wait time.Duration) {
	set := e.set()
	e.dropStale(set)
	now := e.opts.Now()
	blocked := e.releaseLost(ctx, now)
	wait = noWait
	for _, h := range set.order {
		if ctx.Err() != nil {
			return false, wait
		}
		if h.paused.Load() {
			continue
		}
		if n := h.dues.take(now.UnixNano()); n != 0 {
			wait = min(wait, time.Duration(n-now.UnixNano()))
		}
		// Jobs queued while the engine's workers were all busy, or while
		// the webhook is paced, start now if they may.
		e.dispatch(ctx, sendCtx, h, nil, time.Time{})
		if w := h.paceWait(time.Now()); w > 0 {
			wait = min(wait, w)
		}
		if h.claiming.Load() >= int64(e.parallel) || blocked[h.Name] {
			continue
		}
		// Nothing is due that the engine knows of: the webhook waits for a
		// wake-up (markDue) or the poll.
		if !h.dues.dirty.Load() && !h.backlog.Load() {
			continue
		}
		limit := e.claimLimit(h)
		if limit <= 0 {
			continue
		}
		// Cleared before the claim reads: what falls due after it is
		// marked again (markDue runs after the store commits).
		h.dues.dirty.Store(false)
		if e.parallel == 1 {
			full, err := e.claimFor(ctx, sendCtx, h, limit, now)
			if err != nil {
				return false, wait
			}
			more = more || full
			continue
		}
		// The store takes claims side by side: this one runs on its own
		// while the loop goes on, counting its jobs as queued.
		h.claiming.Add(1)
		h.claimingJobs.Add(int64(limit))
		e.claimWG.Add(1)
		go func() {
			defer e.claimWG.Done()
			full, _ := e.claimFor(ctx, sendCtx, h, limit, now)
			h.claimingJobs.Add(-int64(limit))
			h.claiming.Add(-1)
			if full {
				e.signal()
			}
		}()
	}
	return more && ctx.Err() == nil, wait
}

// claimFor claims up to limit due jobs of h and dispatches them; it reports
// whether the claim came back full.
func (e *Engine) claimFor(ctx, sendCtx context.Context, h *hook, limit int, now time.Time) (full bool, err error) {
	owner := fmt.Sprintf("%s#%d", e.opts.Owner, e.claims.Add(1))
	jobs, err := e.st.Claim(ctx, store.ClaimParams{
		Owner: owner, Now: now, Limit: limit, Lease: h.lease, Webhook: h.Name,
	})
	if err != nil {
		h.dues.dirty.Store(true)
		// The store may have committed the claim all the same (its answer
		// lost, or canceled by Stop too late): what the token holds is
		// given back once the store answers (see releaseLost).
		e.addLost(h, owner, now)
		if ctx.Err() == nil {
			e.opts.Logger.Warn("claim deliveries", "webhook", h.Name, "owner", owner, "err", err)
		}
		return false, err
	}
	full = len(jobs) == limit
	h.backlog.Store(full)
	if len(jobs) == 0 {
		return false, nil
	}
	for i := range jobs {
		if jobs[i].Lease == "" {
			jobs[i].Lease = owner
		}
	}
	// The webhook may have been paused, replaced or removed during the
	// claim: the jobs of a paused or removed one go back unattempted (those
	// of a replaced one too when their lease is too short for its new
	// timeout; see dispatch).
	cur := e.hook(h.Name)
	if cur == nil || cur.hookState != h.hookState || cur.paused.Load() {
		e.release(jobs)
		return cur != nil, nil
	}
	e.dispatch(ctx, sendCtx, cur, jobs, now.Add(h.lease))
	return full, nil
}

// claimAhead is how many times its concurrency a webhook with a backlog
// queues ahead.
const claimAhead = 2

// claimLimit returns how many jobs to claim for h now: its free slots (no
// more than the engine's free workers) and, while it has a backlog and its
// latest attempt succeeded, claimAhead times its concurrency more to queue,
// less the jobs already queued or being claimed. Claiming ahead lets a
// worker that finishes an attempt start the next at once instead of waiting
// for a claim; a failing or hanging endpoint never claims ahead, so it holds
// no more leases than its slots. While jobs are queued it waits until at
// least half a concurrency's worth fits, so that claims stay large.
func (e *Engine) claimLimit(h *hook) int {
	h.qmu.Lock()
	running, queued := int(h.assigned.Load()), len(h.queue)+int(h.claimingJobs.Load())
	h.qmu.Unlock()
	want := max(0, min(h.Concurrency-running, e.opts.Workers-int(e.inflight.Load())))
	if h.backlog.Load() && h.lastOK.Load() {
		want += claimAhead * h.Concurrency
	}
	limit := want - queued
	if queued > 0 && limit < max(1, h.Concurrency/2) {
		return 0
	}
	// A failing webhook's attempts end together (a hanging endpoint's at
	// its timeout, in waves): it claims once half its slots are free rather
	// than once per freed slot, so that its claims, which share the store
	// with every other webhook's, stay few.
	if h.lastFailed.Load() && running > 0 && limit < max(1, h.Concurrency/2) {
		return 0
	}
	return limit
}

// dispatch queues claimed jobs of h, leased until until, and starts a
// worker for each free slot while the engine has free workers.
func (e *Engine) dispatch(ctx, sendCtx context.Context, h *hook, jobs []store.Job, until time.Time) {
	var start, expired []store.Job
	pace, now := h.pace(), time.Now()
	h.qmu.Lock()
	for _, j := range jobs {
		h.queue = append(h.queue, queued{job: j, until: until})
	}
	for len(h.queue) > 0 && h.assigned.Load() < int64(h.Concurrency) {
		q := h.queue[0]
		if !e.startable(h, q) {
			h.queue = h.queue[1:]
			expired = append(expired, q.job)
			continue
		}
		if h.waits(pace, now) {
			break // the claim loop comes back at nextStart (see claim)
		}
		if !e.takeWorker() {
			break
		}
		h.started(pace, now)
		h.queue = h.queue[1:]
		start = append(start, q.job)
		n := h.assigned.Add(1)
		for {
			seen := h.maxSeen.Load()
			if n <= seen || h.maxSeen.CompareAndSwap(seen, n) {
				break
			}
		}
	}
	h.qmu.Unlock()
	e.release(expired)
	for _, j := range start {
		e.workWG.Add(1)
		go e.work(ctx, sendCtx, h, j)
	}
}

// startable reports whether a queued job's lease still covers an attempt
// with h's timeout and half the margin h's lease leaves for writing the
// result. A job that waited too long in the queue is given back instead, so
// that its lease never runs out while it is being sent.
func (e *Engine) startable(h *hook, q queued) bool {
	return e.opts.Now().Add(h.Timeout + (h.lease-h.Timeout)/2).Before(q.until)
}

// takeWorker counts one more attempt running unless Options.Workers are
// running already.
func (e *Engine) takeWorker() bool {
	for {
		n := e.inflight.Load()
		if n >= int64(e.opts.Workers) {
			return false
		}
		if e.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// work runs attempts for one slot of a webhook: the job it was started
// with, then queued ones of the same webhook until there are none (see
// next).
func (e *Engine) work(ctx, sendCtx context.Context, h *hook, j store.Job) {
	defer e.workWG.Done()
	for {
		o := e.attempt(sendCtx, h, j)
		o.webhook, o.ordered = j.Delivery.Webhook, j.Delivery.Ordered
		e.results <- o
		var ok bool
		if h, j, ok = e.next(ctx, h.hookState); !ok {
			e.signal()
			return
		}
	}
}

// next takes the next queued job of the webhook whose state is st, with the
// webhook's current definition, for a worker that finished an attempt; or
// frees the worker's slot when nothing startable is queued, the engine stops
// claiming, or the webhook was paused, removed or replaced with a lower
// concurrency (the claim loop then gives the queued jobs back).
func (e *Engine) next(ctx context.Context, st *hookState) (*hook, store.Job, bool) {
	cur := e.hook(st.name)
	var expired []store.Job
	defer func() { e.release(expired) }()
	st.qmu.Lock()
	defer st.qmu.Unlock()
	if ctx.Err() == nil && cur != nil && cur.hookState == st && !cur.paused.Load() && st.assigned.Load() <= int64(cur.Concurrency) {
		pace, now := cur.pace(), time.Now()
		for len(st.queue) > 0 {
			q := st.queue[0]
			if !e.startable(cur, q) {
				st.queue = st.queue[1:]
				expired = append(expired, q.job)
				continue
			}
			if cur.waits(pace, now) {
				break // the slot goes; the claim loop starts the job in time
			}
			cur.started(pace, now)
			st.queue = st.queue[1:]
			if len(st.queue) <= (2*claimAhead-1)*cur.Concurrency/2 {
				e.signal()
			}
			return cur, q.job, true
		}
	}
	st.assigned.Add(-1)
	e.inflight.Add(-1)
	return nil, store.Job{}, false
}

// drain empties the queue and returns the jobs it held.
func (st *hookState) drain() []store.Job {
	st.qmu.Lock()
	defer st.qmu.Unlock()
	jobs := make([]store.Job, len(st.queue))
	for i, q := range st.queue {
		jobs[i] = q.job
	}
	st.queue = nil
	return jobs
}

// dropStale gives back the queued jobs of webhooks that were paused or
// removed.
func (e *Engine) dropStale(set *hookSet) {
	for _, st := range *e.every.Load() {
		if cur := set.byName[st.name]; cur != nil && cur.hookState == st && !cur.paused.Load() {
			continue
		}
		e.release(st.drain())
	}
}

// release hands claimed jobs that were not attempted to the finish loop,
// which gives them back (store Release).
func (e *Engine) release(jobs []store.Job) {
	for _, j := range jobs {
		e.results <- outcome{
			release: true, webhook: j.Delivery.Webhook, ordered: j.Delivery.Ordered,
			res: store.Result{Owner: j.Lease, Attempt: store.Attempt{DeliveryID: j.Delivery.ID}},
		}
	}
}

// maxHold is how long the finish loop holds the result of a failed attempt
// for the next batch of other results (see finishLoop).
const maxHold = 50 * time.Millisecond

// finishLoop writes results in batches until the results channel is closed.
// The results of failed attempts are held for up to maxHold and written
// with the next batch that has other results in it, or alone once the
// oldest has waited that long or enough are held: a failing endpoint's
// results, which come one at a time, then cost no write of their own,
// which on SQLite would hold the single writer from the healthy webhooks'
// accepts, claims and results. Holding one only delays its retry's due
// time by as much; a crash loses it as it would lose an attempt in flight
// (the lease expires and the delivery is attempted again).
func (e *Engine) finishLoop() {
	const maxBatch = 256
	batch := make([]store.Result, 0, maxBatch)
	var held []outcome               // results of failed attempts not yet written
	release := map[string][]string{} // owner token -> delivery ids
	var owners []string              // tokens of failed claims
	dues := map[string]time.Time{}   // webhook -> earliest due time the writes make
	due := func(webhook string, at time.Time) {
		if t, ok := dues[webhook]; !ok || at.Before(t) {
			dues[webhook] = at
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	closed := false
	for !closed {
		var others int // results in batch that are not held ones
		batch = batch[:0]
		clear(release)
		owners = owners[:0]
		clear(dues)
		add := func(o outcome) {
			switch {
			case o.owner != "":
				owners = append(owners, o.owner)
			case o.release:
				release[o.res.Owner] = append(release[o.res.Owner], o.res.Attempt.DeliveryID)
				due(o.webhook, e.opts.Now())
			case o.res.Status != store.StatusDelivered:
				if len(held) == 0 {
					timer.Reset(maxHold)
				}
				held = append(held, o)
			default:
				batch = append(batch, o.res)
				others++
				if o.ordered {
					// The next delivery of the same key may go now.
					due(o.webhook, e.opts.Now())
				}
			}
		}
		expired := false
		select {
		case o, ok := <-e.results:
			if !ok {
				closed = true
				break
			}
			add(o)
		case <-timer.C:
			expired = true
		}
	fill:
		for !closed && len(batch)+len(held) < maxBatch {
			select {
			case o, ok := <-e.results:
				if !ok {
					closed = true
					break fill
				}
				add(o)
			default:
				break fill
			}
		}
		if len(held) > 0 && (others > 0 || expired || closed || len(held) >= maxBatch/4) {
			for _, o := range held {
				batch = append(batch, o.res)
				if o.res.Status == store.StatusPending {
					due(o.webhook, o.res.NextAttemptAt)
				} else if o.ordered {
					due(o.webhook, e.opts.Now())
				}
			}
			held = held[:0]
			timer.Stop()
		}
		if len(batch) > 0 {
			e.write("write delivery results", len(batch), func(ctx context.Context) error { return e.st.Finish(ctx, batch) })
		}
		for owner, ids := range release {
			e.write("release deliveries", len(ids), func(ctx context.Context) error {
				return e.st.Release(ctx, owner, ids, e.opts.Now())
			})
		}
		e.releaseOwners(owners)
		for webhook, at := range dues {
			e.markDue(webhook, at)
		}
	}
}

// write runs a store write, retrying while the store is down until it
// succeeds, 20 tries fail or Stop gives up: a result that is never written
// leaves its lease to expire and the delivery is attempted again (at least
// once).
func (e *Engine) write(what string, n int, fn func(ctx context.Context) error) {
	backoff := 50 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(e.bg, 10*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			return
		}
		e.opts.Logger.Error(what, "results", n, "try", try, "err", err)
		if try >= 20 || e.bg.Err() != nil {
			e.lost.Add(int64(n))
			e.opts.Logger.Error(what+": giving up; the deliveries are attempted again when their leases expire", "results", n)
			return
		}
		select {
		case <-time.After(backoff):
		case <-e.bg.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// attempt makes one automatic attempt of a claimed delivery and returns its
// outcome.
func (e *Engine) attempt(ctx context.Context, h *hook, j store.Job) outcome {
	n := j.Delivery.Attempts + 1
	now := e.opts.Now()
	res := store.Result{Owner: j.Lease, Attempt: store.Attempt{DeliveryID: j.Delivery.ID, N: n, At: now}}
	if ctx.Err() != nil {
		// Stopping before the request went out: give the job back as if it
		// had never been claimed; nothing happened that needs a log line.
		return outcome{res: res, release: true}
	}
	req, err := h.Renderer.Render(j.Event, j.Delivery.ID)
	if err != nil {
		// The record does not render (a run-time expression error, a header
		// with CR/LF, or the filter no longer accepts it after a config
		// change): retrying cannot help.
		res.Attempt.Error = "render: " + RedactString(err.Error(), h.Secrets)
		res.Status = store.StatusFailed
		e.opts.Logger.Warn("delivery not rendered", "webhook", h.Name, "delivery", j.Delivery.ID, "event", j.Event.ID, "err", res.Attempt.Error)
		e.opts.Metrics.attempt(h.Name, string(store.StatusFailed), 0)
		return outcome{res: res}
	}
	r := h.sender.Send(ctx, &Request{Method: req.Method, URL: req.URL, Header: req.Header, Body: req.Body, Redact: h.Secrets},
		h.Timeout, h.Signer, j.Delivery.ID, now)
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
	if r.Outcome.Reason == ReasonCanceled {
		// Stopping while the request was in flight: the receiver may have
		// seen it, so the attempt is logged, but it says nothing about the
		// endpoint (no health sample, no failure counted) and the delivery
		// is due again at once.
		res.Status, res.NextAttemptAt = store.StatusPending, e.opts.Now()
		res.Attempt.Error = cmpOr(res.Attempt.Error, "canceled") + " (gateway stopping)"
		e.opts.Metrics.attempt(h.Name, "retry", r.Latency)
		return outcome{res: res}
	}
	ok := r.Outcome.Final == Delivered
	h.health.Record(ok, status, r.Latency)
	if !ok {
		h.failLatency.Store(int64(r.Latency))
	}
	h.lastOK.Store(ok)
	h.lastFailed.Store(!ok)
	switch {
	case ok:
		res.Status = store.StatusDelivered
	case r.Outcome.Retry && n < h.MaxAttempts:
		res.Status = store.StatusPending
		res.NextAttemptAt = NextAttemptAt(h.Retry, n, e.opts.Now(), r.Outcome)
	case r.Outcome.Retry:
		res.Status = store.StatusDead
	default:
		res.Status = store.StatusFailed
	}
	outcomeLabel := string(res.Status)
	if res.Status == store.StatusPending {
		outcomeLabel = "retry"
	}
	e.opts.Metrics.attempt(h.Name, outcomeLabel, r.Latency)
	if ok {
		h.mu.Lock()
		h.consecutive, h.raised = 0, false
		h.mu.Unlock()
		return outcome{res: res}
	}
	e.opts.Logger.Info("delivery attempt failed", "webhook", h.Name, "delivery", j.Delivery.ID, "attempt", n,
		"status", status, "reason", r.Outcome.Reason, "err", r.Error, "next", res.Status)
	e.failed(h, status, r.Error, r.Outcome.Reason == ReasonGone)
	return outcome{res: res}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// failed counts a failed attempt. The FailingAfter-th failure in a row
// raises webhook.failing once per streak (a success ends the streak) and,
// with PauseOnFailing, pauses the webhook. A 410 Gone pauses the webhook at
// once and raises webhook.failing unless the webhook is already paused.
func (e *Engine) failed(h *hook, status int, errText string, gone bool) {
	h.mu.Lock()
	h.consecutive++
	count := h.consecutive
	streak := !h.raised && h.FailingAfter > 0 && count >= h.FailingAfter
	pause := (gone || (streak && h.PauseOnFailing)) && !h.paused.Load()
	raise := streak || pause
	if raise {
		h.raised = true
	}
	if pause {
		h.paused.Store(true)
	}
	h.mu.Unlock()
	if !raise {
		return
	}
	if pause {
		ctx, cancel := context.WithTimeout(e.bg, 10*time.Second)
		err := e.st.SetPaused(ctx, h.Name, true)
		cancel()
		if err != nil {
			e.opts.Logger.Error("pause webhook", "webhook", h.Name, "err", err)
		}
	}
	now := e.opts.Now().UTC()
	rec := &cdr.WebhookStatus{
		ID:   "webhook:" + h.Name + ":failing:" + strings.TrimPrefix(NewID(now), IDPrefix),
		Kind: cdr.KindWebhook, Webhook: h.Name, At: now,
		ConsecutiveFailures: count, LastStatus: status, LastError: errText, Paused: h.paused.Load(),
	}
	ev := cdr.NewEvent(cdr.TypeWebhookFailing, now, e.opts.Source, rec)
	e.opts.Logger.Warn("webhook failing", "webhook", h.Name, "consecutive_failures", count, "last_status", status, "paused", rec.Paused)
	ctx, cancel := context.WithTimeout(e.bg, 10*time.Second)
	defer cancel()
	if err := e.Accept(ctx, []cdr.Event{ev}); err != nil {
		e.opts.Logger.Error("raise webhook.failing", "webhook", h.Name, "err", err)
	}
}

// Health returns the health of a webhook over its last attempts.
func (e *Engine) Health(webhook string) (HealthSnapshot, bool) {
	h := e.hook(webhook)
	if h == nil {
		return HealthSnapshot{}, false
	}
	return h.health.Snapshot(), true
}

// SetPaused pauses or resumes a webhook: a paused webhook keeps its
// deliveries pending until it is resumed. Resuming starts a new failure
// streak.
func (e *Engine) SetPaused(ctx context.Context, webhook string, paused bool) error {
	h := e.hook(webhook)
	if h == nil {
		return fmt.Errorf("set paused: webhook %q: %w", webhook, ErrUnknownWebhook)
	}
	if err := e.st.SetPaused(ctx, webhook, paused); err != nil {
		return err
	}
	h.mu.Lock()
	h.paused.Store(paused)
	if !paused {
		h.consecutive, h.raised = 0, false
		h.dues.dirty.Store(true)
	}
	h.mu.Unlock()
	e.signal() // resumed: claim; paused: give back the jobs queued ahead
	return nil
}
