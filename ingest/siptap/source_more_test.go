package siptap

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdrgw/cdrgw/cdr"
)

// recordedSIP returns the SIP payloads of the Kamailio recording, in order,
// keeping those whose captured addresses pass keep.
func recordedSIP(t *testing.T, keep func(src, dst netip.AddrPort) bool) [][]byte {
	t.Helper()
	var out [][]byte
	for _, b := range loadHEP(t) {
		p, err := DecodeHEP(b)
		if err != nil {
			t.Fatal(err)
		}
		if keep(p.Src, p.Dst) {
			out = append(out, p.Payload)
		}
	}
	return out
}

// sendPaced writes each datagram to addr over UDP, pausing now and then so
// a loaded machine's socket buffer does not overflow.
func sendPaced(t *testing.T, addr string, dgrams [][]byte) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, d := range dgrams {
		if _, err := c.Write(d); err != nil {
			t.Fatal(err)
		}
		if i%64 == 63 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// TestSIPSourceUDP mirrors the recording's plain SIP over UDP to a SIP
// source, as a tap (or Kamailio's siptrace without HEP) would: every
// datagram comes from one mirror address, so the captured addresses are
// lost. Whether one leg or both legs are mirrored, each Call-ID of the
// ground truth must give one record with its disposition, SIP code,
// initiator, caller and callee (times are the tap's clock, not checked).
func TestSIPSourceUDP(t *testing.T) {
	t.Parallel()
	truths := loadTruth(t)
	caller := netip.MustParseAddrPort("127.0.0.1:15080") // the lab's SIPp UAC
	for _, tc := range []struct {
		name string
		keep func(src, dst netip.AddrPort) bool
	}{
		{"caller leg", func(src, dst netip.AddrPort) bool { return src == caller || dst == caller }},
		{"both legs", func(src, dst netip.AddrPort) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			udp, _, ended := startSource(t, NewSIPSource(SourceConfig{Name: "tap", Listen: "127.0.0.1:0", Metrics: m, Logger: quiet}))
			dgrams := recordedSIP(t, tc.keep)
			// A CRLF keep-alive is skipped; binary noise is counted, not fatal.
			dgrams = append(dgrams, []byte("\r\n\r\n"), []byte{0x00, 0x01, 0x02})
			sendPaced(t, udp.String(), dgrams)
			got := ended(len(truths))
			if len(got) != len(truths) {
				t.Errorf("got %d calls, want %d", len(got), len(truths))
			}
			for id, w := range truths {
				c := got[id]
				if c == nil {
					t.Errorf("%s (%s): no record", id, w.Scenario)
					continue
				}
				if string(c.Disposition) != w.Disposition || c.Hangup.SIPCode != w.SIPCode || string(c.Hangup.Initiator) != w.Initiator ||
					c.Caller.Number != w.Caller.Number || c.Caller.Name != w.Caller.Name || c.Callee.Number != w.Callee.Number ||
					(c.AnsweredAt != nil) != (w.AnsweredAt != nil) || c.Source.Kind != "sip" {
					t.Errorf("%s (%s): disposition %s sip_code %d initiator %s caller %+v callee %+v answered %v source %+v; want %s %d %s %+v %+v %v",
						id, w.Scenario, c.Disposition, c.Hangup.SIPCode, c.Hangup.Initiator, c.Caller, c.Callee, c.AnsweredAt != nil, c.Source,
						w.Disposition, w.SIPCode, w.Initiator, w.Caller, w.Callee, w.AnsweredAt != nil)
				}
			}
			waitCounter(t, func() float64 { return counterValue(m.bad.WithLabelValues("tap", ReasonNotSIP)) }, 1)
			if got := counterValue(m.bad.WithLabelValues("tap", ReasonNotSIP)); got != 1 {
				t.Errorf("%v not_sip packets counted, want 1 (the noise)", got)
			}
			if got := counterValue(m.bad.WithLabelValues("tap", ReasonSIPParse)); got != 0 {
				t.Errorf("%v sip_parse packets counted, want 0", got)
			}
		})
	}
}

