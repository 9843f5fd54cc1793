package siptap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// Metrics are the SIP sources' Prometheus metrics, shared by every HEP and
// SIP source of a gateway. A nil *Metrics records nothing.
type Metrics struct {
	bad *prometheus.CounterVec
}

// NewMetrics registers cdrgw_sip_bad_packets_total{source,reason} with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{bad: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cdrgw_sip_bad_packets_total",
		Help: "Packets a HEP or SIP source skipped, by source and reason (hep_decode, not_sip, sip_parse, capture_id, password, ip_fragment).",
	}, []string{"source", "reason"})}
	reg.MustRegister(m.bad)
	return m
}

// SourceConfig configures a live HEP or SIP source.
type SourceConfig struct {
	Name    string       // the source's configured name
	Listen  string       // host:port for both UDP and TCP
	Tracker Options      // tracker options; Source is set from Name and the kind
	Logger  *slog.Logger // nil: slog.Default()
	Metrics *Metrics     // nil: not counted
	// CaptureIDs, when not empty, is the allow-list of HEP capture ids (HEP only).
	CaptureIDs []uint32
	// Password, when set, must match HEP chunk 14 (HEP only).
	Password string
	// FlushEvery is how often time-outs are checked (default 1 s).
	FlushEvery time.Duration
	// Ready, when set, is called with the bound UDP and TCP addresses.
	Ready func(udp, tcp net.Addr)
	// Status is told when the listeners are bound (Connected) and when they
	// fail or stop (Disconnected); nil means ingest.NopReporter.
	Status ingest.Reporter
}

// Source is a live HEP or mirrored-SIP listener feeding one dialog tracker;
// it implements ingest.Source and never answers its peers.
type Source struct {
	cfg  SourceConfig
	hep  bool
	mu   sync.Mutex
	pipe *pipeline
	sink ingest.Sink
	ctx  context.Context
	// events queue between the tracker and the sink (see deliver).
	events chan cdr.Event
	// bad-packet log limiter
	logMu   sync.Mutex
	logNext time.Time
	dropped int
	// unsent counts the writes sipgo attempted on a SIP tap's sockets, all
	// discarded.
	unsent atomic.Int64
}

var _ ingest.Source = (*Source)(nil)

// NewHEPSource returns a source that receives HEPv3 and HEPv2 over UDP and
// HEPv3 over TCP on cfg.Listen.
func NewHEPSource(cfg SourceConfig) *Source { return newSource(cfg, true) }

// NewSIPSource returns a passive tap that receives mirrored plain SIP over
// UDP and TCP on cfg.Listen through sipgo's transport layer and parser,
// answering nothing.
func NewSIPSource(cfg SourceConfig) *Source { return newSource(cfg, false) }

func newSource(cfg SourceConfig, hep bool) *Source {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = time.Second
	}
	kind := "sip"
	if hep {
		kind = "hep"
	}
	cfg.Tracker.Source = cdr.SourceRef{Kind: kind, Name: cfg.Name}
	return &Source{cfg: cfg, hep: hep}
}

// Name implements ingest.Source.
func (s *Source) Name() string { return s.cfg.Name }

// Run listens until ctx is done. Events go to sink as packets arrive,
// through a queue so that the readers never wait for the store (events
// that wait are accepted together); a sink error is logged and the call
// state kept (SIP cannot be re-asked). When ctx ends, the events already
// made are still handed to sink for up to 5 s.
//
// It reports Connected to cfg.Status once both listeners are bound and
// Disconnected when they fail to bind (the error is returned), when one
// stops on its own (the error is returned) or when ctx ends (nil).
func (s *Source) Run(ctx context.Context, sink ingest.Sink) error {
	status := s.cfg.Status
	if status == nil {
		status = ingest.NopReporter{}
	}
	s.sink, s.ctx = sink, ctx
	s.pipe = newPipeline(s.cfg.Tracker, s.accept, s.badPacket)
	if len(s.cfg.CaptureIDs) > 0 {
		s.pipe.captureIDs = map[uint32]bool{}
		for _, id := range s.cfg.CaptureIDs {
			s.pipe.captureIDs[id] = true
		}
	}
	s.pipe.password = s.cfg.Password
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", s.cfg.Listen)
	if err != nil {
		err = fmt.Errorf("source %s: %w", s.cfg.Name, err) // the error names "listen udp ADDR"
		status.Disconnected(err)
		return err
	}
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		pc.Close()
		err = fmt.Errorf("source %s: %w", s.cfg.Name, err)
		status.Disconnected(err)
		return err
	}
	if u, ok := pc.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(4 << 20) // bursts from busy proxies
	}
	status.Connected()
	if s.cfg.Ready != nil {
		s.cfg.Ready(pc.LocalAddr(), ln.Addr())
	}
	// The sink's context outlives ctx by at most drainTimeout, so that the
	// events already made are stored when the source stops.
	s.events = make(chan cdr.Event, eventQueue)
	sinkCtx, stopSink := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSink()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		s.deliver(sinkCtx)
	}()
	if s.hep {
		err = s.serveHEP(ctx, pc, ln)
	} else {
		err = s.serveSIP(ctx, pc, ln)
	}
	close(s.events) // the readers and the ticker have stopped
	select {
	case <-delivered:
	case <-time.After(drainTimeout):
		stopSink()
		<-delivered
	}
	status.Disconnected(err)
	return err
}

