package siptap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// tapCall is one answered call as mirrored plain SIP: INVITE (with an SDP
// offer), 180, 200 (with the callee's Contact and SDP answer), ACK, BYE, 200.
// The caller's UA is at callerIP; the INVITE's Request-URI is a name, so
// the callee's address comes from the 200.
func tapCall(callID, callerIP, calleeIP string) []string {
	via := "Via: SIP/2.0/UDP " + callerIP + ":5060;branch=z9hG4bK-%s\r\n"
	from := "From: \"Alice\" <sip:alice@a.example>;tag=a1\r\n"
	to := "To: <sip:bob@b.example>"
	cid := "Call-ID: " + callID + "\r\n"
	sdp := func(ip string) string {
		body := "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
		return "Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	}
	empty := "Content-Length: 0\r\n\r\n"
	return []string{
		"INVITE sip:bob@b.example SIP/2.0\r\n" + fmt.Sprintf(via, "1") + from + to + "\r\n" + cid + "CSeq: 1 INVITE\r\n" +
			"Contact: <sip:alice@" + callerIP + ":5060>\r\n" + sdp(callerIP),
		"SIP/2.0 180 Ringing\r\n" + fmt.Sprintf(via, "1") + from + to + ";tag=b1\r\n" + cid + "CSeq: 1 INVITE\r\n" + empty,
		"SIP/2.0 200 OK\r\n" + fmt.Sprintf(via, "1") + from + to + ";tag=b1\r\n" + cid + "CSeq: 1 INVITE\r\n" +
			"Contact: <sip:bob@" + calleeIP + ":5060>\r\n" + sdp(calleeIP),
		"ACK sip:bob@" + calleeIP + " SIP/2.0\r\n" + fmt.Sprintf(via, "2") + from + to + ";tag=b1\r\n" + cid + "CSeq: 1 ACK\r\n" + empty,
		"BYE sip:bob@" + calleeIP + " SIP/2.0\r\n" + fmt.Sprintf(via, "3") + from + to + ";tag=b1\r\n" + cid + "CSeq: 2 BYE\r\n" + empty,
		"SIP/2.0 200 OK\r\n" + fmt.Sprintf(via, "3") + from + to + ";tag=b1\r\n" + cid + "CSeq: 2 BYE\r\n" + empty,
	}
}

// expectSilence fails if anything arrives on c within 300 ms.
func expectSilence(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	var ne net.Error
	if n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("the tap sent %d bytes back (%q), read error %v; want nothing within 300 ms", n, buf[:n], err)
	}
}

// TestSIPTapAnswersNothing mirrors a call to the tap from one UDP socket and
// over one TCP connection: the responses (which belong to no transaction of
// the tap) reach the tracker, as the answered call shows, and nothing comes
// back. Over TCP, a double-CRLF ping, which sipgo's transport answers with
// a pong, is swallowed by the tap's socket.
func TestSIPTapAnswersNothing(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			m := NewMetrics(prometheus.NewRegistry())
			src := NewSIPSource(SourceConfig{Name: "tap", Listen: "127.0.0.1:0", Metrics: m, Logger: quiet,
				Tracker: Options{LocalNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
			udp, tcp, ended := startSource(t, src)
			var c net.Conn
			var err error
			if proto == "udp" {
				// A mirror's own socket, bound first so that anything sent
				// back to it would be received.
				c, err = net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, udp.(*net.UDPAddr))
			} else {
				c, err = net.Dial("tcp", tcp.String())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if proto == "tcp" {
				if _, err := c.Write([]byte("\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				waitCounter(t, func() float64 { return float64(src.unsent.Load()) }, 1)
				if got := src.unsent.Load(); got != 1 {
					t.Errorf("%d writes discarded after a ping, want 1 (sipgo's pong)", got)
				}
			}
			callID := "tap-" + proto + "@10.1.2.3"
			for _, msg := range tapCall(callID, "10.1.2.3", "203.0.113.7") {
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
			}
			call := ended(1)[callID]
			if call == nil {
				t.Fatal("no call.ended for the mirrored call")
			}
			if call.Disposition != cdr.DispositionAnswered || call.AnsweredAt == nil || call.Hangup.Initiator != cdr.InitiatorCaller {
				t.Errorf("call = %+v, want answered (the 200 reached the tracker) and ended by the caller", call)
			}
			// The caller's Via is in 10.0.0.0/8, the callee's Contact is not.
			if call.Direction != cdr.DirectionOutbound {
				t.Errorf("direction = %q, want outbound", call.Direction)
			}
			expectSilence(t, c)
			if proto == "udp" && src.unsent.Load() != 0 {
				t.Errorf("sipgo tried %d writes on the UDP tap, want none", src.unsent.Load())
			}
			if got := counterValue(m.bad.WithLabelValues("tap", ReasonSIPParse)); got != 0 {
				t.Errorf("%v sip_parse bad packets, want 0", got)
			}
		})
	}
}

// TestSIPTapBadMessages checks what sipgo's transport does with what it
// cannot parse: a UDP datagram is counted as sip_parse and the next one is
// read; a TCP stream is counted and closed (it lost its framing), and a new
// connection is served.
func TestSIPTapBadMessages(t *testing.T) {
	t.Parallel()
	const bad = "INVITE sip:bob@b.example SIP/2.0\r\nVia: nonsense\r\nContent-Length: x\r\n\r\n"
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			m := NewMetrics(prometheus.NewRegistry())
			src := NewSIPSource(SourceConfig{Name: "tap", Listen: "127.0.0.1:0", Metrics: m, Logger: quiet})
			udp, tcp, ended := startSource(t, src)
			addr := udp.String()
			if proto == "tcp" {
				addr = tcp.String()
			}
			c, err := net.Dial(proto, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte(bad)); err != nil {
				t.Fatal(err)
			}
			parse := func() float64 { return counterValue(m.bad.WithLabelValues("tap", ReasonSIPParse)) }
			waitCounter(t, parse, 1)
			if got := parse(); got != 1 {
				t.Fatalf("%v sip_parse bad packets, want 1", got)
			}
			if proto == "tcp" {
				// The tap closed the stream: reading ends.
				if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				if n, err := c.Read(make([]byte, 16)); n != 0 || err == nil {
					t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
				}
				c.Close()
				if c, err = net.Dial(proto, addr); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			for _, msg := range tapCall("after-bad", "192.0.2.1", "192.0.2.2") {
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
			}
			if ended(1)["after-bad"] == nil {
				t.Error("the call after the bad message was not tracked")
			}
		})
	}
}

