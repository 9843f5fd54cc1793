package siptap

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// busyCall is one busy call (INVITE, 486) as HEPv3 packets: it gives
// call.started and call.ended.
func busyCall(callID string, at time.Time) [][]byte {
	hdr := "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\nFrom: <sip:alice@a.example>;tag=a1\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n"
	return [][]byte{
		sipHEP3(tA, tB, at, "INVITE sip:bob@b.example SIP/2.0\r\n"+hdr+"To: <sip:bob@b.example>\r\n\r\n"),
		sipHEP3(tB, tA, at.Add(time.Millisecond), "SIP/2.0 486 Busy Here\r\n"+hdr+"To: <sip:bob@b.example>;tag=b1\r\n\r\n"),
	}
}

// gatedSink records the batches it is given; the first Accept waits for
// release. reject, when set, refuses any batch holding an event it matches.
type gatedSink struct {
	entered chan struct{} // closed when the first Accept begins
	release chan struct{}
	reject  func(cdr.Event) bool
	first   sync.Once
	mu      sync.Mutex
	batches [][]string // "type call-id" per event
	ctxDone []bool     // whether the context was done at each Accept
}

func (g *gatedSink) Accept(ctx context.Context, evs []cdr.Event) error {
	g.first.Do(func() {
		close(g.entered)
		<-g.release
	})
	if g.reject != nil {
		for _, e := range evs {
			if g.reject(e) {
				return errors.New("rejected")
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var b []string
	for _, e := range evs {
		b = append(b, string(e.Type)+" "+e.Record.Key())
	}
	g.batches = append(g.batches, b)
	g.ctxDone = append(g.ctxDone, ctx.Err() != nil)
	return nil
}

func (g *gatedSink) events() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, b := range g.batches {
		out = append(out, b...)
	}
	return out
}

// runGated starts a HEP source feeding g and sends three busy calls (a, b,
// c) to it, b and c once the sink's first Accept waits; it returns once the
// tracker has ended all three, while that Accept still waits.
func runGated(t *testing.T, g *gatedSink) (cancel func(), done chan error) {
	t.Helper()
	g.entered, g.release = make(chan struct{}), make(chan struct{})
	ready := make(chan net.Addr, 1)
	src := NewHEPSource(SourceConfig{Name: "q", Listen: "127.0.0.1:0", Logger: quiet, Ready: func(u, _ net.Addr) { ready <- u }})
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- src.Run(ctx, g) }()
	addr := (<-ready).String()
	t0 := time.Now().UTC()
	sendPaced(t, addr, busyCall("a", t0))
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("the sink was not called for call a")
	}
	sendPaced(t, addr, append(busyCall("b", t0), busyCall("c", t0)...))
	deadline := time.Now().Add(5 * time.Second)
	for {
		src.mu.Lock()
		ended := src.pipe.tr.Stats().Ended
		src.mu.Unlock()
		if ended == 3 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the tracker ended %d calls while the sink was busy, want 3: the readers wait for the sink", ended)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cancel, done
}

var queueWant = []string{
	"call.started a", "call.ended a", "call.started b", "call.ended b", "call.started c", "call.ended c",
}

// TestSourceEventQueue checks the queue between the tracker and the sink:
// packets are read while the sink is busy, the events that waited go to it
// together and in order, a refused batch is retried event by event, and
// events already made are stored when the source stops.
func TestSourceEventQueue(t *testing.T) {
	t.Parallel()
	t.Run("waiting events go together, in order", func(t *testing.T) {
		t.Parallel()
		g := &gatedSink{}
		cancel, done := runGated(t, g)
		close(g.release)
		deadline := time.Now().Add(5 * time.Second)
		for len(g.events()) < len(queueWant) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(g.events(), ", "); got != strings.Join(queueWant, ", ") {
			t.Errorf("events %s, want %s", got, strings.Join(queueWant, ", "))
		}
		// The first Accept took call a's started (and maybe ended) event; the
		// events of b and c waited for it and went in one batch.
		if len(g.batches) != 2 || len(g.batches[1]) < 4 {
			t.Errorf("batches %q, want two, the second with the events that waited", g.batches)
		}
	})
	t.Run("a refused batch is retried event by event", func(t *testing.T) {
		t.Parallel()
		g := &gatedSink{reject: func(e cdr.Event) bool { return e.Record.Key() == "b" && e.Type == cdr.TypeCallEnded }}
		cancel, done := runGated(t, g)
		close(g.release)
		want := []string{"call.started a", "call.ended a", "call.started b", "call.started c", "call.ended c"}
		deadline := time.Now().Add(5 * time.Second)
		for len(g.events()) < len(want) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(g.events(), ", "); got != strings.Join(want, ", ") {
			t.Errorf("events %s, want %s", got, strings.Join(want, ", "))
		}
	})
	t.Run("events made before the stop are stored", func(t *testing.T) {
		t.Parallel()
		g := &gatedSink{}
		cancel, done := runGated(t, g)
		cancel()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) while events were waiting for the sink", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(g.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(g.events(), ", "); got != strings.Join(queueWant, ", ") {
			t.Errorf("events %s, want %s", got, strings.Join(queueWant, ", "))
		}
		for i, d := range g.ctxDone {
			if d {
				t.Errorf("Accept %d got a done context while draining", i)
			}
		}
	})
}

var _ ingest.Sink = (*gatedSink)(nil)