// TestHEPSourcePassword checks HEP chunk 14 against the configured
// password: a call whose packets carry the right key is tracked; packets
// with a wrong, missing or longer key are counted as password and ignored.
func TestHEPSourcePassword(t *testing.T) {
	t.Parallel()
	const pw = "s3cret"
	tests := []struct {
		name     string
		key      []chunk // the chunk 14 of every packet, or none
		tracked  bool
		rejected float64 // packets counted as password
	}{
		{"right key", []chunk{{0, chunkAuthKey, []byte(pw)}}, true, 0},
		{"wrong key", []chunk{{0, chunkAuthKey, []byte("secret")}}, false, 3},
		{"key with a suffix", []chunk{{0, chunkAuthKey, []byte(pw + "x")}}, false, 3},
		{"prefix of the key", []chunk{{0, chunkAuthKey, []byte(pw[:3])}}, false, 3},
		{"no key", nil, false, 3},
		{"vendor chunk 14 is not the key", []chunk{{0x0008, chunkAuthKey, []byte(pw)}}, false, 3},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewMetrics(prometheus.NewRegistry())
			src := NewHEPSource(SourceConfig{Name: "hep", Listen: "127.0.0.1:0", Password: pw, Metrics: m, Logger: quiet})
			udp, _, ended := startSource(t, src)
			sendPaced(t, udp.String(), callPackets(i, tc.key))
			waitCounter(t, func() float64 { return counterValue(m.bad.WithLabelValues("hep", ReasonPassword)) }, tc.rejected)
			var calls map[string]*cdr.Call
			if tc.tracked {
				calls = ended(1)
			} else {
				// Give a wrongly accepted call time to show.
				time.Sleep(100 * time.Millisecond)
				calls = ended(0)
			}
			if got := len(calls) == 1; got != tc.tracked {
				t.Errorf("tracked = %v (%d calls), want %v", got, len(calls), tc.tracked)
			}
			if got := counterValue(m.bad.WithLabelValues("hep", ReasonPassword)); got != tc.rejected {
				t.Errorf("password rejections = %v, want %v", got, tc.rejected)
			}
		})
	}
	// Without a configured password, a key in the packets is not checked.
	t.Run("no password configured", func(t *testing.T) {
		t.Parallel()
		m := NewMetrics(prometheus.NewRegistry())
		udp, _, ended := startSource(t, NewHEPSource(SourceConfig{Name: "hep", Listen: "127.0.0.1:0", Metrics: m}))
		sendPaced(t, udp.String(), callPackets(99, []chunk{{0, chunkAuthKey, []byte("anything")}}))
		if got := ended(1); len(got) != 1 {
			t.Errorf("%d calls, want 1", len(got))
		}
		if got := counterValue(m.bad.WithLabelValues("hep", ReasonPassword)); got != 0 {
			t.Errorf("password rejections = %v, want 0", got)
		}
	})
}

// callPackets is one busy call (INVITE, 486, ACK) as HEPv3 packets
// carrying extra chunks.
func callPackets(n int, extra []chunk) [][]byte {
	callID := "pw-" + strings.Repeat("x", n%5) + time.Now().Format("150405.000000000")
	hdr := "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\nFrom: <sip:alice@a.example>;tag=a1\r\n"
	msgs := []string{
		"INVITE sip:bob@b.example SIP/2.0\r\n" + hdr + "To: <sip:bob@b.example>\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 486 Busy Here\r\n" + hdr + "To: <sip:bob@b.example>;tag=b1\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"ACK sip:bob@b.example SIP/2.0\r\n" + hdr + "To: <sip:bob@b.example>;tag=b1\r\nCall-ID: " + callID + "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
	}
	t0 := time.Now().UTC()
	dirs := [][2]netip.AddrPort{{tA, tB}, {tB, tA}, {tA, tB}}
	var out [][]byte
	for i, s := range msgs {
		out = append(out, sipHEP3(dirs[i][0], dirs[i][1], t0.Add(time.Duration(i)*time.Millisecond), s, extra...))
	}
	return out
}

// waitCounter waits up to 5 s for read to reach want.
func waitCounter(t *testing.T, read func() float64, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for read() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// TestBadPacketLogRateLimit floods a source with malformed packets: every
// one is counted, but at most one line a second is logged, each saying how
// many were suppressed since the last, so the total is accounted for.
func TestBadPacketLogRateLimit(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	m := NewMetrics(prometheus.NewRegistry())
	udp, _, _ := startSource(t, NewHEPSource(SourceConfig{Name: "flood", Listen: "127.0.0.1:0", Logger: logger, Metrics: m}))
	c, err := net.Dial("udp", udp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// About 1.5 s of bad packets: two log lines at most (t=0 and t≥1 s).
	const n = 300
	start := time.Now()
	for i := range n {
		if _, err := c.Write([]byte("HEP3\x00\x03garbage")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 1500 * time.Millisecond / n)))
	}
	read := func() float64 { return counterValue(m.bad.WithLabelValues("flood", ReasonHEPDecode)) }
	waitCounter(t, read, n)
	elapsed := time.Since(start)
	if got := read(); got != n {
		t.Fatalf("%v bad packets counted, want %d", got, n)
	}
	lines := logs.lines()
	maxLines := int(elapsed/time.Second) + 1
	if len(lines) < 1 || len(lines) > maxLines {
		t.Fatalf("%d log lines in %v for %d bad packets, want 1..%d:\n%s", len(lines), elapsed, n, maxLines, strings.Join(lines, "\n"))
	}
	// Logged plus suppressed accounts for every packet but those after the
	// last line (suppressed until the next one).
	accounted := 0
	for _, l := range lines {
		if !strings.Contains(l, "reason=hep_decode") || !strings.Contains(l, "source=flood") {
			t.Errorf("log line lacks reason or source: %s", l)
		}
		var sup int
		i := strings.Index(l, "suppressed=")
		if i < 0 {
			t.Fatalf("log line without suppressed=: %s", l)
		}
		if _, err := fmt.Sscan(l[i+len("suppressed="):], &sup); err != nil {
			t.Fatalf("suppressed= in %q: %v", l, err)
		}
		accounted += 1 + sup
	}
	if accounted > n || accounted < len(lines) {
		t.Errorf("log lines account for %d packets, want between %d and %d", accounted, len(lines), n)
	}
	// Sent over 1.5 s: a line at once, one a second later, the rest suppressed.
	if elapsed < 2*time.Second && (len(lines) != 2 || accounted < n/2) {
		t.Errorf("%d lines accounting for %d of %d packets in %v, want 2 lines accounting for at least %d", len(lines), accounted, n, elapsed, n/2)
	}
}

// quiet discards the logs of tests that make bad packets on purpose.
var quiet = slog.New(slog.DiscardHandler)