// loops runs udp and tcp (each reads until its listener is closed) and the
// time-out ticker until ctx is done or a listener stops by itself, then
// calls stop (which must close both listeners and make every reader
// return) and waits for all of them. It returns why a listener stopped,
// nil when ctx ended.
func (s *Source) loops(ctx context.Context, udp, tcp func() error, stop func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, 2)
	var wg sync.WaitGroup
	for _, l := range []struct {
		name  string
		serve func() error
	}{{"udp", udp}, {"tcp", tcp}} {
		wg.Go(func() {
			err := l.serve()
			if ctx.Err() == nil {
				failed <- fmt.Errorf("source %s: %s listener %s stopped: %w", s.cfg.Name, l.name, s.cfg.Listen, cmp.Or(err, errListenerStopped))
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(s.cfg.FlushEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case wall := <-t.C:
				s.mu.Lock()
				if now := s.pipe.captureNow(wall); !now.IsZero() {
					_ = s.pipe.emitAll(s.pipe.tr.Flush(now))
				}
				s.mu.Unlock()
			}
		}
	})
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	cancel()
	stop()
	wg.Wait()
	return err
}

// errListenerStopped is the reason given when a listener's read loop ends
// without an error of its own.
var errListenerStopped = errors.New("read loop ended")

// serveHEP reads HEP datagrams and HEP over TCP streams.
func (s *Source) serveHEP(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	var conns sync.WaitGroup
	var connMu sync.Mutex
	open := map[net.Conn]bool{}
	return s.loops(ctx, func() error { return s.serveUDP(pc) }, func() error {
		log := s.cfg.Logger.With("source", s.cfg.Name)
		for {
			c, err := acceptConn(ln, log)
			if err != nil {
				return err
			}
			connMu.Lock()
			open[c] = true
			connMu.Unlock()
			conns.Go(func() {
				s.serveTCP(c)
				connMu.Lock()
				delete(open, c)
				connMu.Unlock()
				c.Close()
			})
		}
	}, func() {
		pc.Close()
		ln.Close()
		connMu.Lock()
		for c := range open {
			c.Close()
		}
		connMu.Unlock()
		conns.Wait()
	})
}

// Event queue bounds of a live source.
const (
	// eventQueue is how many events may wait between the tracker and the
	// sink; beyond it the packet readers wait (and the sockets buffer).
	eventQueue = 4096
	// maxAcceptBatch is the most events handed to the sink at once.
	maxAcceptBatch = 256
	// drainTimeout bounds how long a stopping source keeps storing the
	// events it had already made.
	drainTimeout = 5 * time.Second
)

// accept queues one event for the sink. The packet readers never wait for
// the store: events queue while it commits and go to it together in the
// next Accept. Only when the source is stopping and the queue is full is an
// event dropped (and logged).
func (s *Source) accept(e cdr.Event) error {
	select {
	case s.events <- e:
		return nil
	default:
	}
	select {
	case s.events <- e:
	case <-s.ctx.Done():
		s.cfg.Logger.Error("sip source: event dropped at stop, queue full", "source", s.cfg.Name, "type", e.Type, "call_id", e.Record.Key())
	}
	return nil
}

// deliver hands queued events to the sink in order, as many at once as are
// waiting (up to maxAcceptBatch), until the queue is closed and empty. A
// batch the sink refuses is retried event by event, so one bad event does
// not lose the others; errors are logged, not fatal (SIP cannot be
// re-asked).
func (s *Source) deliver(ctx context.Context) {
	batch := make([]cdr.Event, 0, maxAcceptBatch)
	for e := range s.events {
		batch = append(batch[:0], e)
	more:
		for len(batch) < maxAcceptBatch {
			select {
			case e, ok := <-s.events:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		if err := s.sink.Accept(ctx, batch); err == nil || ctx.Err() != nil {
			if err != nil {
				s.cfg.Logger.Error("sip source: store events", "source", s.cfg.Name, "events", len(batch), "err", err)
			}
			continue
		}
		for _, e := range batch {
			if err := s.sink.Accept(ctx, []cdr.Event{e}); err != nil {
				s.cfg.Logger.Error("sip source: store event", "source", s.cfg.Name, "type", e.Type, "call_id", e.Record.Key(), "err", err)
			}
		}
	}
}

// badPacket counts a skipped packet and logs at most one line a second,
// with the number suppressed since the last line.
func (s *Source) badPacket(err error) {
	reason := "unknown"
	var be *BadPacketError
	if errors.As(err, &be) {
		reason = be.Reason
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.bad.WithLabelValues(s.cfg.Name, reason).Inc()
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	now := time.Now()
	if now.Before(s.logNext) {
		s.dropped++
		return
	}
	s.cfg.Logger.Warn("sip source: bad packet", "source", s.cfg.Name, "reason", reason, "err", err, "suppressed", s.dropped)
	s.logNext, s.dropped = now.Add(time.Second), 0
}

// serveUDP reads HEP datagrams until pc is closed or fails.
func (s *Source) serveUDP(pc net.PacketConn) error {
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		s.mu.Lock()
		_ = s.pipe.hep(buf[:n])
		s.mu.Unlock()
	}
}

// serveTCP reads one HEP over TCP stream.
func (s *Source) serveTCP(c net.Conn) {
	buf := make([]byte, 65536)
	hdr := make([]byte, 6)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n, err := HEP3Len(hdr)
		if err != nil {
			s.badPacket(&BadPacketError{Reason: ReasonHEPDecode, Err: fmt.Errorf("tcp stream from %s: %w", c.RemoteAddr(), err)})
			return // a stream that lost framing cannot be trusted
		}
		copy(buf, hdr)
		if _, err := io.ReadFull(c, buf[6:n]); err != nil {
			return
		}
		s.mu.Lock()
		_ = s.pipe.hep(buf[:n])
		s.mu.Unlock()
	}
}

// keepAlive reports whether a datagram is a SIP keep-alive (RFC 5626's CRLF
// pings, or any run of whitespace), which is neither SIP nor bad.
func keepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