// reporterLog records a source's status reports.
type reporterLog struct {
	mu      sync.Mutex
	reports []string // "connected" or "disconnected: <err or nil>"
}

func (r *reporterLog) Connected() { r.add("connected") }
func (r *reporterLog) Disconnected(err error) {
	r.add(fmt.Sprintf("disconnected: %v", err))
}
func (r *reporterLog) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, s)
}
func (r *reporterLog) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reports...)
}

// TestSourceStatus checks the reports of HEP and SIP sources: Connected
// once both listeners are bound (before Ready), Disconnected(nil) when
// stopped; Disconnected with the error, and no Connected, when the UDP or
// the TCP port is taken.
func TestSourceStatus(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name string
		new  func(SourceConfig) *Source
	}{{"hep", NewHEPSource}, {"sip", NewSIPSource}}
	for _, k := range kinds {
		t.Run(k.name+"/bound then stopped", func(t *testing.T) {
			t.Parallel()
			var r reporterLog
			var atReady []string
			src := k.new(SourceConfig{Name: "s", Listen: "127.0.0.1:0", Status: &r, Logger: quiet,
				Ready: func(net.Addr, net.Addr) { atReady = r.get() }})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx, ingest.SinkFunc(func(context.Context, []cdr.Event) error { return nil })) }()
			deadline := time.Now().Add(5 * time.Second)
			for len(r.get()) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run = %v", err)
			}
			if got := strings.Join(r.get(), "; "); got != "connected; disconnected: <nil>" {
				t.Errorf("reports = %q, want connected then disconnected: <nil>", got)
			}
			if strings.Join(atReady, "; ") != "connected" {
				t.Errorf("reports when Ready was called = %q, want connected", atReady)
			}
		})
		for _, taken := range []string{"udp", "tcp"} {
			t.Run(k.name+"/"+taken+" port taken", func(t *testing.T) {
				t.Parallel()
				var addr string
				if taken == "udp" {
					pc, err := net.ListenPacket("udp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					defer pc.Close()
					addr = pc.LocalAddr().String()
				} else {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					defer ln.Close()
					addr = ln.Addr().String()
				}
				var r reporterLog
				err := k.new(SourceConfig{Name: "s", Listen: addr, Status: &r, Logger: quiet}).
					Run(context.Background(), ingest.SinkFunc(func(context.Context, []cdr.Event) error { return nil }))
				if err == nil || !strings.Contains(err.Error(), "listen "+taken+" "+addr) {
					t.Fatalf("Run = %v, want a listen %s %s error", err, taken, addr)
				}
				if got := r.get(); len(got) != 1 || got[0] != "disconnected: "+err.Error() {
					t.Errorf("reports = %q, want only disconnected: %v", got, err)
				}
			})
		}
	}
}

// scriptedListener returns the errors of script in turn, then conns.
type scriptedListener struct {
	net.Listener
	script []error
	calls  int
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.calls++
	if len(l.script) > 0 {
		err := l.script[0]
		l.script = l.script[1:]
		return nil, err
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

// TestAcceptConn checks that a failed accept is retried unless the
// listener was closed.
func TestAcceptConn(t *testing.T) {
	t.Parallel()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: errors.New("too many open files")}
	tests := []struct {
		name    string
		script  []error
		wantErr error
		calls   int
	}{
		{"first accept works", nil, nil, 1},
		{"failures are retried", []error{emfile, emfile}, nil, 3},
		{"closed listener ends", []error{net.ErrClosed}, net.ErrClosed, 1},
		{"closed after a failure", []error{emfile, fmt.Errorf("accept: %w", net.ErrClosed)}, net.ErrClosed, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &scriptedListener{script: tc.script}
			c, err := acceptConn(l, quiet)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (c != nil) {
				t.Errorf("acceptConn = %v, %v; want error %v", c, err, tc.wantErr)
			}
			if c != nil {
				c.Close()
			}
			if l.calls != tc.calls {
				t.Errorf("%d Accept calls, want %d", l.calls, tc.calls)
			}
		})
	}
}
