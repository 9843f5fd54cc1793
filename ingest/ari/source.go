package ari

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/websocket"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// Source defaults.
const (
	DefaultHoldStatus = 60 * time.Second
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 60 * time.Second
	DefaultBuffer     = 10000
	// FlushInterval is how often Run ends calls older than MaxCallDuration.
	FlushInterval = time.Minute
)

// SourceConfig configures a live ARI source (one Asterisk server).
type SourceConfig struct {
	// Name is the configured source name (source.name in records).
	Name string
	// URL is the ARI base URL: http(s)://host:port, with or without /ari.
	URL string
	// Username and Password are the ari.conf credentials.
	Username, Password string
	// App is the ARI application name used on /ari/events; default "cdrgw".
	App string
	// Tracker configures the tracker; Source defaults to {ari, Name}.
	Tracker Options
	// HoldStatus is how long a connection change must last before
	// source.connected or source.disconnected is raised (default 60 s); a
	// flap shorter than that raises nothing, and the latest state wins.
	HoldStatus time.Duration
	// Backoff bounds the reconnect delay, doubled after each failure
	// (default 1 s to 60 s).
	Backoff struct{ Min, Max time.Duration }
	// Buffer is the size of the bounded queue between the socket reader and
	// the tracker (default 10000).
	Buffer int
	// Status is told of every connection change as it happens, without
	// HoldStatus: Connected when the event WebSocket is open, Disconnected
	// with the reason when it is lost or a connect attempt fails (each
	// failed attempt). Nil means ingest.NopReporter.
	Status ingest.Reporter
}

// Source is a live ARI connection feeding a Tracker. It implements
// ingest.Source.
type Source struct {
	c        SourceConfig
	log      *slog.Logger
	base     string // http(s)://host:port/ari
	ws       string // ws(s)://host:port/ari/events?app=..&subscribeAll=true
	redacted string
	http     *http.Client
	dropped  prometheus.Counter
	received prometheus.Counter
	consumed atomic.Uint64
}

func newVecs() (dropped, received *prometheus.CounterVec) {
	dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cdrgw_ari_events_dropped_total",
		Help: "ARI events lost between the WebSocket and the tracker.",
	}, []string{"source"})
	received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cdrgw_ari_events_received_total",
		Help: "ARI events read from the WebSocket.",
	}, []string{"source"})
	return dropped, received
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}

