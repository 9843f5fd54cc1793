package siptap

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// startSource runs src on 127.0.0.1 and returns the bound addresses and a
// function that waits for n call.ended events.
func startSource(t *testing.T, src *Source) (udp, tcp net.Addr, ended func(n int) map[string]*cdr.Call) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]*cdr.Call{}
	ready := make(chan struct{})
	src.cfg.Ready = func(u, tc net.Addr) { udp, tcp = u, tc; close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, ingest.SinkFunc(func(_ context.Context, evs []cdr.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				if e.Type == cdr.TypeCallEnded {
					got[e.Record.Key()] = e.Record.(*cdr.Call)
				}
			}
			return nil
		}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	return udp, tcp, func(n int) map[string]*cdr.Call {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		out := map[string]*cdr.Call{}
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

// offlineEnded is what ReadHEP gives for the recording.
func offlineEnded(t *testing.T) map[string]*cdr.Call {
	evs, _ := collect(t, func(emit func(cdr.Event) error, onErr func(error)) error {
		return ReadHEP(context.Background(), openGz(t, "hep3.bin.gz"), Options{}, emit, onErr)
	})
	out := map[string]*cdr.Call{}
	for _, e := range evs {
		if e.Type == cdr.TypeCallEnded {
			out[e.Record.Key()] = e.Record.(*cdr.Call)
		}
	}
	return out
}

func sameCalls(t *testing.T, got, want map[string]*cdr.Call) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d calls, want %d", len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if g == nil {
			t.Errorf("%s: missing", id)
			continue
		}
		if g.Disposition != w.Disposition || g.Hangup != w.Hangup || !g.StartedAt.Equal(w.StartedAt) || !g.EndedAt.Equal(*w.EndedAt) ||
			(g.AnsweredAt == nil) != (w.AnsweredAt == nil) || g.Caller != w.Caller || g.Callee != w.Callee {
			t.Errorf("%s: live record differs from offline:\n got %+v\nwant %+v", id, g, w)
		}
	}
}

func TestHEPSourceUDPAndTCP(t *testing.T) {
	t.Parallel()
	want := offlineEnded(t)
	pkts := loadHEP(t)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			udp, tcp, ended := startSource(t, NewHEPSource(SourceConfig{Name: "lab", Listen: "127.0.0.1:0", CaptureIDs: []uint32{2001}, Metrics: m}))
			addr := udp.String()
			if proto == "tcp" {
				addr = tcp.String()
			}
			c, err := net.Dial(proto, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i, p := range pkts {
				if _, err := c.Write(p); err != nil {
					t.Fatal(err)
				}
				if proto == "udp" && i%64 == 63 {
					time.Sleep(2 * time.Millisecond) // stay within the socket buffer on a loaded machine
				}
			}
			// A packet of another capture agent and an RTCP packet are counted, not tracked.
			bad := [][]byte{
				hep3(chunk{0, chunkCaptureID, u32(9)}, chunk{0, chunkProtoType, u8(1)}, chunk{0, chunkPayload, []byte("x")}),
				hep3(chunk{0, chunkCaptureID, u32(2001)}, chunk{0, chunkProtoType, u8(ProtoRTCP)}, chunk{0, chunkPayload, []byte("x")}),
			}
			for _, b := range bad {
				if _, err := c.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			sameCalls(t, ended(len(want)), want)
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) && counterValue(m.bad.WithLabelValues("lab", ReasonNotSIP)) < 1 {
				time.Sleep(10 * time.Millisecond)
			}
			if got := counterValue(m.bad.WithLabelValues("lab", ReasonCaptureID)); got != 1 {
				t.Errorf("capture_id bad packets = %v, want 1", got)
			}
			if got := counterValue(m.bad.WithLabelValues("lab", ReasonNotSIP)); got != 1 {
				t.Errorf("not_sip bad packets = %v, want 1", got)
			}
		})
	}
}

// TestSIPSourceTCP mirrors plain SIP over a TCP connection: one INVITE, its
// 200 and a BYE give one answered call.
func TestSIPSourceTCP(t *testing.T) {
	t.Parallel()
	_, tcp, ended := startSource(t, NewSIPSource(SourceConfig{Name: "tap", Listen: "127.0.0.1:0"}))
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := []string{
		inviteTemplate,
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:15080;branch=z9hG4bK-12016-1-0\r\nFrom: \"Caller 1\" <sip:+15550001@caller.example>;tag=12016SIPpTag001\r\nTo: <sip:answered@callee.example>;tag=x\r\nCall-ID: %d-12016@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"BYE sip:answered@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:15080;branch=z9hG4bK-2\r\nFrom: \"Caller 1\" <sip:+15550001@caller.example>;tag=12016SIPpTag001\r\nTo: <sip:answered@callee.example>;tag=x\r\nCall-ID: %d-12016@127.0.0.1\r\nCSeq: 2 BYE\r\nReason: Q.850;cause=16;text=\"Normal\"\r\nContent-Length: 0\r\n\r\n",
	}
	for _, m := range msgs {
		if _, err := c.Write(fmt.Appendf(nil, m, 7)); err != nil {
			t.Fatal(err)
		}
	}
	got := ended(1)
	call := got["7-12016@127.0.0.1"]
	if call == nil {
		t.Fatalf("no call ended: %v", got)
	}
	if call.Disposition != cdr.DispositionAnswered || call.Hangup.Initiator != cdr.InitiatorCaller || call.Hangup.Cause != 16 || call.Caller.Number != "+15550001" {
		t.Errorf("call = %+v", call)
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
