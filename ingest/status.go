package ingest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// Reporter receives a live source's connection changes. A source calls
// Connected when its peer is reachable (an ARI WebSocket is open, a HEP or
// SIP listener is bound) and Disconnected with the reason when it is not.
// A nil Reporter is not allowed; use NopReporter.
type Reporter interface {
	Connected()
	Disconnected(err error)
}

// NopReporter is a Reporter that does nothing.
type NopReporter struct{}

// Connected implements Reporter.
func (NopReporter) Connected() {}

// Disconnected implements Reporter.
func (NopReporter) Disconnected(error) {}

// State is one source's status as the console shows it.
type State struct {
	Name             string
	Kind             string    // teams, ari, hep, sip
	Connected        bool      // the last report; HTTP sources (teams) count as connected
	Since            time.Time // when Connected last changed; zero before the first report
	LastError        string    // the error of the latest Disconnected, "" if none
	LastErrorAt      time.Time
	LastEventAt      time.Time // the latest accepted event; zero if none
	EventsLastMinute int64     // events accepted in the last 60 s
	EventsLastHour   int64     // events accepted in the last 60 min
}

// Board keeps the state of every source of the gateway and counts the
// events each one had accepted over the last hour, in memory (per process).
// It is safe for concurrent use.
type Board struct {
	now func() time.Time

	mu      sync.Mutex
	sources map[string]*boardEntry
}

type boardEntry struct {
	st      State
	seconds [60]bucket // events per second over the last minute
	minutes [60]bucket // events per minute over the last hour
}

// bucket counts the events of one time slot; slot tells which slot it holds,
// so a bucket left over from an earlier lap of the ring is ignored.
type bucket struct {
	slot int64
	n    int64
}

// NewBoard returns an empty board. now is the clock (nil means time.Now).
func NewBoard(now func() time.Time) *Board {
	if now == nil {
		now = time.Now
	}
	return &Board{now: now, sources: map[string]*boardEntry{}}
}

// Register adds a source; registering a name twice keeps the first kind.
// HTTP sources (kind teams) start connected, since there is no peer
// connection to lose; the others start disconnected until they report.
func (b *Board) Register(name, kind string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.sources[name]; ok {
		return
	}
	e := &boardEntry{st: State{Name: name, Kind: kind}}
	if kind == "teams" {
		e.st.Connected, e.st.Since = true, b.now().UTC()
	}
	b.sources[name] = e
}

func (b *Board) entry(name string) *boardEntry {
	e, ok := b.sources[name]
	if !ok {
		e = &boardEntry{st: State{Name: name}}
		b.sources[name] = e
	}
	return e
}

// For returns the Reporter a source uses to report its connection state.
func (b *Board) For(name string) Reporter { return boardReporter{b: b, name: name} }

type boardReporter struct {
	b    *Board
	name string
}

func (r boardReporter) Connected()             { r.b.set(r.name, true, nil) }
func (r boardReporter) Disconnected(err error) { r.b.set(r.name, false, err) }

func (b *Board) set(name string, connected bool, err error) {
	now := b.now().UTC()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(name)
	if e.st.Connected != connected || e.st.Since.IsZero() {
		e.st.Connected, e.st.Since = connected, now
	}
	if err != nil {
		e.st.LastError, e.st.LastErrorAt = err.Error(), now
	}
}

// Count records n events accepted from the named source.
func (b *Board) Count(name string, n int) {
	if n <= 0 {
		return
	}
	now := b.now()
	sec, min := now.Unix(), now.Unix()/60
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(name)
	e.st.LastEventAt = now.UTC()
	add(&e.seconds[sec%60], sec, int64(n))
	add(&e.minutes[min%60], min, int64(n))
}

func add(bk *bucket, slot, n int64) {
	if bk.slot != slot {
		bk.slot, bk.n = slot, 0
	}
	bk.n += n
}

func sum(ring *[60]bucket, from, to int64) int64 {
	var n int64
	for _, bk := range ring {
		if bk.slot > from && bk.slot <= to {
			n += bk.n
		}
	}
	return n
}

// Snapshot returns every source's state, ordered by name.
func (b *Board) Snapshot() []State {
	now := b.now()
	sec, min := now.Unix(), now.Unix()/60
	b.mu.Lock()
	out := make([]State, 0, len(b.sources))
	for _, e := range b.sources {
		st := e.st
		st.EventsLastMinute = sum(&e.seconds, sec-60, sec)
		st.EventsLastHour = sum(&e.minutes, min-60, min)
		out = append(out, st)
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(a, b State) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Sink returns a Sink that passes events to next and, once next accepted
// them, counts them for the named source.
func (b *Board) Sink(name string, next Sink) Sink {
	return SinkFunc(func(ctx context.Context, events []cdr.Event) error {
		if err := next.Accept(ctx, events); err != nil {
			return err
		}
		b.Count(name, len(events))
		return nil
	})
}
