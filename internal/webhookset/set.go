package webhookset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

// Errors of Create, Update and Delete.
var (
	// ErrExists: a webhook of that name exists, in the config file or the store.
	ErrExists = errors.New("a webhook of that name exists")
	// ErrReadOnly: the webhook comes from the config file; edit the file instead.
	ErrReadOnly = errors.New("the webhook is defined in the config file and is read-only")
)

// DefaultEvery is the period at which Run re-reads the store when given 0.
const DefaultEvery = 5 * time.Second

// Store is where run-time webhooks persist; store.Store has it.
type Store interface {
	PutWebhook(ctx context.Context, w store.StoredWebhook) error
	DeleteWebhook(ctx context.Context, name string) error
	SetPaused(ctx context.Context, webhook string, paused bool) error
	ListWebhooks(ctx context.Context) ([]store.StoredWebhook, error)
}

// Engine runs webhooks; *delivery.Engine has it.
type Engine interface {
	PutWebhook(ctx context.Context, w delivery.Webhook) error
	RemoveWebhook(name string) error
	TestWebhook(ctx context.Context, w delivery.Webhook, ev cdr.Event) (delivery.ManualAttempt, error)
}

// Entry is one webhook of the set.
type Entry struct {
	Name string
	Spec Spec // as stored, secrets included (show Spec.Redacted()); for config ones SpecOf

	ReadOnly bool            // from the config file
	Webhook  *config.Webhook // nil when a stored spec does not compile (see Err)
	// CreatedAt and UpdatedAt are the store's; zero for config ones.
	CreatedAt, UpdatedAt time.Time
	// Err says why a stored webhook does not run (its spec no longer
	// compiles, e.g. a ${VAR} it needs is unset); "" when it runs.
	Err string
}

// Set is every webhook of the gateway: the config file's, read-only, and
// those created at run time, kept in the store and run by the engine. It
// is safe for concurrent use; several gateways on one store converge
// through Run.
type Set struct {
	st     Store
	eng    Engine
	log    *slog.Logger
	lookup func(string) (string, bool)
	env    []string // the config's webhook_env: what stored webhooks may read

	config []Entry // config file order

	op chan struct{} // a lock (capacity 1) that serializes Load, Sync and the mutations; see lock

	mu     sync.RWMutex
	stored map[string]*stored
}

// stored is a run-time webhook as last read from the store.
type stored struct {
	entry Entry
	raw   []byte // the stored spec, to notice changes
	retry bool   // the engine refused it: try again at the next Sync
}

// New returns the set of cfg's webhooks (read-only) and, once Load has run,
// st's. eng must already run cfg's webhooks; the set adds and removes only
// stored ones. ${VAR} and env("VAR") in stored specs read the process
// environment, but only the variables cfg.WebhookEnv lists (none when cfg
// is nil); see config.ParseRuntimeWebhook.
func New(cfg *config.Config, st Store, eng Engine, log *slog.Logger) *Set {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Set{st: st, eng: eng, log: log, lookup: os.LookupEnv, stored: map[string]*stored{}, op: make(chan struct{}, 1)}
	if cfg != nil {
		s.env = slices.Clone(cfg.WebhookEnv)
		for i := range cfg.Webhooks {
			w := &cfg.Webhooks[i]
			s.config = append(s.config, Entry{Name: w.Name(), Spec: SpecOf(w), ReadOnly: true, Webhook: w})
		}
	}
	return s
}

// Load reads the stored webhooks and adds them to the engine; call it before
// the engine starts. A stored webhook that no longer compiles, or whose name
// the config file now uses, is logged and skipped, and shown with its Err.
// Only a failure to read the store is an error.
func (s *Set) Load(ctx context.Context) error {
	return s.Sync(ctx)
}

// Run re-reads the store every period (DefaultEvery when 0) so that changes
// made through another gateway on the same store reach this one's engine,
// until ctx ends.
func (s *Set) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("webhooks: re-reading the store failed", "err", err)
			}
		}
	}
}

// Sync brings the set and the engine in line with the store once: new and
// changed stored webhooks are (re)compiled and put, removed ones removed.
func (s *Set) Sync(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	return s.syncLocked(ctx)
}

