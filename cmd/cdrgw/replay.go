package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/ingest/file"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/storeurl"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	*l = append(*l, s)
	return nil
}

// replayBatch is the most events stored in one transaction.
const replayBatch = 256

func cmdReplay(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "replay", "-c FILE [--webhook NAME]... [--since T] [--until T] [--rate N] [--dry-run] [--force] [--input-format teams|csv|jsonl] [--tz ZONE] INPUT...", `
Feeds recorded CDRs (Teams JSON, Asterisk Master.csv or cdrgw JSON lines, as
normalize reads them; "-" is standard input) through the gateway's webhooks:
those of the config file and those created at run time (admin API, web
console) and stored in the config's store. It stores the events and their
deliveries in that store, runs delivery workers until every delivery it
created is delivered, failed or dead (a cdrgw serve on the same store may
deliver some of them; they are counted too), then prints per webhook how
many were delivered, failed, dead and skipped.

An event is skipped for a webhook when that webhook already has a delivered
or pending delivery of it; --force creates new deliveries (with new ids)
anyway. Events stored before whose deliveries failed or died get new ones.
--webhook (repeatable) limits replay to those webhooks, from the config file
or the store; --since and --until (RFC 3339) keep events whose time is in
[since, until). --rate caps events per second. Replayed deliveries are not
debounced. --dry-run prints the requests each webhook would send (as render
does) without storing or sending anything; it reads the stored webhooks when
the store exists and can be opened, else renders the config file's only.

A stored webhook that does not load (a ${VAR} it needs is unset or not in
webhook_env, or its definition no longer compiles) is reported on standard
error and skipped; naming it with --webhook is an error.

A progress line (events read, accepted, skipped, rate, ETA) is drawn on a
terminal; otherwise one summary line goes to standard error. Exit status 1
when an input record was bad, a delivery failed or died, or replay was
interrupted.`)
	path := fs.String("c", "cdrgw.yaml", "config file")
	var webhooks stringList
	fs.Var(&webhooks, "webhook", "replay only to this webhook, from the config file or the store (repeatable; default: all)")
	sinceS := fs.String("since", "", "only events at or after this RFC 3339 time")
	untilS := fs.String("until", "", "only events before this RFC 3339 time")
	rate := fs.Float64("rate", 0, "at most this many events per second (0: no limit)")
	dryRun := fs.Bool("dry-run", false, "print the requests without storing or sending")
	force := fs.Bool("force", false, "create new deliveries even for events already delivered")
	asJSON := fs.Bool("json", false, "with --dry-run, print one JSON object per request")
	var in inputFlags
	in.register(fs)
	files, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(e.stderr, "cdrgw replay: "+format+"\n", a...)
		return code
	}
	if len(files) == 0 {
		fs.Usage()
		return fail(exitUsage, "no input files")
	}
	opts, err := in.options()
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	var since, until time.Time
	for _, p := range []struct {
		name string
		s    string
		dst  *time.Time
	}{{"--since", *sinceS, &since}, {"--until", *untilS, &until}} {
		if p.s == "" {
			continue
		}
		if *p.dst, err = time.Parse(time.RFC3339Nano, p.s); err != nil {
			return fail(exitUsage, "%s: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", p.name, p.s)
		}
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return fail(exitUsage, "--until %s is not after --since %s", *untilS, *sinceS)
	}
	if *rate < 0 {
		return fail(exitUsage, "--rate: %v is negative", *rate)
	}
	cfg, err := config.LoadFile(*path)
	if err != nil {
		return fail(exitFail, "%v", err)
	}
	r := &replayer{e: e, cfg: cfg, cfgPath: *path, files: files, opts: opts, webhooks: webhooks, since: since, until: until,
		rate: *rate, force: *force, perHook: map[string]*hookCount{}}
	if !storeMayHoldWebhooks(cfg.Store) {
		// Nothing is stored yet: check --webhook before creating the store.
		if err := r.loadWebhooks(ctx, nil); err != nil {
			return fail(exitFail, "%v", err)
		}
	}
	if f, ok := e.stderr.(*os.File); ok && isTerminal(f) {
		r.progress = true
	}
	if *dryRun {
		return r.dryRun(ctx, *asJSON)
	}
	return r.run(ctx)
}

