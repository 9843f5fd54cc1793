package siptap

import (
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// loadHEP returns the packets of the Kamailio recording.
func loadHEP(tb testing.TB) [][]byte {
	tb.Helper()
	b, err := io.ReadAll(openGz(tb, "hep3.bin.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for len(b) > 0 {
		n, err := HEP3Len(b)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// BenchmarkPipeline measures HEP decoding, SIP parsing and the tracker
// together, per SIP message, over the recording's 2,867 packets (a fresh
// tracker each pass, so every pass tracks the calls anew).
func BenchmarkPipeline(b *testing.B) {
	pkts := loadHEP(b)
	events := 0
	pl := newPipeline(Options{}, func(cdr.Event) error { events++; return nil }, func(err error) { b.Fatal(err) })
	b.ReportAllocs()
	start, cpu0 := time.Now(), cpuTime()
	n := 0
	for b.Loop() {
		if n%len(pkts) == 0 {
			pl.tr = NewTracker(Options{})
		}
		if err := pl.hep(pkts[n%len(pkts)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	// On a shared machine wall time depends on the neighbours: this is the
	// rate per second of this process's CPU time.
	b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "msgs/cpu-s")
	if events == 0 {
		b.Fatal("no events")
	}
}

// BenchmarkDecodeHEP measures the HEP decoder alone.
func BenchmarkDecodeHEP(b *testing.B) {
	pkts := loadHEP(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := DecodeHEP(pkts[n%len(pkts)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// inviteTemplate is a realistic initial INVITE; %d makes the Call-ID unique.
const inviteTemplate = "INVITE sip:answered@127.0.0.1:15060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:15080;branch=z9hG4bK-12016-1-0\r\n" +
	"From: \"Caller 1\" <sip:+15550001@caller.example>;tag=12016SIPpTag001\r\n" +
	"To: \"Callee\" <sip:answered@callee.example>\r\n" +
	"Call-ID: %d-12016@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:sipp@127.0.0.1:15080>\r\n" +
	"P-Asserted-Identity: \"Caller 1\" <sip:+15550001@caller.example>\r\n" +
	"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

// openDialogs parses n distinct INVITEs and feeds them to tr; it returns the
// heap growth per dialog.
func openDialogs(tb testing.TB, tr *Tracker, n int) float64 {
	tb.Helper()
	p := NewParser()
	msgs := make([]Message, n)
	for i := range msgs {
		m, err := p.Parse(fmt.Appendf(nil, inviteTemplate, i), base.Add(time.Duration(i)*time.Millisecond), addrCaller, addrProxy)
		if err != nil {
			tb.Fatal(err)
		}
		msgs[i] = m
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range msgs {
		tr.Handle(msgs[i])
		msgs[i] = Message{} // the tracker must hold what it needs itself
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(msgs)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// TestTrackerMemoryPerDialog holds 100,000 concurrent dialogs and checks the
// heap they take (goal: at most 2 KiB each), then adds 20,000 more to a
// tracker bounded at 100,000 and checks it does not grow past the bound.
func TestTrackerMemoryPerDialog(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 dialogs")
	}
	const n = 100_000
	tr := NewTracker(Options{MaxDialogs: n})
	per := openDialogs(t, tr, n)
	t.Logf("%.0f bytes per open dialog", per)
	if per > 2048 {
		t.Errorf("%.0f bytes per open dialog, goal is at most 2048", per)
	}
	if got := tr.Stats().OpenCalls; got != n {
		t.Fatalf("%d dialogs open, want %d", got, n)
	}
	p := NewParser()
	for i := n; i < n+20_000; i++ {
		m, err := p.Parse(fmt.Appendf(nil, inviteTemplate, i), base.Add(time.Duration(i)*time.Millisecond), addrCaller, addrProxy)
		if err != nil {
			t.Fatal(err)
		}
		tr.Handle(m)
	}
	if s := tr.Stats(); s.OpenCalls != n || s.Evicted != 20_000 {
		t.Fatalf("open %d evicted %d, want %d and 20000", s.OpenCalls, s.Evicted, n)
	}
}

// BenchmarkOpenDialog reports the heap each open dialog takes.
func BenchmarkOpenDialog(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		tr := NewTracker(Options{})
		b.ReportMetric(openDialogs(b, tr, 10_000), "B/dialog")
		runtime.KeepAlive(tr)
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
