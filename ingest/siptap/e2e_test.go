package siptap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// requirePeers returns the paths of the real SIP peers' binaries (keyed by
// binary, valued by Debian package), skipping the test when any is missing,
// or failing it when CDRGW_REQUIRE_PEERS is set (CI). Debian installs
// kamailio in /usr/sbin, which is not on a normal user's PATH: it is looked
// for there too.
func requirePeers(t *testing.T, bins ...[2]string) []string {
	t.Helper()
	var paths, missing []string
	for _, b := range bins {
		p, err := exec.LookPath(b[0])
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
				if q, err2 := exec.LookPath(filepath.Join(dir, b[0])); err2 == nil {
					p, err = q, nil
					break
				}
			}
		}
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", b[0], b[1]))
			continue
		}
		paths = append(paths, p)
	}
	if len(missing) == 0 {
		return paths
	}
	var pkgs []string
	for _, b := range bins {
		pkgs = append(pkgs, b[1])
	}
	msg := fmt.Sprintf("not on PATH: %s; install with: apt-get install -y %s", strings.Join(missing, ", "), strings.Join(pkgs, " "))
	if os.Getenv("CDRGW_REQUIRE_PEERS") != "" {
		t.Fatal(msg + " (CDRGW_REQUIRE_PEERS is set)")
	}
	t.Skip(msg)
	return nil
}

// freeUDPPorts returns n distinct UDP ports on 127.0.0.1 that were free a
// moment ago.
func freeUDPPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var conns []net.PacketConn
	for range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, c := range conns {
		c.Close()
	}
	return ports
}

// udpBound reports whether some process has a UDP socket bound to port on
// 127.0.0.1 or any address, from /proc/net/udp. ok is false where that
// file cannot be read (not Linux).
func udpBound(port int) (bound, ok bool) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return false, false
	}
	defer f.Close()
	want := []string{fmt.Sprintf("0100007F:%04X", port), fmt.Sprintf("00000000:%04X", port)}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 1 && (fs[1] == want[0] || fs[1] == want[1]) {
			return true, true
		}
	}
	return false, true
}

// waitUDPBound waits until a peer process has bound port (or, without
// /proc, a short while), failing the test after timeout.
func waitUDPBound(t *testing.T, port int, who string, exited <-chan struct{}, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		bound, ok := udpBound(port)
		if !ok {
			time.Sleep(500 * time.Millisecond)
			return
		}
		if bound {
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before binding 127.0.0.1:%d:\n%s", who, port, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not bind 127.0.0.1:%d within 10 s:\n%s", who, port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a child's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil // enough to diagnose
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// peer is a child process owned by the test, in its own process group so
// Kamailio's children die with it.
type peer struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error
}

func startPeer(t *testing.T, dir, bin string, args ...string) *peer {
	t.Helper()
	p := &peer{cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the peer's process group: SIGTERM, then SIGKILL after 3 s.
func (p *peer) stop() {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // children that outlived their parent
}

// wait waits at most d for the peer to exit by itself.
func (p *peer) wait(d time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		p.stop()
		return fmt.Errorf("still running after %v, killed", d)
	}
}

// e2eScenario is one lab scenario: the SIPp pair and what each of its calls
// must give, from the scenario files alone.
type e2eScenario struct {
	name, uas, uac string
	answered       bool
	disposition    cdr.Disposition
	sipCode        int
	initiator      cdr.Initiator
	minDuration    time.Duration // ended - answered (answered) or ended - started
}

// TestE2EKamailioSIPp runs the SIP lab for real: Kamailio relays SIPp's
// calls and its siptrace mirrors every message, as HEPv3 (capture id and
// auth key set) to a HEP source, or as plain SIP to a SIP source; each call
// must give exactly one record with what its scenario implies.
func TestE2EKamailioSIPp(t *testing.T) {
	peers := requirePeers(t, [2]string{"kamailio", "kamailio"}, [2]string{"sipp", "sip-tester"})
	kamailio, sipp := peers[0], peers[1]
	t.Parallel()
	for _, hep := range []bool{true, false} {
		name := map[bool]string{true: "hep", false: "sip"}[hep]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runLab(t, kamailio, sipp, hep)
		})
	}
}