// replayer runs one replay.
type replayer struct {
	e        env
	cfg      *config.Config
	cfgPath  string
	hooks    []*config.Webhook // the config file's, then the stored ones that load, by name
	files    []string
	opts     file.Options
	webhooks []string // selected; nil means all
	since    time.Time
	until    time.Time
	rate     float64
	force    bool
	progress bool

	// counters, read by the progress line
	read, accepted, skipped, outOfRange, bad atomic.Int64
	total                                    atomic.Int64 // events in the inputs; 0 when unknown
	readDone                                 atomic.Bool
	created, finished                        atomic.Int64

	outMu   sync.Mutex // serializes stderr between messages and the progress line
	mu      sync.Mutex
	perHook map[string]*hookCount
	ids     map[string]string // created delivery id → webhook
}

// hookCount is one webhook's line of the report.
type hookCount struct {
	created, delivered, failed, dead, pending, skipped int
}

func (r *replayer) hook(name string) *hookCount {
	c := r.perHook[name]
	if c == nil {
		c = &hookCount{}
		r.perHook[name] = c
	}
	return c
}

// selected returns the webhooks replay feeds: the config file's in file
// order, then the stored ones by name.
func (r *replayer) selected() []*config.Webhook {
	var out []*config.Webhook
	for _, w := range r.hooks {
		if len(r.webhooks) == 0 || slices.Contains(r.webhooks, w.Name()) {
			out = append(out, w)
		}
	}
	return out
}

// selectedNames returns the names of the selected webhooks.
func (r *replayer) selectedNames() []string {
	var out []string
	for _, w := range r.selected() {
		out = append(out, w.Name())
	}
	return out
}

// loadWebhooks sets r.hooks to the config file's webhooks and those stored
// in st (none when st is nil), loaded by webhookset as cdrgw serve loads
// them (webhook_env included). A stored webhook that does not load is
// reported and skipped, unless --webhook names it: that, and a --webhook
// naming no webhook, is an error.
func (r *replayer) loadWebhooks(ctx context.Context, st webhookset.Store) error {
	r.hooks = r.hooks[:0]
	for i := range r.cfg.Webhooks {
		r.hooks = append(r.hooks, &r.cfg.Webhooks[i])
	}
	broken := map[string]string{}
	if st != nil {
		set := webhookset.New(r.cfg, st, nopEngine{}, nil)
		if err := set.Load(ctx); err != nil {
			return err
		}
		for _, e := range set.List() {
			switch {
			case e.ReadOnly:
			case e.Webhook == nil:
				broken[e.Name] = e.Err
				if len(r.webhooks) == 0 {
					fmt.Fprintf(r.e.stderr, "cdrgw replay: stored webhook %q skipped: it does not load: %s\n", e.Name, oneLine(e.Err))
				}
			default:
				r.hooks = append(r.hooks, e.Webhook)
			}
		}
	}
	for _, name := range r.webhooks {
		if slices.ContainsFunc(r.hooks, func(w *config.Webhook) bool { return w.Name() == name }) {
			continue
		}
		if msg, ok := broken[name]; ok {
			return fmt.Errorf("--webhook: stored webhook %q does not load: %s", name, oneLine(msg))
		}
		return fmt.Errorf("--webhook: no webhook %q in %s or in the store", name, r.cfgPath)
	}
	return nil
}

// oneLine joins the lines of a multi-line error message.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// nopEngine lets webhookset load the stored webhooks without running them:
// replay builds its own engine from those selected.
type nopEngine struct{}

func (nopEngine) PutWebhook(context.Context, delivery.Webhook) error { return nil }
func (nopEngine) RemoveWebhook(string) error                         { return nil }
func (nopEngine) TestWebhook(context.Context, delivery.Webhook, cdr.Event) (delivery.ManualAttempt, error) {
	return delivery.ManualAttempt{}, errors.New("replay sends no test")
}

// storeMayHoldWebhooks reports whether the store may hold webhooks: not
// when it is a SQLite file that does not exist yet (or :memory:).
func storeMayHoldWebhooks(storeURL string) bool {
	kind, dsn, err := storeurl.Parse(storeURL)
	if err != nil || kind != storeurl.SQLite {
		return true // Postgres, or an error that opening reports
	}
	if dsn == ":memory:" {
		return false
	}
	_, err = os.Stat(dsn)
	return !errors.Is(err, fs.ErrNotExist)
}