// lock takes the set's operation lock, or gives up when ctx ends: a
// mutation waiting behind a Sync stuck on a slow store returns when its
// request does.
func (s *Set) lock(ctx context.Context) error {
	select {
	case s.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("webhooks: waiting for another change: %w", context.Cause(ctx))
	}
}

func (s *Set) unlock() { <-s.op }

func (s *Set) syncLocked(ctx context.Context) error {
	list, err := s.st.ListWebhooks(ctx)
	if err != nil {
		return fmt.Errorf("webhooks: list stored: %w", err)
	}
	seen := make(map[string]bool, len(list))
	for _, sw := range list {
		seen[sw.Name] = true
		s.mu.RLock()
		old := s.stored[sw.Name]
		s.mu.RUnlock()
		if old != nil && bytes.Equal(old.raw, sw.Spec) && !old.retry {
			s.mu.Lock()
			old.entry.CreatedAt, old.entry.UpdatedAt = sw.CreatedAt, sw.UpdatedAt
			s.mu.Unlock()
			continue
		}
		s.apply(ctx, sw, old)
	}
	s.mu.RLock()
	var gone []string
	for name := range s.stored {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	s.mu.RUnlock()
	for _, name := range gone {
		s.remove(name)
		s.log.Info("webhook deleted from the store", "webhook", name)
	}
	return nil
}

// apply compiles a stored webhook read from the store and puts it in the
// engine, or records why it cannot run (removing the definition it
// replaces from the engine: the store's is the one that counts). A
// definition the engine refused is tried again at the next Sync; one that
// does not compile only when it changes.
func (s *Set) apply(ctx context.Context, sw store.StoredWebhook, old *stored) {
	e := Entry{Name: sw.Name, CreatedAt: sw.CreatedAt, UpdatedAt: sw.UpdatedAt}
	_ = json.Unmarshal(sw.Spec, &e.Spec) // for display; an undecodable spec fails parseSpec below
	retry := false
	fail := func(msg string) {
		e.Err = msg
		if !(retry && old != nil && old.retry && old.entry.Err == msg) { // once, not at every Sync
			s.log.Error("stored webhook skipped", "webhook", sw.Name, "err", msg)
		}
		if old != nil && old.entry.Webhook != nil {
			if err := s.eng.RemoveWebhook(sw.Name); err != nil && !errors.Is(err, delivery.ErrUnknownWebhook) {
				s.log.Warn("remove webhook from the engine", "webhook", sw.Name, "err", err)
			}
		}
		s.set(sw.Name, &stored{entry: e, raw: sw.Spec, retry: retry})
	}
	if s.isConfig(sw.Name) {
		fail("the config file defines a webhook of the same name, which wins; rename or delete this one")
		return
	}
	w, err := s.parseSpec(sw.Spec)
	if err != nil {
		fail(err.Error())
		return
	}
	if w.Name() != sw.Name {
		fail(fmt.Sprintf("its spec names it %q", w.Name()))
		return
	}
	dw, err := EngineWebhook(w)
	if err != nil {
		fail(err.Error())
		return
	}
	if err := s.eng.PutWebhook(ctx, dw); err != nil {
		retry = true
		fail(err.Error())
		return
	}
	e.Webhook = w
	s.set(sw.Name, &stored{entry: e, raw: sw.Spec})
	if old == nil {
		s.log.Info("stored webhook loaded", "webhook", sw.Name)
	} else {
		s.log.Info("stored webhook updated", "webhook", sw.Name)
	}
}

func (s *Set) set(name string, st *stored) {
	s.mu.Lock()
	s.stored[name] = st
	s.mu.Unlock()
}

// remove drops a stored webhook from the set and the engine.
func (s *Set) remove(name string) {
	s.mu.Lock()
	old := s.stored[name]
	delete(s.stored, name)
	s.mu.Unlock()
	if old == nil || old.entry.Webhook == nil {
		return
	}
	if err := s.eng.RemoveWebhook(name); err != nil && !errors.Is(err, delivery.ErrUnknownWebhook) {
		s.log.Warn("remove webhook from the engine", "webhook", name, "err", err)
	}
}

func (s *Set) isConfig(name string) bool {
	return slices.ContainsFunc(s.config, func(e Entry) bool { return e.Name == name })
}

// List returns every webhook: the config file's in file order, then the
// stored ones by name (but not a stored one that a config file webhook of
// the same name hides).
func (s *Set) List() []Entry {
	out := slices.Clone(s.config)
	s.mu.RLock()
	start := len(out)
	for name, st := range s.stored {
		if !s.isConfig(name) {
			out = append(out, st.entry)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out[start:], func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Get returns the webhook called name.
func (s *Set) Get(name string) (Entry, bool) {
	for _, e := range s.config {
		if e.Name == name {
			return e, true
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st, ok := s.stored[name]; ok {
		return st.entry, true
	}
	return Entry{}, false
}

// Create stores a new webhook from its JSON spec and adds it to the
// engine. A bad spec gives config.Errors (positions within spec); a name in
// use, in the config file or the store, ErrExists.
func (s *Set) Create(ctx context.Context, spec []byte) (Entry, error) {
	if err := s.lock(ctx); err != nil {
		return Entry{}, err
	}
	defer s.unlock()
	if err := s.syncLocked(ctx); err != nil {
		return Entry{}, err
	}
	w, sp, canon, err := s.parse(spec, nil)
	if err != nil {
		return Entry{}, err
	}
	name := w.Name()
	if _, exists := s.Get(name); exists {
		return Entry{}, fmt.Errorf("create webhook %q: %w", name, ErrExists)
	}
	if err := s.st.PutWebhook(ctx, store.StoredWebhook{Name: name, Spec: canon}); err != nil {
		return Entry{}, fmt.Errorf("create webhook %q: %w", name, err)
	}
	if err := s.putEngine(ctx, w); err != nil {
		if derr := s.st.DeleteWebhook(context.WithoutCancel(ctx), name); derr != nil {
			s.log.Error("create webhook: undo store write", "webhook", name, "err", derr)
		}
		return Entry{}, fmt.Errorf("create webhook %q: %w", name, err)
	}
	now := time.Now().UTC()
	e := Entry{Name: name, Spec: sp, Webhook: w, CreatedAt: now, UpdatedAt: now}
	s.set(name, &stored{entry: e, raw: canon})
	s.log.Info("webhook created", "webhook", name)
	return e, nil
}

// Update replaces a stored webhook with a new JSON spec, which must keep
// its name; the engine keeps the webhook's health and paused state. Errors:
// ErrReadOnly for a config file webhook, store.ErrNotFound for an unknown
// one, config.Errors for a bad spec.
func (s *Set) Update(ctx context.Context, name string, spec []byte) (Entry, error) {
	if err := s.lock(ctx); err != nil {
		return Entry{}, err
	}
	defer s.unlock()
	if s.isConfig(name) {
		return Entry{}, fmt.Errorf("update webhook %q: %w", name, ErrReadOnly)
	}
	if err := s.syncLocked(ctx); err != nil {
		return Entry{}, err
	}
	s.mu.RLock()
	old := s.stored[name]
	s.mu.RUnlock()
	if old == nil {
		return Entry{}, fmt.Errorf("update webhook %q: %w", name, store.ErrNotFound)
	}
	w, sp, canon, err := s.parse(spec, &old.entry.Spec)
	if err != nil {
		return Entry{}, err
	}
	if w.Name() != name {
		return Entry{}, config.Errors{{Path: "name", Msg: fmt.Sprintf("%q is not the name of the webhook being updated, %q: a webhook cannot be renamed (create one and delete this one)", w.Name(), name)}}
	}
	if err := s.st.PutWebhook(ctx, store.StoredWebhook{Name: name, Spec: canon}); err != nil {
		return Entry{}, fmt.Errorf("update webhook %q: %w", name, err)
	}
	if err := s.putEngine(ctx, w); err != nil {
		if perr := s.st.PutWebhook(context.WithoutCancel(ctx), store.StoredWebhook{Name: name, Spec: old.raw}); perr != nil {
			s.log.Error("update webhook: undo store write", "webhook", name, "err", perr)
		}
		return Entry{}, fmt.Errorf("update webhook %q: %w", name, err)
	}
	e := Entry{Name: name, Spec: sp, Webhook: w, CreatedAt: old.entry.CreatedAt, UpdatedAt: time.Now().UTC()}
	s.set(name, &stored{entry: e, raw: canon})
	s.log.Info("webhook updated", "webhook", name)
	return e, nil
}

// Delete removes a stored webhook from the store and the engine; its
// deliveries stay in the store. Errors: ErrReadOnly, store.ErrNotFound.
func (s *Set) Delete(ctx context.Context, name string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if s.isConfig(name) {
		return fmt.Errorf("delete webhook %q: %w", name, ErrReadOnly)
	}
	if err := s.st.DeleteWebhook(ctx, name); err != nil {
		return fmt.Errorf("delete webhook %q: %w", name, err)
	}
	// A webhook created again under this name starts running, not paused.
	if err := s.st.SetPaused(ctx, name, false); err != nil {
		s.log.Warn("clear the paused state of a deleted webhook", "webhook", name, "err", err)
	}
	s.mu.RLock()
	_, known := s.stored[name]
	s.mu.RUnlock()
	if known {
		s.remove(name)
	} else if err := s.eng.RemoveWebhook(name); err != nil && !errors.Is(err, delivery.ErrUnknownWebhook) {
		// Created by another gateway since the last Sync.
		s.log.Warn("remove webhook from the engine", "webhook", name, "err", err)
	}
	s.log.Info("webhook deleted", "webhook", name)
	return nil
}

func (s *Set) putEngine(ctx context.Context, w *config.Webhook) error {
	dw, err := EngineWebhook(w)
	if err != nil {
		return err
	}
	return s.eng.PutWebhook(ctx, dw)
}

// Compile parses and compiles a spec (JSON or YAML) without storing or
// running it, for previews. Parts hidden by Spec.Redacted (secrets, URL
// credentials, sensitive headers and params) are those of the stored
// webhook of the same name.
func (s *Set) Compile(spec []byte) (*config.Webhook, error) {
	var sp Spec
	if json.Unmarshal(spec, &sp) == nil {
		s.mu.RLock()
		st, ok := s.stored[sp.Name]
		s.mu.RUnlock()
		if ok {
			spec = unhide(spec, st.entry.Spec)
		}
	}
	return s.parseSpec(spec)
}

// Test compiles a spec and sends ev (a sample of its first event type when
// ev has no type) once now through the engine, storing nothing.
func (s *Set) Test(ctx context.Context, spec []byte, ev cdr.Event) (delivery.ManualAttempt, error) {
	w, err := s.Compile(spec)
	if err != nil {
		return delivery.ManualAttempt{}, err
	}
	dw, err := EngineWebhook(w)
	if err != nil {
		return delivery.ManualAttempt{}, err
	}
	if ev.Type == "" {
		ev = mapping.SampleEvent(w.Spec.Events[0])
	}
	return s.eng.TestWebhook(ctx, dw, ev)
}

// parseSpec parses and compiles a stored webhook's spec, which may read
// only the variables of webhook_env.
func (s *Set) parseSpec(spec []byte) (*config.Webhook, error) {
	return config.ParseRuntimeWebhook(spec, s.env, s.lookup)
}

// parse checks a spec for Create and Update: it compiles spec as given (so
// that errors point into it), decodes it as a Spec and returns the webhook
// compiled from the canonical JSON that is stored, so that what runs is
// what is stored. prev, when set, supplies the secrets given as Hidden.
func (s *Set) parse(spec []byte, prev *Spec) (*config.Webhook, Spec, []byte, error) {
	if prev != nil {
		spec = unhide(spec, *prev)
	}
	if _, err := s.parseSpec(spec); err != nil {
		return nil, Spec{}, nil, err
	}
	var sp Spec
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return nil, Spec{}, nil, config.Errors{{Line: 1, Column: 1, Msg: fmt.Sprintf("a webhook is stored as JSON: %v", err)}}
	}
	if sp.Name == "." || sp.Name == ".." {
		// URL paths drop such a segment: /webhooks/../edit is /edit.
		return nil, Spec{}, nil, config.Errors{{Path: "name", Msg: fmt.Sprintf("%q cannot be a webhook's name in a URL path", sp.Name)}}
	}
	canon := sp.Marshal()
	w, err := s.parseSpec(canon)
	if err != nil {
		// A Spec that marshals to something parseSpec rejects is a bug.
		return nil, Spec{}, nil, fmt.Errorf("webhook %q: the canonical spec does not load: %w", sp.Name, err)
	}
	return w, sp, canon, nil
}

// unhide restores from prev what prev.Redacted() hid: a secret given as
// Hidden takes the secret at the same index of prev, a URL equal to
// prev's redacted URL takes prev's URL, and a header or param given as
// Hidden takes prev's expression of that name. A spec with nothing to restore
// is returned unchanged; one with something is re-marshalled, so error
// positions then refer to that text.
func unhide(spec []byte, prev Spec) []byte {
	var sp Spec
	if json.Unmarshal(spec, &sp) != nil {
		return spec
	}
	changed := false
	for i, sec := range sp.Secrets {
		if sec == Hidden && i < len(prev.Secrets) {
			sp.Secrets[i], changed = prev.Secrets[i], true
		}
	}
	if sp.URL != prev.URL && sp.URL == RedactURL(prev.URL) {
		sp.URL, changed = prev.URL, true
	}
	changed = restoreParams(sp.Headers, prev.Headers) || changed
	changed = restoreParams(sp.Params, prev.Params) || changed
	if !changed {
		return spec
	}
	return sp.Marshal()
}

// restoreParams gives each expression of ps that is Hidden the expression
// of the same name in prev, reporting whether it restored any.
func restoreParams(ps, prev Params) bool {
	changed := false
	for i, p := range ps {
		if old, ok := prev.Get(p.Name); ok && p.Expr == Hidden {
			ps[i].Expr, changed = old, true
		}
	}
	return changed
}

// Preview renders the exact request w makes for ev, under delivery id
// "preview" (the JSON-RPC id). The engine adds the Standard Webhooks
// headers (webhook-id, webhook-timestamp, webhook-signature) and a
// User-Agent when it sends. mapping.ErrSkipped (wrapped) when w does not
// subscribe to ev's type or its filter rejects ev; *mapping.RenderError
// when an expression fails on ev.
func Preview(w *config.Webhook, ev cdr.Event) (*mapping.Request, error) {
	if w == nil || w.Compiled == nil {
		return nil, errors.New("preview: the webhook is not compiled")
	}
	return w.Compiled.Render(ev, "preview")
}

// EngineWebhook turns a loaded webhook into the engine's.
func EngineWebhook(w *config.Webhook) (delivery.Webhook, error) {
	signer, err := delivery.NewSigner(w.Secrets)
	if err != nil {
		return delivery.Webhook{}, fmt.Errorf("webhook %q: %w", w.Name(), err)
	}
	sched, err := delivery.ParseSchedule(w.Retry.Schedule)
	if err != nil {
		return delivery.Webhook{}, fmt.Errorf("webhook %q: retry.schedule: %w", w.Name(), err)
	}
	return delivery.Webhook{
		Name:           w.Name(),
		Renderer:       w.Compiled,
		Active:         w.Active,
		Delay:          w.Delay,
		Debounce:       w.Debounce,
		Timeout:        w.Timeout,
		MaxAttempts:    w.Retry.Attempts,
		Retry:          delivery.Backoff{Schedule: sched, Interval: w.Retry.Interval, MaxInterval: w.Retry.MaxInterval, Jitter: w.Retry.Jitter},
		Signer:         signer,
		Secrets:        w.Secrets,
		Concurrency:    w.Concurrency,
		Ordered:        w.Ordered,
		FailingAfter:   w.FailingAfter,
		PauseOnFailing: w.PauseOnFailing,
		RetryOn:        w.RetryOn4xx,
	}, nil
}

// EngineWebhooks turns every webhook of cfg into the engine's, in config
// order, for delivery.New.
func EngineWebhooks(cfg *config.Config) ([]delivery.Webhook, error) {
	out := make([]delivery.Webhook, 0, len(cfg.Webhooks))
	for i := range cfg.Webhooks {
		dw, err := EngineWebhook(&cfg.Webhooks[i])
		if err != nil {
			return nil, err
		}
		out = append(out, dw)
	}
	return out, nil
}