// NewSource validates c and returns a source; reg (may be nil) receives
// the source's metrics.
func NewSource(c SourceConfig, log *slog.Logger, reg prometheus.Registerer) (*Source, error) {
	if c.Name == "" {
		return nil, errors.New("ari source: field name is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("ari source %q: field url %q: %w", c.Name, c.URL, err)
	}
	var wsScheme string
	switch u.Scheme {
	case "http", "ws":
		u.Scheme, wsScheme = "http", "ws"
	case "https", "wss":
		u.Scheme, wsScheme = "https", "wss"
	default:
		return nil, fmt.Errorf("ari source %q: field url %q: scheme is not http, https, ws or wss", c.Name, u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ari source %q: field url %q: host is missing", c.Name, u.Redacted())
	}
	if c.Username == "" && u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	u.User = nil
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/ari") {
		u.Path += "/ari"
	}
	u.RawQuery, u.Fragment = "", ""
	if c.App == "" {
		c.App = "cdrgw"
	}
	if c.HoldStatus <= 0 {
		c.HoldStatus = DefaultHoldStatus
	}
	if c.Backoff.Min <= 0 {
		c.Backoff.Min = DefaultBackoffMin
	}
	if c.Backoff.Max < c.Backoff.Min {
		c.Backoff.Max = max(DefaultBackoffMax, c.Backoff.Min)
	}
	if c.Buffer <= 0 {
		c.Buffer = DefaultBuffer
	}
	if c.Status == nil {
		c.Status = ingest.NopReporter{}
	}
	if c.Tracker.Source.Name == "" {
		c.Tracker.Source = cdr.SourceRef{Kind: "ari", Name: c.Name}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{c: c, base: u.String(), redacted: u.Redacted(), http: &http.Client{Timeout: 10 * time.Second}}
	w := *u
	w.Scheme = wsScheme
	w.Path += "/events"
	w.RawQuery = url.Values{"app": {c.App}, "subscribeAll": {"true"}}.Encode()
	s.ws = w.String()
	s.log = log.With("source", c.Name, "url", s.redacted)
	dv, rv := newVecs()
	if reg != nil {
		dv, rv = register(reg, dv), register(reg, rv)
	}
	s.dropped = dv.WithLabelValues(c.Name)
	s.received = rv.WithLabelValues(c.Name)
	return s, nil
}

// Name returns the source's configured name.
func (s *Source) Name() string { return s.c.Name }

// Consumed reports how many ARI events the tracker has handled.
func (s *Source) Consumed() uint64 { return s.consumed.Load() }

// item is one message from the reader to the tracker goroutine: an event,
// or a connection change (data nil).
type item struct {
	data []byte
	up   bool      // connection change: connected (true) or lost
	at   time.Time // when the change was noticed
	err  error     // why it was lost
	// alive lists the channel ids after a (re)connect, for Reconcile;
	// reconcile is false on the first connection.
	alive     []string
	reconcile bool
}

// Run connects, reads events and hands the tracker's output to sink until
// ctx ends; it then returns ctx's error. Connection failures are logged
// and retried with capped exponential backoff.
func (s *Source) Run(ctx context.Context, sink ingest.Sink) error {
	q := make(chan item, s.c.Buffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.read(ctx, q)
	}()
	defer func() { <-done }()

	t := NewTracker(s.c.Tracker)
	flush := time.NewTicker(FlushInterval)
	defer flush.Stop()
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	var (
		raised  string // last status raised
		pending *item
		lostAt  time.Time
		batch   []cdr.Event
	)
	deliver := func() {
		if len(batch) == 0 {
			return
		}
		for ctx.Err() == nil {
			err := sink.Accept(ctx, batch)
			if err == nil {
				break
			}
			s.log.Error("ari source: sink rejected events, retrying", "error", err, "events", len(batch))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-flush.C:
			batch = append(batch, t.Flush(time.Now())...)
			deliver()
		case <-hold.C:
			if pending != nil {
				st := "disconnected"
				if pending.up {
					st = "connected"
				}
				if st != raised {
					raised = st
					batch = append(batch, s.status(st, pending.at, pending.err))
					deliver()
				}
				pending = nil
			}
		case it := <-q:
			s.handle(t, it, &batch, &lostAt, &pending, hold)
		drain: // batch what is already queued
			for n := 0; n < 4096 && len(batch) < 512; n++ {
				select {
				case it = <-q:
					s.handle(t, it, &batch, &lostAt, &pending, hold)
				default:
					break drain
				}
			}
			deliver()
		}
	}
}

// handle processes one queue item on the tracker goroutine.
func (s *Source) handle(t *Tracker, it item, batch *[]cdr.Event, lostAt *time.Time, pending **item, hold *time.Timer) {
	if it.data != nil {
		evs, err := t.HandleJSON(it.data)
		s.consumed.Add(1)
		if err != nil {
			s.log.Warn("ari source: skipping an event that does not decode", "error", err)
			return
		}
		*batch = append(*batch, evs...)
		return
	}
	if !it.up {
		*lostAt = it.at
	} else if it.reconcile {
		noticed := *lostAt
		if noticed.IsZero() {
			noticed = it.at
		}
		*batch = append(*batch, t.Reconcile(noticed, it.alive)...)
	}
	p := it
	*pending = &p
	hold.Reset(s.c.HoldStatus)
}

// status builds a source.connected or source.disconnected event.
func (s *Source) status(st string, at time.Time, err error) cdr.Event {
	r := &cdr.SourceStatus{ID: "source:" + s.c.Name + ":" + st + ":" + strconv.FormatInt(at.UnixNano(), 10),
		Kind: cdr.KindSource, Source: s.c.Tracker.Source, Status: st, At: at.UTC()}
	typ := cdr.TypeSourceConnected
	if st == "disconnected" {
		typ = cdr.TypeSourceDisconnected
		if err != nil {
			r.Error = err.Error()
		}
	}
	return cdr.NewEvent(typ, at, s.c.Tracker.Source, r)
}

// read connects and reconnects, sending events and connection changes to
// q until ctx ends.
func (s *Source) read(ctx context.Context, q chan<- item) {
	delay := s.c.Backoff.Min
	connectedOnce := false
	for ctx.Err() == nil {
		ws, alive, err := s.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error(fmt.Sprintf("ari source %q: cannot connect to %s, retrying in %s", s.c.Name, s.redacted, delay), "error", err)
			s.c.Status.Disconnected(fmt.Errorf("cannot connect to %s: %w", s.redacted, err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, s.c.Backoff.Max)
			continue
		}
		delay = s.c.Backoff.Min
		s.log.Info("ari source connected", "channels", len(alive))
		s.c.Status.Connected()
		if !send(ctx, q, item{up: true, at: time.Now(), alive: alive, reconcile: connectedOnce}) {
			ws.Close()
			return
		}
		connectedOnce = true
		err = s.pump(ctx, ws, q)
		ws.Close()
		if ctx.Err() != nil {
			return
		}
		s.log.Warn(fmt.Sprintf("ari source %q: connection to %s lost", s.c.Name, s.redacted), "error", err)
		s.c.Status.Disconnected(fmt.Errorf("connection to %s lost: %w", s.redacted, err))
		if !send(ctx, q, item{at: time.Now(), err: err}) {
			return
		}
	}
}

func send(ctx context.Context, q chan<- item, it item) bool {
	select {
	case q <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// pump reads WebSocket messages into q until the socket fails or ctx ends.
// The send blocks when q is full, so the socket is back-pressured and no
// event is lost (a drop is only counted if ctx ends while an event waits).
func (s *Source) pump(ctx context.Context, ws *websocket.Conn, q chan<- item) error {
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	for {
		var data []byte
		if err := websocket.Message.Receive(ws, &data); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("websocket closed by the server")
			}
			return err
		}
		s.received.Inc()
		select {
		case q <- item{data: data}:
		default:
			// The tracker is behind: wait, keeping the event.
			if !send(ctx, q, item{data: data}) {
				s.dropped.Inc()
				return ctx.Err()
			}
		}
	}
}

// connect checks the credentials with GET /asterisk/info, opens the event
// WebSocket and then lists the channels alive (for Reconcile).
func (s *Source) connect(ctx context.Context) (*websocket.Conn, []string, error) {
	if err := s.get(ctx, "/asterisk/info", nil); err != nil {
		return nil, nil, err
	}
	cfg, err := websocket.NewConfig(s.ws, "http://localhost/")
	if err != nil {
		return nil, nil, fmt.Errorf("websocket config: %w", err)
	}
	cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.c.Username+":"+s.c.Password)))
	cfg.Dialer = &net.Dialer{Timeout: 10 * time.Second}
	ws, err := cfg.DialContext(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("open event websocket: %w", err)
	}
	var chans []struct {
		ID string `json:"id"`
	}
	if err := s.get(ctx, "/channels", &chans); err != nil {
		ws.Close()
		return nil, nil, err
	}
	alive := make([]string, len(chans))
	for i, c := range chans {
		alive[i] = c.ID
	}
	return ws, alive, nil
}

// get performs an authenticated ARI GET and decodes the JSON body into v.
func (s *Source) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.SetBasicAuth(s.c.Username, s.c.Password)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("GET %s: 401 unauthorized: wrong username %q or password", path, s.c.Username)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("GET %s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("GET %s: decode: %w", path, err)
		}
	}
	return nil
}
