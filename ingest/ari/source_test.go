package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
	"github.com/cdrgw/cdrgw/internal/arisim"
)

// collector is a Sink recording every accepted event.
type collector struct {
	mu  sync.Mutex
	evs []cdr.Event
}

func (c *collector) Accept(_ context.Context, evs []cdr.Event) error {
	c.mu.Lock()
	c.evs = append(c.evs, evs...)
	c.mu.Unlock()
	return nil
}

func (c *collector) events() []cdr.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cdr.Event(nil), c.evs...)
}

func (c *collector) count(typ cdr.Type) int {
	n := 0
	for _, e := range c.events() {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// syncBuf is a goroutine-safe log buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type runningSource struct {
	src  *Source
	sink *collector
	stop func()
}

func startSource(t *testing.T, c SourceConfig, log *slog.Logger, reg prometheus.Registerer) *runningSource {
	t.Helper()
	src, err := NewSource(c, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &collector{}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != context.Canceled {
					t.Errorf("Run returned %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return &runningSource{src, sink, stop}
}

var dbg func() string

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			if dbg != nil {
				what += " " + dbg()
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func recordingLines(t *testing.T) [][]byte {
	t.Helper()
	evs, err := arisim.LoadRecording("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

var _ ingest.Source = (*Source)(nil)

// TestSourceReplay replays the recording through arisim and the live
// source and compares the ended records with ReadRecording's.
func TestSourceReplay(t *testing.T) {
	lines := recordingLines(t)
	sim := arisim.Start(arisim.Options{Username: "gw", Password: "gw", Events: lines, Speed: 0})
	defer sim.Close()
	rs := startSource(t, SourceConfig{Name: "pbx1", URL: sim.URL(), Username: "gw", Password: "gw", HoldStatus: 10 * time.Millisecond}, nil, nil)
	waitFor(t, "replay", 10*time.Second, func() bool { return rs.src.Consumed() == uint64(len(lines)) })

	var want []cdr.Event
	f, err := os.Open("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ReadRecording(context.Background(), f, Options{Source: cdr.SourceRef{Kind: "ari", Name: "pbx1"}}, func(e cdr.Event) error { want = append(want, e); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	ended := func(evs []cdr.Event) map[string]string {
		m := map[string]string{}
		for _, e := range evs {
			switch e.Type {
			case cdr.TypeCallEnded, cdr.TypeQueueEnded, cdr.TypeIVREnded:
				b, _ := json.Marshal(e.Record)
				m[e.ID] = string(b)
			}
		}
		return m
	}
	w := ended(want)
	waitFor(t, "all ended records", 5*time.Second, func() bool { return len(ended(rs.sink.events())) >= len(w) })
	g := ended(rs.sink.events())
	if len(w) < 10 {
		t.Fatalf("ReadRecording gave only %d ended records", len(w))
	}
	for id, rec := range w {
		if g[id] != rec {
			t.Errorf("%s:\n live %s\n file %s", id, g[id], rec)
		}
	}
	if len(g) != len(w) {
		t.Errorf("live gave %d ended records, file %d", len(g), len(w))
	}
	if n := rs.sink.count(cdr.TypeSourceConnected); n != 1 {
		t.Errorf("source.connected raised %d times, want 1", n)
	}
}

// TestSourceBurst sends 10,000 events as fast as possible: none is lost.
func TestSourceBurst(t *testing.T) {
	const n = 10000
	sim := arisim.Start(arisim.Options{Username: "gw", Password: "gw", Burst: n})
	defer sim.Close()
	reg := prometheus.NewRegistry()
	rs := startSource(t, SourceConfig{Name: "burst", URL: sim.URL(), Username: "gw", Password: "gw", Buffer: 100}, nil, reg)
	waitFor(t, "burst", 20*time.Second, func() bool { return rs.src.Consumed() == n })
	waitFor(t, "calls", 5*time.Second, func() bool { return rs.sink.count(cdr.TypeCallEnded) == n/4 })
	if got := counter(t, reg, "cdrgw_ari_events_dropped_total", "burst"); got != 0 {
		t.Errorf("dropped = %v, want 0", got)
	}
	if got := counter(t, reg, "cdrgw_ari_events_received_total", "burst"); got != n {
		t.Errorf("received = %v, want %d", got, n)
	}
}

// TestSourceWrongPassword logs a clear error naming the source and URL,
// never the password, and keeps retrying.
func TestSourceWrongPassword(t *testing.T) {
	sim := arisim.Start(arisim.Options{Username: "gw", Password: "right"})
	defer sim.Close()
	var buf syncBuf
	c := SourceConfig{Name: "pbx9", URL: sim.URL(), Username: "gw", Password: "s3cret-wrong"}
	c.Backoff.Min, c.Backoff.Max = 5*time.Millisecond, 20*time.Millisecond
	rs := startSource(t, c, slog.New(slog.NewTextHandler(&buf, nil)), nil)
	waitFor(t, "three retries", 5*time.Second, func() bool { return strings.Count(buf.String(), "cannot connect") >= 3 })
	rs.stop()
	out := buf.String()
	for _, want := range []string{`\"pbx9\"`, sim.URL(), "401"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("log leaks the password:\n%s", out)
	}
	if n := rs.sink.count(cdr.TypeSourceConnected); n != 0 {
		t.Errorf("source.connected raised %d times", n)
	}
}

// TestSourceReconnect drops the socket mid-stream (skipping events while
// Asterisk is "down"): the source reconnects, reconciles vanished calls as
// incomplete, and raises the status events when the outage outlasts the
// hold, and nothing when it does not.
func TestSourceReconnect(t *testing.T) {
	lines := recordingLines(t)
	tests := []struct {
		name                    string
		hold                    time.Duration
		connected, disconnected int
	}{
		// The first connection lasts about as long as the hold, so its
		// source.connected may be superseded by the drop (latest wins).
		{"short hold", 30 * time.Millisecond, -1, 1},
		{"long hold", 600 * time.Millisecond, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := arisim.Start(arisim.Options{Username: "gw", Password: "gw", Events: lines, DropAfter: 30, Gap: 70, DownFor: 150 * time.Millisecond, Delay: 50 * time.Millisecond})
			defer sim.Close()
			c := SourceConfig{Name: "pbx1", URL: sim.URL(), Username: "gw", Password: "gw", HoldStatus: tc.hold}
			c.Backoff.Min, c.Backoff.Max = 10*time.Millisecond, 20*time.Millisecond
			var lb syncBuf
			rs := startSource(t, c, slog.New(slog.NewTextHandler(&lb, nil)), nil)
			defer func() {
				if t.Failed() {
					t.Log(lb.String())
				}
			}()
			dbg = func() string {
				return fmt.Sprintf("consumed %d sent %d conns %d done %v", rs.src.Consumed(), sim.Sent(), sim.Connections(), sim.Done())
			}
			defer func() { dbg = nil }()
			waitFor(t, "replay", 10*time.Second, func() bool { return sim.Done() && rs.src.Consumed() == uint64(len(lines)-70) })
			time.Sleep(tc.hold + 100*time.Millisecond)
			if sim.Connections() != 2 {
				t.Errorf("connections = %d, want 2", sim.Connections())
			}
			incomplete := 0
			for _, e := range rs.sink.events() {
				if c, ok := e.Record.(*cdr.Call); ok && e.Type == cdr.TypeCallEnded && c.Custom["incomplete"] == "true" {
					incomplete++
					if !strings.Contains(c.Hangup.CauseText, "vanished") {
						t.Errorf("incomplete call %s cause text %q", c.ID, c.Hangup.CauseText)
					}
				}
			}
			if incomplete == 0 {
				t.Error("no call ended as incomplete after the gap")
			}
			if got := rs.sink.count(cdr.TypeSourceConnected); got != tc.connected && (tc.connected != -1 || got < 1 || got > 2) {
				t.Errorf("source.connected = %d, want %d", got, tc.connected)
			}
			if got := rs.sink.count(cdr.TypeSourceDisconnected); got != tc.disconnected {
				t.Errorf("source.disconnected = %d, want %d", got, tc.disconnected)
			}
			var last string
			for _, e := range rs.sink.events() {
				if s, ok := e.Record.(*cdr.SourceStatus); ok {
					last = s.Status
					if err := e.Validate(); err != nil {
						t.Errorf("status event invalid: %v", err)
					}
					if !strings.HasPrefix(s.ID, "source:pbx1:"+s.Status+":") {
						t.Errorf("status id %q", s.ID)
					}
				}
			}
			if last != "connected" {
				t.Errorf("last status raised = %q, want connected", last)
			}
		})
	}
}

func TestNewSourceErrors(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"no scheme", "pbx:8088", "scheme"},
		{"ftp", "ftp://pbx", "scheme"},
		{"no host", "http:///ari", "host is missing"},
		{"bad", "http://[::1", "field url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSource(SourceConfig{Name: "x", URL: tc.url}, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	s, err := NewSource(SourceConfig{Name: "x", URL: "https://u:p@pbx:8089/", App: "a"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.base != "https://pbx:8089/ari" || s.ws != "wss://pbx:8089/ari/events?app=a&subscribeAll=true" || s.c.Password != "p" {
		t.Errorf("base %q ws %q", s.base, s.ws)
	}
}

// counter reads a counter with label source=name from reg; -1 if absent.
func counter(t *testing.T, reg *prometheus.Registry, metric, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// reporter records the calls a source makes to its ingest.Reporter, as
// "up" or "down: <error>".
type reporter struct {
	mu    sync.Mutex
	calls []string
}

func (r *reporter) Connected() { r.mu.Lock(); r.calls = append(r.calls, "up"); r.mu.Unlock() }
func (r *reporter) Disconnected(err error) {
	r.mu.Lock()
	r.calls = append(r.calls, "down: "+err.Error())
	r.mu.Unlock()
}
func (r *reporter) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// TestSourceStatus checks the Reporter calls, made at once (not held):
// the socket opening, the socket dropped by the server, connect attempts
// failing while the server answers 503, a wrong password and nothing
// listening at all.
func TestSourceStatus(t *testing.T) {
	lines := recordingLines(t)
	tests := []struct {
		name     string
		sim      *arisim.Options // nil: nothing listens
		password string
		// want are the calls expected in this order (others may come
		// between them), each given by substrings it must all contain.
		want [][]string
	}{
		{"drop and reconnect", &arisim.Options{Username: "gw", Password: "gw", Events: lines, DropAfter: 30, Gap: 10, DownFor: 100 * time.Millisecond, Delay: 50 * time.Millisecond}, "gw",
			[][]string{{"up"}, {"down: connection to http://127.0.0.1:", "/ari lost: websocket closed by the server"}, {"down: cannot connect to http://127.0.0.1:", "HTTP 503"}, {"up"}}},
		{"wrong password", &arisim.Options{Username: "gw", Password: "gw"}, "bad-pw",
			[][]string{{"down: cannot connect to http://127.0.0.1:", "401 unauthorized"}, {"down: cannot connect", "401"}}},
		{"nothing listening", nil, "gw", [][]string{{"down: cannot connect to http://127.0.0.1:", "connection refused"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var url string
			if tc.sim != nil {
				sim := arisim.Start(*tc.sim)
				defer sim.Close()
				url = sim.URL()
			} else {
				sim := arisim.Start(arisim.Options{})
				url = sim.URL()
				sim.Close()
			}
			rep := &reporter{}
			c := SourceConfig{Name: "pbx1", URL: url, Username: "gw", Password: tc.password, Status: rep}
			c.Backoff.Min, c.Backoff.Max = 10*time.Millisecond, 20*time.Millisecond
			rs := startSource(t, c, nil, nil)
			deadline := time.Now().Add(5 * time.Second)
			for !matchCalls(rep.list(), tc.want) {
				if time.Now().After(deadline) {
					t.Fatalf("reporter calls:\n%s\nwant in order calls containing %q", strings.Join(rep.list(), "\n"), tc.want)
				}
				time.Sleep(5 * time.Millisecond)
			}
			rs.stop()
			got := rep.list()
			for i, c := range got {
				if strings.Contains(c, tc.password) {
					t.Errorf("reporter error leaks the password: %q", c)
				}
				if i > 0 && c == "up" && got[i-1] == "up" {
					t.Errorf("Connected twice in a row: %q", got)
				}
			}
		})
	}
}

// matchCalls reports whether calls has, in order (not necessarily
// adjacent), a call containing every substring of each element of want.
func matchCalls(calls []string, want [][]string) bool {
	i := 0
	for _, w := range want {
		for ; i < len(calls); i++ {
			ok := true
			for _, sub := range w {
				ok = ok && strings.Contains(calls[i], sub)
			}
			if ok {
				break
			}
		}
		if i == len(calls) {
			return false
		}
		i++
	}
	return true
}

// TestSourceStatusBoard wires the source to an ingest.Board as serve does:
// the board shows the source connected while the socket is open and
// disconnected with an error after the server goes away.
func TestSourceStatusBoard(t *testing.T) {
	sim := arisim.Start(arisim.Options{Username: "gw", Password: "gw"})
	b := ingest.NewBoard(nil)
	b.Register("pbx1", "ari")
	c := SourceConfig{Name: "pbx1", URL: sim.URL(), Username: "gw", Password: "gw", Status: b.For("pbx1")}
	c.Backoff.Min, c.Backoff.Max = 10*time.Millisecond, 20*time.Millisecond
	startSource(t, c, nil, nil)
	state := func() ingest.State { return b.Snapshot()[0] }
	waitFor(t, "connected", 5*time.Second, func() bool { return state().Connected })
	if st := state(); st.LastError != "" || st.Since.IsZero() {
		t.Errorf("connected state %+v", st)
	}
	sim.Close()
	waitFor(t, "disconnected", 5*time.Second, func() bool { return !state().Connected })
	// The loss, then refused reconnects: the latest error names the URL.
	if st := state(); !strings.Contains(st.LastError, sim.URL()) || st.LastErrorAt.IsZero() {
		t.Errorf("last error %q at %v", st.LastError, st.LastErrorAt)
	}
}
