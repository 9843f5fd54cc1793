package siptap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// serveSIP runs the passive tap on sipgo's transport layer: its UDP and TCP
// transports read, frame and parse the mirrored messages and hand every
// one, request or response, to the layer's message handler, which feeds the
// tracker. There is no transaction layer and no UA, so nothing is routed to
// transactions, nothing is answered and no response is dropped for lack of
// a client transaction. The sockets sipgo is given cannot send: writes are
// discarded and counted (sipgo's TCP transport answers an RFC 5626
// double-CRLF ping with a CRLF pong; a tap must not).
func (s *Source) serveSIP(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	udp := &tapPacketConn{PacketConn: pc, unsent: &s.unsent}
	tcp := &tapListener{Listener: ln, log: s.cfg.Logger.With("source", s.cfg.Name), unsent: &s.unsent, conns: map[*tapConn]struct{}{}}
	layer := sip.NewTransportLayer(nil, s.pipe.parser.p, nil,
		sip.WithTransportLayerLogger(slog.New(&sipgoLog{s: s})),
		sip.WithTransportLayerReadFilter(s.tapFilter))
	layer.OnMessage(s.onMessage)
	return s.loops(ctx, func() error {
		err := layer.ServeUDP(udp) // returns nil after a read error
		return cmp.Or(err, udp.readErr())
	}, func() error {
		return layer.ServeTCP(tcp)
	}, func() {
		pc.Close()
		tcp.closeAll()
	})
}

// onMessage feeds one message parsed by sipgo to the tracker. A mirrored
// message's addresses are the mirror's (a tap, or Kamailio's siptrace
// without HEP), not the captured message's, so the tracker gets none: it
// tells the legs apart by Via counts and reads the endpoints' addresses
// from the message itself (Message.Origin).
func (s *Source) onMessage(raw sip.Message) {
	m, err := convert(raw, time.Now().UTC(), netip.AddrPort{}, netip.AddrPort{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.pipe.bad(ReasonSIPParse, err)
		return
	}
	_ = s.pipe.handle(m)
}

// tapFilter runs on every read before sipgo parses it. A UDP datagram is
// one message: keep-alives (any run of whitespace) are dropped silently and
// datagrams that cannot be SIP are counted as not_sip and dropped. TCP
// reads are arbitrary slices of a stream and pass unchanged. It never
// returns an error, which would stop sipgo's reader.
func (s *Source) tapFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.Transport != "UDP" {
		return data, nil
	}
	if keepAlive(data) {
		return nil, nil
	}
	if classify(data) != kindSIP {
		s.mu.Lock()
		s.pipe.bad(ReasonNotSIP, fmt.Errorf("datagram of %d bytes from %s is not SIP", len(data), p.RemoteAddr))
		s.mu.Unlock()
		return nil, nil
	}
	return data, nil
}

// sipgoLog receives sipgo's transport logs. sipgo reports a message it
// cannot parse only by logging "failed to parse" (sip/transport_udp.go
// parseAndHandle, sip/transport_tcp.go parseStream); those are counted as
// sip_parse bad packets under the rate-limited log. Other warnings and
// errors go to the source's logger; debug and info are dropped.
type sipgoLog struct {
	s     *Source
	attrs []slog.Attr
}

// sipgoParseFailed is the message sipgo logs for a message it cannot parse.
const sipgoParseFailed = "failed to parse"

func (h *sipgoLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *sipgoLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == sipgoParseFailed {
		err := errors.New("sipgo parser failed")
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				if e, ok := a.Value.Any().(error); ok {
					err = e
				} else {
					err = errors.New(a.Value.String())
				}
				return false
			}
			return true
		})
		h.s.badPacket(&BadPacketError{Reason: ReasonSIPParse, Err: fmt.Errorf("parse sip: %w", err)})
		return nil
	}
	attrs := append([]slog.Attr{slog.String("source", h.s.cfg.Name)}, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "data" { // sipgo logs whole packets under data
			attrs = append(attrs, a)
		}
		return true
	})
	h.s.cfg.Logger.LogAttrs(ctx, r.Level, "sip source: sipgo: "+r.Message, attrs...)
	return nil
}

func (h *sipgoLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &sipgoLog{s: h.s, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *sipgoLog) WithGroup(string) slog.Handler { return h }

// tapPacketConn is the UDP socket sipgo reads from: it cannot send.
type tapPacketConn struct {
	net.PacketConn
	unsent *atomic.Int64
	mu     sync.Mutex
	err    error // the read error that stopped sipgo's reader, if not a close
}

// WriteTo discards b: a tap answers nothing.
func (c *tapPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.unsent.Add(1)
	return len(b), nil
}

// ReadFrom reads from the socket and keeps a read error other than a close,
// since sipgo's UDP transport logs it and returns nil.
func (c *tapPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	return n, a, err
}

func (c *tapPacketConn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// tapListener hands sipgo's TCP transport connections that cannot send,
// and tracks them: sipgo starts a reader goroutine per connection, and
// closeAll closes them all and waits until every reader has seen its
// connection fail or has closed it (sip/transport_tcp.go readConnection;
// after either it only cleans its connection pool up).
type tapListener struct {
	net.Listener
	log     *slog.Logger
	unsent  *atomic.Int64
	mu      sync.Mutex
	conns   map[*tapConn]struct{}
	closed  bool
	readers sync.WaitGroup
}

// Accept implements net.Listener; it retries failures other than a closed
// listener (see acceptConn), since sipgo's TCP transport stops at the first.
func (l *tapListener) Accept() (net.Conn, error) {
	c, err := acceptConn(l.Listener, l.log)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &tapConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	l.readers.Add(1)
	return tc, nil
}

// closeAll closes the listener and every connection, then waits for the
// readers.
func (l *tapListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	l.Listener.Close()
	for c := range l.conns {
		c.Conn.Close()
	}
	l.mu.Unlock()
	l.readers.Wait()
}

// tapConn is one mirrored TCP connection as sipgo sees it.
type tapConn struct {
	net.Conn
	l    *tapListener
	once sync.Once
}

// Read reads from the connection; sipgo's reader ends at the first error.
func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.readerDone()
	}
	return n, err
}

// Close closes the connection: sipgo's reader does so as it ends, also
// after a parse error.
func (c *tapConn) Close() error {
	err := c.Conn.Close()
	c.readerDone()
	return err
}

func (c *tapConn) readerDone() {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.readers.Done()
	})
}

// Write discards b: a tap answers nothing.
func (c *tapConn) Write(b []byte) (int, error) {
	c.l.unsent.Add(1)
	return len(b), nil
}

// acceptConn accepts the next connection on ln. A failure other than a
// closed listener (too many open files, a connection aborted before it was
// accepted) is logged and retried after a pause growing from 5 ms to 1 s,
// as net/http does, so that it does not stop the source.
func acceptConn(ln net.Listener, log *slog.Logger) (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) {
			return c, err
		}
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		log.Warn("sip source: accept tcp connection, retrying", "err", err, "retry_in", pause)
		time.Sleep(pause)
	}
}