// runLab runs the lab's scenarios through Kamailio with siptrace in HEP mode
// or not, and checks the source's records.
func runLab(t *testing.T, kamailio, sipp string, hepMode bool) {
	const callsPerScenario = 3
	scenarios := []e2eScenario{
		{name: "answered-callerbye", uas: "uas-answer.xml", uac: "uac-answer-callerbye.xml", answered: true,
			disposition: cdr.DispositionAnswered, sipCode: 200, initiator: cdr.InitiatorCaller, minDuration: 900 * time.Millisecond},
		{name: "answered-calleebye", uas: "uas-answer-bye.xml", uac: "uac-answer-calleebye.xml", answered: true,
			disposition: cdr.DispositionAnswered, sipCode: 200, initiator: cdr.InitiatorCallee, minDuration: 900 * time.Millisecond},
		{name: "busy", uas: "uas-reply-486.xml", uac: "uac-expect-486.xml",
			disposition: cdr.DispositionBusy, sipCode: 486, initiator: cdr.InitiatorCallee},
		{name: "canceled", uas: "uas-ring-cancel.xml", uac: "uac-cancel.xml",
			disposition: cdr.DispositionCanceled, sipCode: 487, initiator: cdr.InitiatorCaller, minDuration: 900 * time.Millisecond},
		// The UAS answers 503; Kamailio forwards it to the caller as 500.
		{name: "failed-503", uas: "uas-reply-503.xml", uac: "uac-expect-503.xml",
			disposition: cdr.DispositionFailed, sipCode: 500, initiator: cdr.InitiatorCallee},
	}

	// The source under test, collecting every event it stores.
	const captureID = 2001
	key := make([]byte, 8)
	_, _ = rand.Read(key)
	authKey := hex.EncodeToString(key)
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	var (
		mu     sync.Mutex
		events = map[string][]cdr.Event{}
	)
	sinkAddr := make(chan net.Addr, 1)
	cfg := SourceConfig{Name: "kamailio", Listen: "127.0.0.1:0", Metrics: metrics, Logger: quiet, Ready: func(udp, _ net.Addr) { sinkAddr <- udp }}
	kind, src := "sip", NewSIPSource(cfg)
	if hepMode {
		cfg.CaptureIDs, cfg.Password = []uint32{captureID}, authKey
		kind, src = "hep", NewHEPSource(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, ingest.SinkFunc(func(_ context.Context, evs []cdr.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				events[e.Record.Key()] = append(events[e.Record.Key()], e)
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
	var sink net.Addr // where siptrace sends its copies
	select {
	case sink = <-sinkAddr:
	case err := <-done:
		t.Fatal(err)
	}

	// Kamailio, in the foreground, owned by the test.
	dir := t.TempDir()
	ports := freeUDPPorts(t, 3)
	proxyPort, uasPort, uacPort := ports[0], ports[1], ports[2]
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "lab", "kamailio.cfg.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var kcfg bytes.Buffer
	vars := map[string]any{"Port": proxyPort, "UAS": uasPort, "Sink": sink.String(), "HEPMode": map[bool]int{true: 1, false: 0}[hepMode],
		"CaptureID": captureID, "AuthKey": authKey}
	if err := tmpl.Execute(&kcfg, vars); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, kcfg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	kam := startPeer(t, dir, kamailio, "-f", cfgPath, "-DD", "-E", "-S", "-m", "32", "-M", "4", "-w", dir, "-Y", dir)
	waitUDPBound(t, proxyPort, "kamailio", kam.exited, kam.out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kamailio output:\n%s", kam.out.String())
		}
	})

	lab, err := filepath.Abs(filepath.Join("testdata", "lab"))
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		sc         e2eScenario
		uacPID     int
		start, end time.Time
	}
	var runs []run
	for _, sc := range scenarios {
		n := strconv.Itoa(callsPerScenario)
		start := time.Now()
		uas := startPeer(t, dir, sipp, "-sf", filepath.Join(lab, sc.uas), "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
			"-m", n, "-timeout", "15s", "-nostdin")
		waitUDPBound(t, uasPort, "sipp uas "+sc.name, uas.exited, uas.out)
		uac := startPeer(t, dir, sipp, "-sf", filepath.Join(lab, sc.uac), "-s", sc.name, fmt.Sprintf("127.0.0.1:%d", proxyPort),
			"-i", "127.0.0.1", "-p", strconv.Itoa(uacPort), "-m", n, "-r", "10", "-l", n, "-timeout", "15s", "-nostdin")
		if err := uac.wait(20 * time.Second); err != nil {
			t.Fatalf("%s: sipp uac: %v\n%s\nuas:\n%s", sc.name, err, uac.out.String(), uas.out.String())
		}
		if err := uas.wait(5 * time.Second); err != nil {
			t.Fatalf("%s: sipp uas: %v\n%s", sc.name, err, uas.out.String())
		}
		runs = append(runs, run{sc: sc, uacPID: uac.cmd.Process.Pid, start: start, end: time.Now()})
	}

	// Every call's record, then a moment for any duplicate to show.
	want := len(scenarios) * callsPerScenario
	ended := func() int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, evs := range events {
			for _, e := range evs {
				if e.Type == cdr.TypeCallEnded {
					k++
				}
			}
		}
		return k
	}
	deadline := time.Now().Add(5 * time.Second)
	for ended() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(events) != want {
		t.Errorf("events for %d Call-IDs, want %d (%d scenarios × %d calls)", len(events), want, len(scenarios), callsPerScenario)
	}
	for _, r := range runs {
		sc := r.sc
		// SIPp's Call-ID is <call number>-<pid>@<local ip>.
		for i := 1; i <= callsPerScenario; i++ {
			id := fmt.Sprintf("%d-%d@127.0.0.1", i, r.uacPID)
			evs := events[id]
			var types []cdr.Type
			for _, e := range evs {
				types = append(types, e.Type)
			}
			wantTypes := []cdr.Type{cdr.TypeCallStarted, cdr.TypeCallEnded}
			if sc.answered {
				wantTypes = []cdr.Type{cdr.TypeCallStarted, cdr.TypeCallAnswered, cdr.TypeCallEnded}
			}
			if fmt.Sprint(types) != fmt.Sprint(wantTypes) {
				t.Errorf("%s call %s: events %v, want %v (one record per call)", sc.name, id, types, wantTypes)
				continue
			}
			c := evs[len(evs)-1].Record.(*cdr.Call)
			if c.CallID != id || c.Disposition != sc.disposition || c.Hangup.SIPCode != sc.sipCode || c.Hangup.Initiator != sc.initiator {
				t.Errorf("%s call %s: call_id %q disposition %q sip_code %d initiator %q, want %q %d %q",
					sc.name, id, c.CallID, c.Disposition, c.Hangup.SIPCode, c.Hangup.Initiator, sc.disposition, sc.sipCode, sc.initiator)
			}
			wantCaller := cdr.Party{Number: fmt.Sprintf("+1555000%d", i), Name: fmt.Sprintf("Caller %d", i)}
			if c.Caller.Number != wantCaller.Number || c.Caller.Name != wantCaller.Name || c.Callee.Number != sc.name {
				t.Errorf("%s call %s: caller %+v callee %+v, want caller %+v callee number %q", sc.name, id, c.Caller, c.Callee, wantCaller, sc.name)
			}
			if c.Source.Kind != kind || c.Source.Name != "kamailio" {
				t.Errorf("%s call %s: source %+v, want %s/kamailio", sc.name, id, c.Source, kind)
			}
			// Times are Kamailio's capture times: within the scenario's run on this machine's clock.
			if c.EndedAt == nil {
				t.Errorf("%s call %s: no ended_at", sc.name, id)
				continue
			}
			slack := 50 * time.Millisecond
			if c.StartedAt.Before(r.start.Add(-slack)) || c.EndedAt.After(r.end.Add(slack)) || c.EndedAt.Before(c.StartedAt) {
				t.Errorf("%s call %s: started %v ended %v, outside the run %v..%v", sc.name, id, c.StartedAt, *c.EndedAt, r.start, r.end)
			}
			from := c.StartedAt
			if sc.answered != (c.AnsweredAt != nil) {
				t.Errorf("%s call %s: answered_at %v, want answered %v", sc.name, id, c.AnsweredAt, sc.answered)
				continue
			}
			if c.AnsweredAt != nil {
				if c.AnsweredAt.Before(c.StartedAt) || c.AnsweredAt.After(*c.EndedAt) {
					t.Errorf("%s call %s: answered %v outside %v..%v", sc.name, id, *c.AnsweredAt, c.StartedAt, *c.EndedAt)
				}
				from = *c.AnsweredAt
			}
			if got := c.EndedAt.Sub(from); got < sc.minDuration {
				t.Errorf("%s call %s: %v from %s to end, want at least %v (the scenario's pause)", sc.name, id, got,
					map[bool]string{true: "answer", false: "start"}[sc.answered], sc.minDuration)
			}
		}
	}
	// Kamailio's packets carried the right capture id and key, and parse:
	// nothing was rejected.
	for _, reason := range []string{ReasonCaptureID, ReasonPassword, ReasonHEPDecode, ReasonSIPParse, ReasonNotSIP} {
		if got := counterValue(metrics.bad.WithLabelValues("kamailio", reason)); got != 0 {
			t.Errorf("%v packets skipped as %s, want 0", got, reason)
		}
	}
}
