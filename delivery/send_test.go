package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// testSecret is a fixed signing secret so that golden output is stable.
const testSecret = "whsec_c2VjcmV0LWtleS1mb3ItY2RyZ3ctdGVzdHMtMDAwMQ=="

// receiver is a loopback webhook receiver that checks signatures with the
// Standard Webhooks reference library.
func receiver(t testing.TB) *httptest.Server {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// The timestamp is part of the signed content; tests use a fixed
		// clock, so the freshness window is not checked here.
		if err := wh.VerifyIgnoringTimestamp(body, r.Header); err != nil {
			http.Error(w, "bad signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"received":`+string(body)+`}`)
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	})
	mux.HandleFunc("/429", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	})
	mux.HandleFunc("/410", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "gone", http.StatusGone)
	})
	mux.HandleFunc("/301", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/leak", func(w http.ResponseWriter, r *http.Request) {
		// A receiver that echoes what it got, secrets included.
		w.Header().Set("X-Echo", r.Header.Get("X-Api-Token"))
		_, _ = io.WriteString(w, "token="+r.Header.Get("X-Api-Token")+" sig="+r.Header.Get(HeaderWebhookSignature))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("0123456789", 1000))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func testClient(t testing.TB, allowPrivate bool) *http.Client {
	c := NewClient(allowPrivate)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// normalize makes a result comparable with a golden file: it removes the
// latency, the Date header and the servers' ports.
func normalize(r AttemptResult, repl *strings.Replacer) AttemptResult {
	r.Latency = 0
	r.Request.URL = repl.Replace(r.Request.URL)
	r.Error = repl.Replace(r.Error)
	if r.Response != nil {
		resp := *r.Response
		resp.Headers = maps2(resp.Headers)
		delete(resp.Headers, "Date")
		resp.Body = repl.Replace(resp.Body)
		r.Response = &resp
	}
	return r
}

func maps2(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestSend(t *testing.T) {
	t.Parallel()
	srv := receiver(t)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the expected handshake failure
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	_ = ln.Close()

	signer, err := NewSigner([]string{testSecret})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"event":"call.ended","caller":"+380441234567"}`)
	open := &Sender{Client: testClient(t, true), UserAgent: "cdrgw-test"}
	guarded := &Sender{Client: testClient(t, false)}
	repl := strings.NewReplacer(strings.TrimPrefix(srv.URL, "http://"), "SERVER", strings.TrimPrefix(tlsSrv.URL, "https://"), "TLSSERVER", strings.TrimPrefix(refused, "http://"), "CLOSED")

	tests := []struct {
		name     string
		sender   *Sender
		req      Request
		timeout  time.Duration
		wantCode int
		want     Outcome
	}{
		{"200 signed", open, Request{URL: srv.URL + "/ok", Body: body, Header: http.Header{"Content-Type": {"application/json"}}}, time.Second, 200,
			Outcome{Final: Delivered, Reason: ReasonOK}},
		{"500", open, Request{Method: "PUT", URL: srv.URL + "/500", Body: body}, time.Second, 500,
			Outcome{Retry: true, Final: Failed, Reason: ReasonServer}},
		{"429 retry-after", open, Request{URL: srv.URL + "/429", Body: body}, time.Second, 429,
			Outcome{Retry: true, Final: Failed, Reason: ReasonRateLimited, RetryAfter: now.Add(2 * time.Minute)}},
		{"410 gone", open, Request{URL: srv.URL + "/410", Body: body}, time.Second, 410,
			Outcome{Final: Failed, Reason: ReasonGone}},
		{"301 not followed", open, Request{Method: "GET", URL: srv.URL + "/301?x=1"}, time.Second, 301,
			Outcome{Final: Failed, Reason: ReasonRedirect}},
		{"slow beyond timeout", open, Request{URL: srv.URL + "/slow", Body: body}, 50 * time.Millisecond, 0,
			Outcome{Retry: true, Final: Failed, Reason: ReasonTimeout}},
		{"connection refused", open, Request{URL: refused + "/hook", Body: body}, time.Second, 0,
			Outcome{Retry: true, Final: Failed, Reason: ReasonNetwork}},
		{"untrusted tls", open, Request{URL: tlsSrv.URL + "/hook", Body: body}, time.Second, 0,
			Outcome{Retry: true, Final: Failed, Reason: ReasonTLS}},
		{"loopback refused by guard", guarded, Request{URL: srv.URL + "/ok", Body: body}, time.Second, 0,
			Outcome{Final: Failed, Reason: ReasonForbidden}},
		{"secrets redacted", open, Request{URL: srv.URL + "/leak?key=tok-123456", Body: []byte(`{"k":"tok-123456"}`),
			Header: http.Header{"X-Api-Token": {"tok-123456"}, "Authorization": {"Basic dXNlcjpwYXNz"}}, Redact: []string{"tok-123456"}}, time.Second, 200,
			Outcome{Final: Delivered, Reason: ReasonOK}},
		{"large response cut at 4 KiB", open, Request{Method: "GET", URL: srv.URL + "/big"}, time.Second, 200,
			Outcome{Final: Delivered, Reason: ReasonOK}},
		{"bad url", open, Request{URL: "ftp://example.com/x"}, time.Second, 0,
			Outcome{Final: Failed, Reason: ReasonInvalid}},
		{"bad method", open, Request{Method: "BAD METHOD", URL: srv.URL}, time.Second, 0,
			Outcome{Final: Failed, Reason: ReasonInvalid}},
	}
	golden := make(map[string]AttemptResult, len(tests))
	for _, tt := range tests {
		res := tt.sender.Send(t.Context(), &tt.req, tt.timeout, signer, "dlv_01JNQ9ZK4M3V8X2W6Y7T5R1P0S", now)
		if res.Outcome != tt.want {
			t.Errorf("%s: Outcome = %+v, want %+v (error %q)", tt.name, res.Outcome, tt.want, res.Error)
		}
		gotCode := 0
		if res.Response != nil {
			gotCode = res.Response.Status
		}
		if gotCode != tt.wantCode {
			t.Errorf("%s: status %d, want %d", tt.name, gotCode, tt.wantCode)
		}
		if tt.want.Reason != ReasonInvalid && res.Latency <= 0 {
			t.Errorf("%s: latency %s, want > 0", tt.name, res.Latency)
		}
		if (tt.wantCode == 0) != (res.Error != "") {
			t.Errorf("%s: error %q with status %d", tt.name, res.Error, gotCode)
		}
		if res.Response != nil && len(res.Response.Body) > MaxLoggedBody {
			t.Errorf("%s: logged body %d bytes, more than %d", tt.name, len(res.Response.Body), MaxLoggedBody)
		}
		logged, _ := json.Marshal(res)
		for _, secret := range []string{strings.TrimPrefix(testSecret, SecretPrefix), "tok-123456", "dXNlcjpwYXNz", signer.Sign("dlv_01JNQ9ZK4M3V8X2W6Y7T5R1P0S", now, tt.req.Body)[3:]} {
			if bytes.Contains(logged, []byte(secret)) {
				t.Errorf("%s: attempt log leaks %q: %s", tt.name, secret, logged)
			}
		}
		golden[tt.name] = normalize(res, repl)
	}
	if res := golden["slow beyond timeout"]; !strings.Contains(res.Error, "configured webhook timeout reached (50ms)") {
		t.Errorf("timeout error %q does not name the configured timeout", res.Error)
	}
	if res := golden["loopback refused by guard"]; !strings.Contains(res.Error, "loopback") {
		t.Errorf("guard error %q does not say why", res.Error)
	}
	checkGolden(t, "send.golden.json", golden)
}

func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", path, diffLines(string(want), string(got)))
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

func TestSendParentCanceled(t *testing.T) {
	t.Parallel()
	srv := receiver(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := &Sender{Client: testClient(t, true)}
	res := s.Send(ctx, &Request{URL: srv.URL + "/ok"}, time.Second, nil, "dlv_x", time.Now())
	if res.Outcome.Reason != ReasonCanceled || !res.Outcome.Retry {
		t.Fatalf("Outcome = %+v (error %q), want a retryable canceled attempt", res.Outcome, res.Error)
	}
}

func TestSendReusesConnections(t *testing.T) {
	t.Parallel()
	var conns int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 10_000)) // longer than the logged prefix
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns++
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := &Sender{Client: testClient(t, true)}
	for range 5 {
		if res := s.Send(t.Context(), &Request{URL: srv.URL}, time.Second, nil, "dlv_x", time.Now()); res.Outcome.Final != Delivered {
			t.Fatalf("Send: %+v %s", res.Outcome, res.Error)
		}
	}
	srv.Close() // ConnState runs on the server's goroutines; Close waits for them
	if conns != 1 {
		t.Fatalf("%d connections for 5 sequential sends, want 1 (body not drained?)", conns)
	}
}

func TestSendDefaults(t *testing.T) {
	t.Parallel()
	var got http.Header
	var gotMethod string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotMethod = r.Header.Clone(), r.Method
	}))
	t.Cleanup(srv.Close)
	s := &Sender{Client: testClient(t, true)}
	now := time.Unix(1700000000, 0)
	res := s.Send(t.Context(), &Request{URL: srv.URL, Body: []byte("{}"), Header: http.Header{"User-Agent": {"custom"}}}, 0, nil, "dlv_y", now)
	if res.Outcome.Final != Delivered {
		t.Fatalf("Send: %+v %s", res.Outcome, res.Error)
	}
	checks := map[string]string{"User-Agent": "custom", "Content-Type": "application/json", "Webhook-Id": "dlv_y", "Webhook-Timestamp": "1700000000", "Webhook-Signature": ""}
	for k, want := range checks {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}
	if gotMethod != http.MethodPost {
		t.Errorf("method %s, want POST", gotMethod)
	}
	if res := s.Send(t.Context(), nil, time.Second, nil, "dlv_n", now); res.Outcome.Reason != ReasonInvalid || res.Outcome.Retry {
		t.Errorf("Send(nil request) = %+v, want a final invalid outcome", res.Outcome)
	}
	// The default client refuses loopback.
	res = (&Sender{}).Send(t.Context(), &Request{URL: srv.URL}, time.Second, nil, "dlv_z", now)
	if res.Outcome.Reason != ReasonForbidden || !strings.Contains(res.Error, ErrForbiddenTarget.Error()) {
		t.Errorf("default Sender reached loopback: %+v, error %q", res.Outcome, res.Error)
	}
	defaultClient.CloseIdleConnections()
}

// BenchmarkSend compares Send (sign, timeout, log, classify) with a plain
// net/http POST to the same loopback receiver.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	body := []byte(strings.Repeat(`{"k":"v"},`, 60))
	signer, err := NewSigner([]string{testSecret})
	if err != nil {
		b.Fatal(err)
	}
	client := NewClient(true)
	defer client.CloseIdleConnections()
	b.Run("Sender", func(b *testing.B) {
		b.ReportAllocs()
		s := &Sender{Client: client}
		req := &Request{URL: srv.URL, Body: body, Header: http.Header{"Content-Type": {"application/json"}}}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res := s.Send(context.Background(), req, 5*time.Second, signer, "dlv_01JNQ9ZK4M3V8X2W6Y7T5R1P0S", time.Now()); res.Outcome.Final != Delivered {
					b.Fatal(res.Error)
				}
			}
		})
	})
	b.Run("PlainHTTP", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	})
}