// dryRunWebhooks loads the webhooks for a dry run, reading the stored ones
// when the store exists. A store that cannot be opened is reported and the
// config file's webhooks are rendered alone.
func (r *replayer) dryRunWebhooks(ctx context.Context) error {
	if !storeMayHoldWebhooks(r.cfg.Store) {
		return r.loadWebhooks(ctx, nil)
	}
	st, err := storeurl.Open(ctx, r.cfg.Store)
	if err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: dry run without the stored webhooks: %v\n", err)
		return r.loadWebhooks(ctx, nil)
	}
	defer st.Close()
	return r.loadWebhooks(ctx, st)
}

// inRange reports whether ev's time is within --since and --until.
func (r *replayer) inRange(ev cdr.Event) bool {
	if !r.since.IsZero() && ev.Time.Before(r.since) {
		return false
	}
	return r.until.IsZero() || ev.Time.Before(r.until)
}

// readAll reads every input with readInputs (the reader of normalize and
// render, recordings of live sources included), paced by --rate, and calls
// emit for each event in range. When a progress line is drawn and every
// input is a file, the inputs are first read once to count their events,
// for the ETA.
func (r *replayer) readAll(ctx context.Context, emit func(cdr.Event) error) error {
	if r.progress && !slices.Contains(r.files, "-") {
		var n int64
		quiet := env{stdin: r.e.stdin, stdout: io.Discard, stderr: io.Discard}
		if _, err := readInputs(ctx, quiet, r.files, r.opts, func(cdr.Event) error { n++; return nil }); err == nil {
			r.total.Store(n)
		}
	}
	start := time.Now()
	errw := &progressSafeWriter{r: r}
	bad, err := readInputs(ctx, env{stdin: r.e.stdin, stdout: r.e.stdout, stderr: errw}, r.files, r.opts, func(ev cdr.Event) error {
		n := r.read.Add(1)
		if !r.inRange(ev) {
			r.outOfRange.Add(1)
			return nil
		}
		if r.rate > 0 {
			due := start.Add(time.Duration(float64(n-1) / r.rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return emit(ev)
	})
	r.bad.Add(int64(bad))
	return err
}

// progressSafeWriter clears the progress line before writing a message.
type progressSafeWriter struct{ r *replayer }

func (w *progressSafeWriter) Write(p []byte) (int, error) {
	w.r.outMu.Lock()
	defer w.r.outMu.Unlock()
	if w.r.progress {
		fmt.Fprint(w.r.e.stderr, "\r\033[K")
	}
	return w.r.e.stderr.Write(p)
}

// dryRun prints what each selected webhook would send.
func (r *replayer) dryRun(ctx context.Context, asJSON bool) int {
	out := bufio.NewWriter(r.e.stdout)
	defer out.Flush()
	if err := r.dryRunWebhooks(ctx); err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
		return exitFail
	}
	var rendered, failed int
	hooks := r.selected()
	err := r.readAll(ctx, func(ev cdr.Event) error {
		for _, wh := range hooks {
			name := wh.Name()
			req, err := wh.Compiled.Render(ev, "")
			switch {
			case errors.Is(err, mapping.ErrSkipped):
				continue
			case err != nil:
				failed++
				fmt.Fprintf(r.e.stderr, "event %s (%s): %v\n", ev.ID, ev.Type, err)
				continue
			}
			rendered++
			r.hook(name).created++
			if asJSON {
				if err := writeRequestJSON(out, name, ev, req); err != nil {
					return err
				}
				continue
			}
			if rendered > 1 {
				out.WriteString("\n")
			}
			fmt.Fprintf(out, "# webhook %s, event %s (%s)\n", name, ev.ID, ev.Type)
			if err := writeRequestText(out, req); err != nil {
				return err
			}
		}
		return nil
	})
	out.Flush()
	if err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(r.e.stderr, "dry run: %d events read, %d out of range, %d requests rendered, %d failed, %d bad records; nothing stored or sent\n",
		r.read.Load(), r.outOfRange.Load(), rendered, failed, r.bad.Load())
	if failed > 0 || r.bad.Load() > 0 {
		return exitFail
	}
	return exitOK
}

// run stores, delivers and reports.
func (r *replayer) run(ctx context.Context) int {
	began := time.Now()
	log := slog.New(slog.NewTextHandler(r.e.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	st, err := storeurl.Open(ctx, r.cfg.Store)
	if err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
		return exitFail
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
		return exitFail
	}
	if err := r.loadWebhooks(ctx, st); err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
		return exitFail
	}
	names := r.selectedNames()
	var hooks []delivery.Webhook
	for _, w := range r.selected() {
		h, err := webhookset.EngineWebhook(w)
		if err != nil {
			fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
			return exitFail
		}
		hooks = append(hooks, h)
		r.hook(h.Name)
	}
	engine, err := delivery.New(st, hooks, delivery.Options{
		Owner:        newOwner(),
		Logger:       log,
		Client:       delivery.NewClient(r.cfg.AllowPrivateTargets),
		PollInterval: 100 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
		return exitFail
	}
	if err := engine.Start(ctx); err != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", err)
		return exitFail
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
		defer cancel()
		_ = engine.Stop(stopCtx)
	}()

	r.ids = map[string]string{}
	stopProgress := r.startProgress(began)
	var batch []cdr.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := r.accept(ctx, engine, st, batch, names)
		batch = batch[:0]
		return err
	}
	lastFlush := time.Now()
	runErr := r.readAll(ctx, func(ev cdr.Event) error {
		batch = append(batch, ev)
		if len(batch) >= replayBatch || time.Since(lastFlush) > 100*time.Millisecond {
			lastFlush = time.Now()
			return flush()
		}
		return nil
	})
	if runErr == nil {
		runErr = flush()
	}
	r.readDone.Store(true)
	if runErr == nil {
		runErr = r.wait(ctx, st, names, began)
	}
	stopProgress()

	// The report.
	tw := tabwriter.NewWriter(r.e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WEBHOOK\tDELIVERED\tFAILED\tDEAD\tSKIPPED\tPENDING")
	var delivered, failed, dead, pending int
	for _, name := range names {
		c := r.hook(name)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", name, c.delivered, c.failed, c.dead, c.skipped, c.pending)
		delivered, failed, dead, pending = delivered+c.delivered, failed+c.failed, dead+c.dead, pending+c.pending
	}
	tw.Flush()
	fmt.Fprintf(r.e.stderr, "replay: %d events read, %d accepted, %d skipped, %d out of range, %d bad; %d deliveries: %d delivered, %d failed, %d dead, %d pending; %s\n",
		r.read.Load(), r.accepted.Load(), r.skipped.Load(), r.outOfRange.Load(), r.bad.Load(),
		r.created.Load(), delivered, failed, dead, pending, time.Since(began).Round(time.Millisecond))
	if runErr != nil {
		fmt.Fprintf(r.e.stderr, "cdrgw replay: %v\n", runErr)
		return exitFail
	}
	if r.bad.Load() > 0 || failed > 0 || dead > 0 || pending > 0 {
		return exitFail
	}
	return exitOK
}

// accept stores a batch: new events with their planned deliveries at once;
// for events already stored, the deliveries of webhooks that have no
// delivered or pending delivery of them yet (all of them with --force).
func (r *replayer) accept(ctx context.Context, engine *delivery.Engine, st store.Store, events []cdr.Event, names []string) error {
	planned := make([]delivery.Planned, len(events))
	for i, ev := range events {
		planned[i] = delivery.Planned{Event: ev, Deliveries: engine.Plan(ev, names)}
	}
	fresh, err := engine.AcceptPlanned(ctx, planned, false)
	if err != nil {
		return err
	}
	var again []delivery.Planned
	for i, p := range planned {
		if fresh[i] {
			r.accepted.Add(1)
			r.track(p.Deliveries)
			continue
		}
		keep := p.Deliveries[:0:0]
		for _, d := range p.Deliveries {
			if !r.force {
				busy, err := hasLiveDelivery(ctx, st, p.Event.ID, d.Webhook)
				if err != nil {
					return err
				}
				if busy {
					r.mu.Lock()
					r.hook(d.Webhook).skipped++
					r.mu.Unlock()
					continue
				}
			}
			keep = append(keep, d)
		}
		if len(keep) == 0 {
			r.skipped.Add(1)
			continue
		}
		r.accepted.Add(1)
		again = append(again, delivery.Planned{Event: p.Event, Deliveries: keep})
	}
	if len(again) > 0 {
		if _, err := engine.AcceptPlanned(ctx, again, true); err != nil {
			return err
		}
		for _, p := range again {
			r.track(p.Deliveries)
		}
	}
	return nil
}

// hasLiveDelivery reports whether webhook has a delivered or pending
// delivery of the event.
func hasLiveDelivery(ctx context.Context, st store.Store, eventID, webhook string) (bool, error) {
	f := store.Filter{EventID: eventID, Webhook: webhook, Limit: store.MaxLimit}
	for {
		ds, next, err := st.ListDeliveries(ctx, f)
		if err != nil {
			return false, err
		}
		for _, d := range ds {
			if d.Status == store.StatusDelivered || d.Status == store.StatusPending {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		f.Cursor = next
	}
}

func (r *replayer) track(ds []store.NewDelivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range ds {
		r.ids[d.ID] = d.Webhook
		r.hook(d.Webhook).created++
	}
	r.created.Add(int64(len(ds)))
}

// wait polls the store until every delivery replay created is final (or ctx
// ends), keeping the per-webhook counts current.
func (r *replayer) wait(ctx context.Context, st store.Store, names []string, began time.Time) error {
	// Deliveries are stamped with this process's clock, so every one replay
	// created is at or after began.
	since := began.Add(-time.Second)
	for {
		counts := map[string]*hookCount{}
		seen := 0
		for _, name := range names {
			c := &hookCount{}
			counts[name] = c
			f := store.Filter{Webhook: name, Since: since, Limit: store.MaxLimit}
			for {
				ds, next, err := st.ListDeliveries(ctx, f)
				if err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("interrupted: %w", ctx.Err())
					}
					return err
				}
				r.mu.Lock()
				for _, d := range ds {
					if r.ids[d.ID] == "" {
						continue
					}
					seen++
					switch d.Status {
					case store.StatusDelivered:
						c.delivered++
					case store.StatusFailed:
						c.failed++
					case store.StatusDead:
						c.dead++
					default:
						c.pending++
					}
				}
				r.mu.Unlock()
				if next == "" {
					break
				}
				f.Cursor = next
			}
		}
		r.mu.Lock()
		missing := len(r.ids) - seen
		pending := missing
		for name, c := range counts {
			h := r.hook(name)
			h.delivered, h.failed, h.dead, h.pending = c.delivered, c.failed, c.dead, c.pending
			pending += c.pending
		}
		r.mu.Unlock()
		r.finished.Store(int64(seen - pendingOf(counts)))
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted with %d deliveries unfinished: %w", pending, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func pendingOf(counts map[string]*hookCount) int {
	n := 0
	for _, c := range counts {
		n += c.pending
	}
	return n
}

// startProgress draws the progress line on a terminal until the returned
// function is called.
func (r *replayer) startProgress(began time.Time) func() {
	if !r.progress {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				r.outMu.Lock()
				fmt.Fprint(r.e.stderr, "\r\033[K")
				r.outMu.Unlock()
				return
			case <-t.C:
				r.outMu.Lock()
				fmt.Fprint(r.e.stderr, "\r\033[K"+r.progressLine(time.Since(began)))
				r.outMu.Unlock()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// progressLine is the progress bar's text after elapsed.
func (r *replayer) progressLine(elapsed time.Duration) string {
	read, total, done := r.read.Load(), r.total.Load(), 0.0
	created, finished := r.created.Load(), r.finished.Load()
	phase := "reading"
	switch {
	case read < total:
		done = float64(read) / float64(total)
	case r.readDone.Load() && created > 0:
		phase = "delivering"
		done = float64(finished) / float64(created)
	}
	const width = 24
	fill := int(done * width)
	bar := strings.Repeat("#", fill) + strings.Repeat(".", width-fill)
	secs := elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(r.read.Load()) / secs
	}
	eta := "--"
	if done > 0 && done < 1 {
		eta = (time.Duration(secs/done*(1-done)) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("[%s] %s: %d read, %d accepted, %d skipped, %d/%d deliveries finished · %.0f ev/s · ETA %s",
		bar, phase, r.read.Load(), r.accepted.Load(), r.skipped.Load(), finished, created, rate, eta)
}
