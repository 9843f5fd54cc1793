package siptap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
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
	// bad-packet log limiter
	logMu   sync.Mutex
	logNext time.Time
	dropped int
}

var _ ingest.Source = (*Source)(nil)

// NewHEPSource returns a source that receives HEPv3 and HEPv2 over UDP and
// HEPv3 over TCP on cfg.Listen.
func NewHEPSource(cfg SourceConfig) *Source { return newSource(cfg, true) }

// NewSIPSource returns a passive tap that receives mirrored plain SIP over
// UDP and TCP on cfg.Listen, parsed with sipgo's parser, answering nothing.
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

// Run listens until ctx is done. Events go to sink as packets arrive; a
// sink error is logged and the call state kept (SIP cannot be re-asked).
func (s *Source) Run(ctx context.Context, sink ingest.Sink) error {
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
		return fmt.Errorf("source %s: listen udp %s: %w", s.cfg.Name, s.cfg.Listen, err)
	}
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		pc.Close()
		return fmt.Errorf("source %s: listen tcp %s: %w", s.cfg.Name, s.cfg.Listen, err)
	}
	if u, ok := pc.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(4 << 20) // bursts from busy proxies
	}
	if s.cfg.Ready != nil {
		s.cfg.Ready(pc.LocalAddr(), ln.Addr())
	}
	var wg sync.WaitGroup
	conns := map[net.Conn]bool{}
	var connMu sync.Mutex
	wg.Go(func() { s.serveUDP(pc) })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connMu.Lock()
			conns[c] = true
			connMu.Unlock()
			wg.Go(func() {
				s.serveTCP(c)
				connMu.Lock()
				delete(conns, c)
				connMu.Unlock()
				c.Close()
			})
		}
	})
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
	<-ctx.Done()
	pc.Close()
	ln.Close()
	connMu.Lock()
	for c := range conns {
		c.Close()
	}
	connMu.Unlock()
	wg.Wait()
	return nil
}

// accept hands one event to the sink; errors are logged, not fatal.
func (s *Source) accept(e cdr.Event) error {
	if err := s.sink.Accept(s.ctx, []cdr.Event{e}); err != nil && s.ctx.Err() == nil {
		s.cfg.Logger.Error("sip source: store event", "source", s.cfg.Name, "type", e.Type, "call_id", e.Record.Key(), "err", err)
	}
	return nil
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

func (s *Source) serveUDP(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.hep {
			_ = s.pipe.hep(buf[:n])
		} else if classify(buf[:n]) == kindSIP {
			// The datagram's addresses are the mirror's, not the captured
			// message's: the tracker tells the legs apart by Via counts.
			_ = s.pipe.sip(buf[:n], time.Now().UTC(), netip.AddrPort{}, netip.AddrPort{})
		} else if !keepAlive(buf[:n]) {
			s.pipe.bad(ReasonNotSIP, fmt.Errorf("datagram of %d bytes from %s is not SIP", n, from))
		}
		s.mu.Unlock()
	}
}

func (s *Source) serveTCP(c net.Conn) {
	if s.hep {
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
	stream := sip.NewParser(sip.WithHeadersParsers(trackerHeaders)).NewSIPStream()
	// As for UDP, the connection's addresses are the mirror's.
	var src, dst netip.AddrPort
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			now := time.Now().UTC()
			perr := stream.ParseSIPStream(buf[:n], func(raw sip.Message) {
				m, err := convert(raw, now, src, dst)
				s.mu.Lock()
				defer s.mu.Unlock()
				if err != nil {
					s.pipe.bad(ReasonSIPParse, err)
					return
				}
				_ = s.pipe.handle(m)
			})
			if perr != nil && !errors.Is(perr, sip.ErrParseSipPartial) {
				s.badPacket(&BadPacketError{Reason: ReasonSIPParse, Err: perr})
				return
			}
		}
		if err != nil {
			return
		}
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
