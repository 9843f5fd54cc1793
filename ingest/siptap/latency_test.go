package siptap

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// latencyCall is one answered call as five HEPv3 packets (INVITE, 200,
// ACK, BYE, 200) captured from at, step apart; the INVITE, the 200 to it and the BYE
// each cause one event (started, answered, ended).
func latencyCall(n int, at time.Time, step time.Duration) (callID string, pkts [5][]byte) {
	caller := netip.MustParseAddrPort("192.0.2.10:5060")
	callee := netip.MustParseAddrPort("198.51.100.20:5060")
	callID = fmt.Sprintf("lat-%d@192.0.2.10", n)
	from := fmt.Sprintf("From: \"Caller %d\" <sip:+1555%07d@a.example>;tag=f%d\r\n", n, n, n)
	to := "To: <sip:+15559999@b.example>"
	via := "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-%d-%d\r\n"
	tail := "Call-ID: " + callID + "\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n"
	msgs := []struct {
		src, dst netip.AddrPort
		s        string
	}{
		{caller, callee, "INVITE sip:+15559999@b.example SIP/2.0\r\n" + fmt.Sprintf(via, n, 1) + from + to + "\r\n" +
			"Contact: <sip:caller@192.0.2.10:5060>\r\nMax-Forwards: 70\r\n" + fmt.Sprintf(tail, 1, "INVITE")},
		{callee, caller, "SIP/2.0 200 OK\r\n" + fmt.Sprintf(via, n, 1) + from + to + ";tag=t\r\n" + fmt.Sprintf(tail, 1, "INVITE")},
		{caller, callee, "ACK sip:callee@198.51.100.20 SIP/2.0\r\n" + fmt.Sprintf(via, n, 2) + from + to + ";tag=t\r\n" + fmt.Sprintf(tail, 1, "ACK")},
		{caller, callee, "BYE sip:callee@198.51.100.20 SIP/2.0\r\n" + fmt.Sprintf(via, n, 3) + from + to + ";tag=t\r\n" + fmt.Sprintf(tail, 2, "BYE")},
		{callee, caller, "SIP/2.0 200 OK\r\n" + fmt.Sprintf(via, n, 3) + from + to + ";tag=t\r\n" + fmt.Sprintf(tail, 2, "BYE")},
	}
	for i, m := range msgs {
		pkts[i] = sipHEP3(m.src, m.dst, at.Add(time.Duration(i)*step), m.s)
	}
	return callID, pkts
}

// latencyEvents maps a call's packet index to the event it causes.
var latencyEvents = map[int]cdr.Type{0: cdr.TypeCallStarted, 1: cdr.TypeCallAnswered, 3: cdr.TypeCallEnded}

// BenchmarkLiveLatency sends HEPv3 over UDP at 2,000 messages/s for 3 s to
// a HEP source whose sink notes when each event arrives (the stand-in for
// the store), and reports the latency from the send of the packet that
// caused an event to the sink's Accept: p50, p99 (goal: at most 50 ms) and
// max, with the events lost.
func BenchmarkLiveLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("sends 2,000 messages/s for 3 s")
	}
	const (
		rate     = 2000
		duration = 3 * time.Second
		perCall  = 5
	)
	type key struct {
		callID string
		typ    cdr.Type
	}
	b.ReportAllocs()
	for b.Loop() {
		var (
			mu      sync.Mutex
			arrived = map[key]time.Time{}
		)
		ready := make(chan net.Addr, 1)
		src := NewHEPSource(SourceConfig{Name: "lat", Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
			Ready: func(udp, _ net.Addr) { ready <- udp }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- src.Run(ctx, ingest.SinkFunc(func(_ context.Context, evs []cdr.Event) error {
				now := time.Now()
				mu.Lock()
				defer mu.Unlock()
				for _, e := range evs {
					arrived[key{e.Record.Key(), e.Type}] = now
				}
				return nil
			}))
		}()
		addr := <-ready
		c, err := net.Dial("udp", addr.String())
		if err != nil {
			b.Fatal(err)
		}
		// Calls overlap: call n's five messages go in slots 5n, 5n+6, ...
		// 5n+24, so every slot sends one message (slot s holds message
		// s mod 5 of its call) and about five calls are open at once.
		total := int(rate * duration / time.Second)
		calls := total / perCall
		type planned struct {
			k   key
			pkt []byte
		}
		plan := make([][]planned, total+perCall*perCall)
		interval := time.Second / rate
		t0 := time.Now()
		for n := range calls {
			id, pkts := latencyCall(n, t0.Add(time.Duration(n*perCall)*interval), (perCall+1)*interval)
			for i, p := range pkts {
				slot := n*perCall + i*(perCall+1)
				plan[slot] = append(plan[slot], planned{key{id, latencyEvents[i]}, p})
			}
		}
		sent := map[key]time.Time{}
		start := time.Now()
		msgs := 0
		for slot, ps := range plan {
			if d := time.Until(start.Add(time.Duration(slot) * interval)); d > 0 {
				time.Sleep(d)
			}
			for _, p := range ps {
				at := time.Now()
				if _, err := c.Write(p.pkt); err != nil {
					b.Fatal(err)
				}
				msgs++
				if p.k.typ != "" {
					sent[p.k] = at
				}
			}
		}
		sendTime := time.Since(start)
		// Wait for the last events.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			k := len(arrived)
			mu.Unlock()
			if k >= len(sent) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		c.Close()
		mu.Lock()
		var lat []time.Duration
		for k, at := range sent {
			if got, ok := arrived[k]; ok {
				lat = append(lat, got.Sub(at))
			}
		}
		mu.Unlock()
		if len(lat) == 0 {
			b.Fatal("no event arrived")
		}
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(pct(0.50)), "p50-ms")
		b.ReportMetric(ms(pct(0.99)), "p99-ms")
		b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
		b.ReportMetric(float64(msgs)/sendTime.Seconds(), "sent-msgs/s")
		b.ReportMetric(float64(len(sent)-len(lat)), "lost-events")
		if p99 := pct(0.99); p99 > 50*time.Millisecond {
			b.Errorf("p99 packet-to-sink latency %v at %d messages/s, goal is at most 50 ms", p99, rate)
		}
		if lost := len(sent) - len(lat); lost*100 > len(sent) {
			b.Errorf("%d of %d events never reached the sink", lost, len(sent))
		}
	}
}
