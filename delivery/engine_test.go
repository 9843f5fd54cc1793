package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/cdrgw/cdrgw/cdr"
	rcvr "github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/sqlite"
)

// engineSecret is a Standard Webhooks secret for the signing tests.
const engineSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// backend opens a fresh, migrated store for one test.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

var (
	sqliteBackend = backend{"sqlite", func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "cdrgw.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}}
	postgresBackend = backend{"postgres", func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}}
)

// clock is a fake time source the tests advance; the engine claims with it,
// so advancing it makes retries due without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// spec returns the mapping spec the tests' webhooks start from: a JSON body
// naming the event type, the call and the record's custom "n".
func spec(name, url string, events ...cdr.Type) mapping.Spec {
	return mapping.Spec{
		Name: name, URL: url, Events: events,
		Params: []mapping.Param{
			{Name: "type", Expr: "event.type"},
			{Name: "call", Expr: "record.call_id"},
			{Name: "n", Expr: `record.custom.n ?? ""`},
		},
	}
}

// newHook compiles sp into an engine webhook with test-friendly defaults: a
// fixed one-minute retry schedule without jitter, 3 attempts, 2 s timeout.
func newHook(t *testing.T, sp mapping.Spec, edit ...func(*Webhook)) Webhook {
	t.Helper()
	w, err := mapping.Compile(sp)
	if err != nil {
		t.Fatalf("compile %s: %v", sp.Name, err)
	}
	h := Webhook{
		Name: sp.Name, Renderer: w, Active: true, Timeout: 2 * time.Second, MaxAttempts: 3,
		Retry: Backoff{Schedule: Fixed, Interval: time.Minute}, Concurrency: 4,
	}
	for _, f := range edit {
		f(&h)
	}
	return h
}

// callEvent returns an event of type typ for the call record recID of call
// callID; custom["n"] is n.
func callEvent(typ cdr.Type, recID, callID, n string, extra ...map[string]string) cdr.Event {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	custom := map[string]string{"n": n}
	for _, m := range extra {
		for k, v := range m {
			custom[k] = v
		}
	}
	c := &cdr.Call{
		Base: cdr.Base{
			ID: recID, Kind: cdr.KindCall, Source: cdr.SourceRef{Kind: "ari", Name: "pbx1"}, CallID: callID,
			Direction: cdr.DirectionInbound, Caller: cdr.Party{Number: "+15550001"}, StartedAt: start, Custom: custom,
		},
		Callee: cdr.Party{Number: "201"},
	}
	at := start
	switch typ {
	case cdr.TypeCallAnswered:
		at = start.Add(5 * time.Second)
		c.AnsweredAt = &at
	case cdr.TypeCallEnded:
		ans, end := start.Add(5*time.Second), start.Add(65*time.Second)
		c.AnsweredAt, c.EndedAt, at = &ans, &end, end
		c.Duration, c.Billsec, c.Disposition = 65, 60, cdr.DispositionAnswered
	}
	return cdr.NewEvent(typ, at, c.Source, c)
}

// ended returns a call.ended event numbered n for its own call.
func ended(n int) cdr.Event {
	return callEvent(cdr.TypeCallEnded, fmt.Sprintf("test:%d", n), fmt.Sprintf("c%d", n), fmt.Sprint(n))
}

// rig is one test's engine, store, clock and helpers.
type rig struct {
	t     *testing.T
	st    store.Store
	eng   *Engine
	clock *clock
}

// start makes and starts an engine over st; the test's cleanup stops it.
// opts.Owner, Client, PollInterval and Now get test defaults when zero.
func start(t *testing.T, st store.Store, hooks []Webhook, opts Options) *rig {
	t.Helper()
	r := &rig{t: t, st: st}
	if opts.Now == nil {
		r.clock = newClock()
		opts.Now = r.clock.Now
	}
	if opts.Owner == "" {
		opts.Owner = "test"
	}
	if opts.Client == nil {
		opts.Client = NewClient(true)
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	eng, err := New(st, hooks, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.eng = eng
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := eng.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		opts.Client.CloseIdleConnections()
	})
	return r
}

func (r *rig) accept(evs ...cdr.Event) {
	r.t.Helper()
	if err := r.eng.Accept(r.t.Context(), evs); err != nil {
		r.t.Fatal(err)
	}
}

// deliveries returns the webhook's deliveries, oldest first.
func (r *rig) deliveries(webhook string) []store.Delivery {
	r.t.Helper()
	var out []store.Delivery
	f := store.Filter{Webhook: webhook, Limit: store.MaxLimit}
	for {
		page, next, err := r.st.ListDeliveries(r.t.Context(), f)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.Reverse(out)
	return out
}

// only returns the webhook's single delivery and its attempts.
func (r *rig) only(webhook string) (store.Delivery, []store.Attempt) {
	r.t.Helper()
	ds := r.deliveries(webhook)
	if len(ds) != 1 {
		r.t.Fatalf("webhook %s has %d deliveries, want 1", webhook, len(ds))
	}
	d, as, err := r.st.GetDelivery(r.t.Context(), ds[0].ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return d, as
}

// settled waits until the webhook has deliveries, all of them satisfy ok
// and none is leased, so the engine is done with them for now.
func (r *rig) settled(webhook string, what string, ok func(d store.Delivery) bool) []store.Delivery {
	r.t.Helper()
	var ds []store.Delivery
	eventually(r.t, 10*time.Second, what, func() bool {
		ds = r.deliveries(webhook)
		for _, d := range ds {
			if d.LeaseOwner != "" || !ok(d) {
				return false
			}
		}
		return len(ds) > 0
	})
	return ds
}

func status(s store.Status) func(store.Delivery) bool {
	return func(d store.Delivery) bool { return d.Status == s }
}

func attempts(n int) func(store.Delivery) bool {
	return func(d store.Delivery) bool { return d.Attempts == n }
}

// quiet checks that cond stays false for a while (several poll intervals).
func quiet(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(150 * time.Millisecond)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// script answers the i-th request (0-based) with answers[i], the last one
// after that, and counts requests as they arrive (the receiver records a
// request only once it is answered).
type script struct {
	mu      sync.Mutex
	answers []rcvr.Response
	n       int
	seen    []rcvr.Request
}

func (s *script) respond(q *rcvr.Request) rcvr.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.answers[min(s.n, len(s.answers)-1)]
	s.n++
	s.seen = append(s.seen, *q)
	return a
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func answer(status int, header ...string) rcvr.Response {
	r := rcvr.Response{Status: status, Header: map[string]string{}}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header[header[i]] = header[i+1]
	}
	return r
}

// body decodes a received JSON body.
func body(t *testing.T, q rcvr.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(q.Body, &m); err != nil {
		t.Fatalf("body %q: %v", q.Body, err)
	}
	return m
}

// The scenarios that matter on every backend run on SQLite and PostgreSQL.
func TestEngineBackends(t *testing.T) {
	scenarios := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"HappyPathSigned", testHappyPathSigned},
		{"RetryThenSuccess", testRetryThenSuccess},
		{"Ordered", testOrdered},
		{"Debounce", testDebounce},
		{"StoreDownMidRun", testStoreDownMidRun},
		{"ClaimAnswerLost", testClaimAnswerLost},
		{"ClaimAnswerLostAtStop", testClaimAnswerLostAtStop},
	}
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(b.name, func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.fn(t, b)
				})
			}
		})
	}
}

// A signed delivery verifies with the Standard Webhooks reference library,
// carries the delivery id, and its stored attempt shows no secret.
func testHappyPathSigned(t *testing.T, b backend) {
	verifier, err := standardwebhooks.NewWebhook(engineSecret)
	if err != nil {
		t.Fatal(err)
	}
	var verifyErrs atomic.Int64
	rcv := rcvr.Start(t, func(q *rcvr.Request) rcvr.Response {
		if err := verifier.Verify(q.Body, q.Header); err != nil {
			verifyErrs.Add(1)
			return rcvr.Response{Status: http.StatusUnauthorized, Body: err.Error()}
		}
		return rcvr.Response{Status: http.StatusOK, Body: "thanks " + engineSecret}
	})
	signer, err := NewSigner([]string{engineSecret})
	if err != nil {
		t.Fatal(err)
	}
	sp := spec("crm", rcv.URL+"/hook?token="+engineSecret, cdr.TypeCallEnded)
	sp.Headers = []mapping.Param{{Name: "X-Api-Token", Expr: fmt.Sprintf("%q", engineSecret)}}
	h := newHook(t, sp, func(w *Webhook) { w.Signer, w.Secrets = signer, []string{engineSecret} })
	r := start(t, b.open(t), []Webhook{h}, Options{Now: time.Now}) // real time: the verifier checks the timestamp

	r.accept(ended(1))
	got := rcv.WaitT(t, 1, 10*time.Second)
	d, as := r.only("crm")
	r.settled("crm", "delivered", status(store.StatusDelivered))
	if verifyErrs.Load() != 0 {
		t.Fatalf("%d requests failed verification", verifyErrs.Load())
	}
	if id := got[0].Header.Get("webhook-id"); id != d.ID {
		t.Fatalf("webhook-id %q, want the delivery id %q", id, d.ID)
	}
	if got[0].Header.Get("X-Api-Token") != engineSecret || !strings.Contains(got[0].Query, "token=") {
		t.Fatalf("the receiver did not get the secret-bearing header and query: %v %q", got[0].Header, got[0].Query)
	}
	if m := body(t, got[0]); m["type"] != "call.ended" || m["call"] != "c1" || m["n"] != "1" {
		t.Fatalf("body %v", m)
	}
	_, as, err = r.st.GetDelivery(t.Context(), d.ID)
	if err != nil || len(as) != 1 {
		t.Fatalf("attempts %v, %v", as, err)
	}
	a := as[0]
	if a.Response == nil || a.Response.Status != 200 || a.Error != "" || a.N != 1 || a.Request.Method != http.MethodPost {
		t.Fatalf("attempt %+v", a)
	}
	logged, _ := json.Marshal(a)
	for _, secret := range []string{engineSecret, strings.TrimPrefix(engineSecret, SecretPrefix)} {
		if strings.Contains(string(logged), secret) {
			t.Fatalf("stored attempt shows the secret: %s", logged)
		}
	}
	if a.Request.Headers["Webhook-Id"] != d.ID && a.Request.Headers["webhook-id"] != d.ID {
		t.Fatalf("logged request lacks webhook-id: %v", a.Request.Headers)
	}
}

// 500, 500, 200 with a fixed one-minute schedule: each retry is due exactly
// a minute after the failure, and health reflects the three attempts.
func testRetryThenSuccess(t *testing.T, b backend) {
	sc := &script{answers: []rcvr.Response{answer(500), answer(503), answer(200)}}
	rcv := rcvr.Start(t, sc.respond)
	st := b.open(t)
	r := start(t, st, []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))}, Options{})

	r.accept(ended(1))
	for n := 1; n <= 2; n++ {
		failedAt := r.clock.Now()
		ds := r.settled("crm", fmt.Sprintf("attempt %d logged", n), attempts(n))
		if d := ds[0]; d.Status != store.StatusPending || !d.NextAttemptAt.Equal(failedAt.Add(time.Minute)) {
			t.Fatalf("after attempt %d: status %s next %v, want pending at %v", n, d.Status, d.NextAttemptAt, failedAt.Add(time.Minute))
		}
		r.clock.Advance(59 * time.Second)
		quiet(t, "retried before the schedule", func() bool { return sc.count() > n })
		r.clock.Advance(time.Second)
	}
	r.settled("crm", "delivered", status(store.StatusDelivered))
	_, as := r.only("crm")
	var codes []int
	for _, a := range as {
		codes = append(codes, a.Response.Status)
	}
	if !slices.Equal(codes, []int{500, 503, 200}) || sc.count() != 3 {
		t.Fatalf("attempt statuses %v, %d requests", codes, sc.count())
	}
	hs, ok := r.eng.Health("crm")
	if !ok || hs.Attempts != 3 || hs.LastStatus != 200 || hs.SuccessRate < 0.33 || hs.SuccessRate > 0.34 || hs.ConsecutiveFailures != 0 || hs.P95MS < hs.AvgMS {
		t.Fatalf("health %+v", hs)
	}
	// A new engine over the same store starts from the logged attempts.
	r2 := start(t, st, []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))}, Options{Owner: "second"})
	if hs2, _ := r2.eng.Health("crm"); hs2.Attempts != 3 || hs2.LastStatus != 200 {
		t.Fatalf("health after restart %+v", hs2)
	}
}

// ordered: call.started fails once and is retried; call.answered and
// call.ended of the same call wait for it, while another call goes ahead.
func testOrdered(t *testing.T, b backend) {
	sc := &script{answers: []rcvr.Response{answer(200)}}
	var failedOnce atomic.Bool
	rcv := rcvr.Start(t, func(q *rcvr.Request) rcvr.Response {
		a := sc.respond(q)
		if strings.Contains(string(q.Body), `"call":"c1"`) && strings.Contains(string(q.Body), "call.started") && failedOnce.CompareAndSwap(false, true) {
			return answer(503)
		}
		return a
	})
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallStarted, cdr.TypeCallAnswered, cdr.TypeCallEnded), func(w *Webhook) { w.Ordered = true })
	r := start(t, b.open(t), []Webhook{h}, Options{})
	r.accept(
		callEvent(cdr.TypeCallStarted, "test:c1", "c1", "1"),
		callEvent(cdr.TypeCallAnswered, "test:c1", "c1", "2"),
		callEvent(cdr.TypeCallEnded, "test:c1", "c1", "3"),
		callEvent(cdr.TypeCallStarted, "test:c2", "c2", "1"),
		callEvent(cdr.TypeCallEnded, "test:c2", "c2", "2"),
	)
	// c2 goes through while c1 waits for its first event's retry.
	eventually(t, 10*time.Second, "c2 delivered", func() bool { return sc.count() >= 3 })
	quiet(t, "c1 went on before its first event was delivered", func() bool { return sc.count() > 3 })
	r.clock.Advance(time.Minute)
	r.settled("crm", "all delivered", status(store.StatusDelivered))
	order := map[any][]any{}
	for _, q := range sc.seen {
		m := body(t, q)
		order[m["call"]] = append(order[m["call"]], m["type"])
	}
	want := map[any][]any{
		"c1": {"call.started", "call.started", "call.answered", "call.ended"},
		"c2": {"call.started", "call.ended"},
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("requests per call %v\nwant %v", order, want)
	}
}

// Debounce: of three quick events of one type and call only the last is
// sent, and each newer event restarts the window.
func testDebounce(t *testing.T, b backend) {
	rcv := rcvr.Start(t, nil)
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Debounce = 10 * time.Second })
	other := newHook(t, spec("erp", rcv.URL+"/erp", cdr.TypeCallEnded))
	r := start(t, b.open(t), []Webhook{h, other}, Options{})
	ev := func(n string) cdr.Event { return callEvent(cdr.TypeCallEnded, "test:c1:"+n, "c1", n) }

	r.accept(ev("1"))
	rcv.WaitT(t, 1, 10*time.Second) // erp has no debounce
	r.clock.Advance(6 * time.Second)
	r.accept(ev("2"))
	r.clock.Advance(6 * time.Second) // 12 s after the first: its window would be over
	r.accept(ev("3"))
	rcv.WaitT(t, 3, 10*time.Second)
	r.clock.Advance(9 * time.Second)
	quiet(t, "sent before the restarted window ended", func() bool { return rcv.Count() > 3 })
	r.clock.Advance(time.Second)
	got := rcv.WaitT(t, 4, 10*time.Second)
	ds := r.settled("crm", "delivered", status(store.StatusDelivered))
	if len(ds) != 1 {
		t.Fatalf("%d crm deliveries, want 1", len(ds))
	}
	var crm []rcvr.Request
	for _, q := range got {
		if q.Path != "/erp" {
			crm = append(crm, q)
		}
	}
	if len(crm) != 1 || body(t, crm[0])["n"] != "3" {
		t.Fatalf("crm got %d requests, the first with n=%v; want only n=3", len(crm), body(t, crm[0])["n"])
	}
	quiet(t, "more requests", func() bool { return rcv.Count() > 4 })
}

// flaky wraps a store; while down, Claim, Finish, Release and ReleaseOwner fail.
type flaky struct {
	store.Store
	down     atomic.Bool
	failures atomic.Int64
}

var errStoreDown = errors.New("store unavailable (test)")

func (f *flaky) Claim(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if f.down.Load() {
		f.failures.Add(1)
		return nil, errStoreDown
	}
	return f.Store.Claim(ctx, p)
}

func (f *flaky) Finish(ctx context.Context, rs []store.Result) error {
	if f.down.Load() {
		f.failures.Add(1)
		return errStoreDown
	}
	return f.Store.Finish(ctx, rs)
}

func (f *flaky) Release(ctx context.Context, owner string, ids []string, next time.Time) error {
	if f.down.Load() {
		f.failures.Add(1)
		return errStoreDown
	}
	return f.Store.Release(ctx, owner, ids, next)
}

func (f *flaky) ReleaseOwner(ctx context.Context, owner string, next time.Time) error {
	if f.down.Load() {
		f.failures.Add(1)
		return errStoreDown
	}
	return f.Store.ReleaseOwner(ctx, owner, next)
}

// The store goes away while requests are in flight and events keep being
// accepted: once it is back every acknowledged event is delivered.
func testStoreDownMidRun(t *testing.T, b backend) {
	st := b.open(t)
	fl := &flaky{Store: st}
	var n atomic.Int64
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		if n.Add(1) == 5 {
			fl.down.Store(true) // results of this and later attempts cannot be written
		}
		return rcvr.Response{Delay: 20 * time.Millisecond}
	})
	r := start(t, fl, []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))}, Options{})
	r.st = st
	for i := range 10 {
		r.accept(ended(i))
	}
	eventually(t, 10*time.Second, "the store to go down", fl.down.Load)
	for i := 10; i < 20; i++ {
		r.accept(ended(i)) // acknowledged while claims and results fail
	}
	time.Sleep(200 * time.Millisecond)
	fl.down.Store(false)
	ds := r.settled("crm", "all delivered", status(store.StatusDelivered))
	if len(ds) != 20 || fl.failures.Load() == 0 {
		t.Fatalf("%d deliveries, %d store failures", len(ds), fl.failures.Load())
	}
	ids := rcv.IDs()
	for _, d := range ds {
		if ids[d.ID] == 0 {
			t.Fatalf("delivery %s marked delivered but never received", d.ID)
		}
	}
}

// TestEngineOutcomes covers the classification of each kind of answer or
// failure as the engine stores it.
func TestEngineOutcomes(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	other := rcvr.Start(t, nil)

	tests := []struct {
		name     string
		answers  []rcvr.Response
		url      string // "" means the scripted receiver
		edit     func(*Webhook)
		private  bool // refuse private targets
		advance  bool // advance the clock between attempts
		status   store.Status
		requests int      // requests the scripted receiver sees
		codes    []int    // statuses of the logged attempts (0: no response)
		errHas   []string // the last attempt's error contains these
	}{
		{name: "4xx fails without retry", answers: []rcvr.Response{answer(400)}, advance: true,
			status: store.StatusFailed, requests: 1, codes: []int{400}},
		{name: "exhausted retries are dead", answers: []rcvr.Response{answer(503)}, advance: true,
			edit: func(w *Webhook) { w.MaxAttempts = 2 }, status: store.StatusDead, requests: 2, codes: []int{503, 503}},
		{name: "retry_on retries a 409", answers: []rcvr.Response{answer(409), answer(200)}, advance: true,
			edit: func(w *Webhook) { w.RetryOn = []int{409} }, status: store.StatusDelivered, requests: 2, codes: []int{409, 200}},
		{name: "redirect not followed", answers: []rcvr.Response{answer(302, "Location", other.URL+"/moved")}, advance: true,
			status: store.StatusFailed, requests: 1, codes: []int{302}},
		{name: "slow receiver times out and is retried", answers: []rcvr.Response{{Delay: 5 * time.Second}, answer(200)}, advance: true,
			edit: func(w *Webhook) { w.Timeout = time.Second }, status: store.StatusDelivered, requests: 2, codes: []int{0, 200}},
		{name: "timeout logged", answers: []rcvr.Response{{Delay: 5 * time.Second}},
			edit: func(w *Webhook) { w.Timeout = time.Second; w.MaxAttempts = 1 }, status: store.StatusDead, requests: 1,
			codes: []int{0}, errHas: []string{"configured webhook timeout reached (1s)"}},
		{name: "DNS failure", url: "http://cdrgw-test.invalid/hook", edit: func(w *Webhook) { w.MaxAttempts = 1 },
			status: store.StatusDead, codes: []int{0}, errHas: []string{"cdrgw-test.invalid"}},
		{name: "TLS error", url: tlsSrv.URL + "/hook", edit: func(w *Webhook) { w.MaxAttempts = 1 },
			status: store.StatusDead, codes: []int{0}, errHas: []string{"certificate"}},
		{name: "private target refused", answers: []rcvr.Response{answer(200)}, private: true,
			status: store.StatusFailed, requests: 0, codes: []int{0}, errHas: []string{"127.0.0.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := &script{answers: tc.answers}
			if sc.answers == nil {
				sc.answers = []rcvr.Response{answer(200)}
			}
			rcv := rcvr.Start(t, sc.respond)
			url := cmpOr(tc.url, rcv.URL+"/hook")
			h := newHook(t, spec("crm", url, cdr.TypeCallEnded))
			if tc.edit != nil {
				tc.edit(&h)
			}
			opts := Options{}
			if tc.private {
				opts.Client = NewClient(false)
			}
			r := start(t, sqliteBackend.open(t), []Webhook{h}, opts)
			r.accept(ended(1))
			final := func(d store.Delivery) bool { return d.Status != store.StatusPending }
			eventually(t, 15*time.Second, "a final status", func() bool {
				ds := r.deliveries("crm")
				// Advance only while the retry is not due: then it is not in
				// flight, and moving the clock cannot expire its lease.
				if len(ds) == 1 && ds[0].Status == store.StatusPending && ds[0].LeaseOwner == "" && ds[0].Attempts > 0 &&
					ds[0].NextAttemptAt.After(r.clock.Now()) && tc.advance {
					r.clock.Advance(time.Hour)
				}
				return len(ds) == 1 && final(ds[0]) && ds[0].LeaseOwner == ""
			})
			r.clock.Advance(2 * time.Hour)
			quiet(t, "more requests after the final status", func() bool { return sc.count() > tc.requests })
			d, as := r.only("crm")
			if d.Status != tc.status || sc.count() != tc.requests || other.Count() != 0 {
				t.Fatalf("status %s after %d requests (redirect target got %d), want %s after %d", d.Status, sc.count(), other.Count(), tc.status, tc.requests)
			}
			var codes []int
			for _, a := range as {
				c := 0
				if a.Response != nil {
					c = a.Response.Status
				}
				codes = append(codes, c)
			}
			if !slices.Equal(codes, tc.codes) {
				t.Fatalf("attempt statuses %v, want %v", codes, tc.codes)
			}
			last := as[len(as)-1]
			for _, s := range tc.errHas {
				if !strings.Contains(last.Error, s) {
					t.Fatalf("last error %q lacks %q", last.Error, s)
				}
			}
			if last.Request.URL == "" || d.LastError != last.Error {
				t.Fatalf("attempt not fully logged: request %+v, delivery error %q vs %q", last.Request, d.LastError, last.Error)
			}
		})
	}
}

// 429 with Retry-After: the next attempt waits for the receiver's time,
// not the shorter schedule.
func TestEngineRetryAfter(t *testing.T) {
	t.Parallel()
	sc := &script{answers: []rcvr.Response{answer(429, "Retry-After", "120"), answer(200)}}
	rcv := rcvr.Start(t, sc.respond)
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Retry = Backoff{Schedule: Fixed, Interval: 10 * time.Second} })
	r := start(t, sqliteBackend.open(t), []Webhook{h}, Options{})
	at := r.clock.Now()
	r.accept(ended(1))
	ds := r.settled("crm", "first attempt", attempts(1))
	if !ds[0].NextAttemptAt.Equal(at.Add(120 * time.Second)) {
		t.Fatalf("next attempt at %v, want %v (Retry-After)", ds[0].NextAttemptAt, at.Add(120*time.Second))
	}
	r.clock.Advance(60 * time.Second)
	quiet(t, "retried before Retry-After", func() bool { return sc.count() > 1 })
	r.clock.Advance(60 * time.Second)
	r.settled("crm", "delivered", status(store.StatusDelivered))
}

// Delay holds the first attempt.
func TestEngineDelay(t *testing.T) {
	t.Parallel()
	rcv := rcvr.Start(t, nil)
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Delay = time.Minute })
	r := start(t, sqliteBackend.open(t), []Webhook{h}, Options{})
	at := r.clock.Now()
	r.accept(ended(1))
	if d, _ := r.only("crm"); !d.NextAttemptAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("due at %v, want %v", d.NextAttemptAt, at.Add(time.Minute))
	}
	r.clock.Advance(59 * time.Second)
	quiet(t, "sent before the delay", func() bool { return rcv.Count() > 0 })
	r.clock.Advance(time.Second)
	rcv.WaitT(t, 1, 10*time.Second)
}

// Inactive webhooks and false filters enqueue nothing; a webhook removed
// from the config keeps its deliveries pending and listed.
func TestEngineEnqueuesNothing(t *testing.T) {
	t.Parallel()
	rcv := rcvr.Start(t, nil)
	inactive := newHook(t, spec("inactive", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Active = false })
	sp := spec("filtered", rcv.URL, cdr.TypeCallEnded)
	sp.When = `record.custom.n != "skip"`
	filtered := newHook(t, sp)
	st := sqliteBackend.open(t)
	r := start(t, st, []Webhook{inactive, filtered}, Options{})
	r.accept(callEvent(cdr.TypeCallEnded, "test:1", "c1", "skip"))
	if n := len(r.deliveries("inactive")) + len(r.deliveries("filtered")); n != 0 {
		t.Fatalf("%d deliveries, want 0", n)
	}
	r.accept(callEvent(cdr.TypeCallEnded, "test:2", "c2", "go"))
	if n, m := len(r.deliveries("inactive")), len(r.deliveries("filtered")); n != 0 || m != 1 {
		t.Fatalf("%d inactive and %d filtered deliveries, want 0 and 1", n, m)
	}
	r.settled("filtered", "delivered", status(store.StatusDelivered))

	// The "gone" webhook's delivery was accepted by an engine that knew it;
	// this engine does not, so it stays pending (and listed) untouched.
	gone := newHook(t, spec("gone", rcv.URL, cdr.TypeCallEnded))
	if _, err := st.Accept(t.Context(), []store.NewEvent{{Event: ended(3), Deliveries: []store.NewDelivery{{ID: NewID(time.Now()), Webhook: gone.Name, Key: "c3"}}}}); err != nil {
		t.Fatal(err)
	}
	r.eng.signal()
	quiet(t, "a removed webhook's delivery was sent", func() bool { return rcv.Count() > 1 })
	if ds := r.deliveries("gone"); len(ds) != 1 || ds[0].Status != store.StatusPending || ds[0].Attempts != 0 {
		t.Fatalf("removed webhook's deliveries %+v", ds)
	}
}

// A record whose expression fails at run time, or whose header would hold
// CR/LF, fails with the error logged; the others are delivered.
func TestEngineRenderErrors(t *testing.T) {
	t.Parallel()
	rcv := rcvr.Start(t, nil)
	sp := spec("crm", rcv.URL, cdr.TypeCallEnded)
	sp.Params = append(sp.Params, mapping.Param{Name: "num", Expr: "int(record.custom.n)"})
	sp.Headers = []mapping.Param{{Name: "X-Note", Expr: `record.custom.note ?? "none"`}}
	r := start(t, sqliteBackend.open(t), []Webhook{newHook(t, sp)}, Options{})
	r.accept(
		callEvent(cdr.TypeCallEnded, "test:1", "c1", "1"),
		callEvent(cdr.TypeCallEnded, "test:2", "c2", "not-a-number"),
		callEvent(cdr.TypeCallEnded, "test:3", "c3", "3", map[string]string{"note": "a\r\nX-Injected: 1"}),
		callEvent(cdr.TypeCallEnded, "test:4", "c4", "4"),
	)
	ds := r.settled("crm", "all final", func(d store.Delivery) bool { return d.Status != store.StatusPending })
	got := rcv.Requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for _, q := range got {
		if q.Header.Get("X-Injected") != "" {
			t.Fatal("a CR/LF header was sent")
		}
	}
	byCall := map[string]store.Delivery{}
	for _, d := range ds {
		byCall[d.Key] = d
	}
	for call, want := range map[string]store.Status{"c1": store.StatusDelivered, "c2": store.StatusFailed, "c3": store.StatusFailed, "c4": store.StatusDelivered} {
		d := byCall[call]
		if d.Status != want || d.Attempts != 1 {
			t.Fatalf("%s: status %s after %d attempts, want %s", call, d.Status, d.Attempts, want)
		}
		if want == store.StatusFailed {
			_, as, _ := r.st.GetDelivery(t.Context(), d.ID)
			if len(as) != 1 || !strings.HasPrefix(as[0].Error, "render: ") || as[0].Response != nil {
				t.Fatalf("%s: attempts %+v", call, as)
			}
			if call == "c3" && !strings.Contains(as[0].Error, "X-Note") {
				t.Fatalf("c3: error %q does not name the header", as[0].Error)
			}
		}
	}
	if hs, _ := r.eng.Health("crm"); hs.Attempts != 2 || hs.SuccessRate != 1 {
		t.Fatalf("render errors counted against the endpoint: %+v", hs)
	}
}

// 410 pauses the webhook and raises webhook.failing, which another webhook
// subscribed to it delivers; the paused webhook keeps new work pending.
func TestEngineGonePauses(t *testing.T) {
	t.Parallel()
	crmRcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response { return answer(http.StatusGone) })
	opsRcv := rcvr.Start(t, nil)
	ops := mapping.Spec{Name: "ops", URL: opsRcv.URL, Events: []cdr.Type{cdr.TypeWebhookFailing}, Params: []mapping.Param{
		{Name: "webhook", Expr: "record.webhook"}, {Name: "paused", Expr: "record.paused"}, {Name: "status", Expr: "record.last_status"}}}
	st := sqliteBackend.open(t)
	r := start(t, st, []Webhook{
		newHook(t, spec("crm", crmRcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Concurrency = 1 }),
		newHook(t, ops),
	}, Options{})
	r.accept(ended(1), ended(2))
	got := opsRcv.WaitT(t, 1, 10*time.Second)
	if m := body(t, got[0]); m["webhook"] != "crm" || m["paused"] != true || m["status"] != float64(410) {
		t.Fatalf("webhook.failing body %v", m)
	}
	paused, err := st.Paused(t.Context())
	if err != nil || !paused["crm"] {
		t.Fatalf("paused %v, %v", paused, err)
	}
	r.accept(ended(3))
	quiet(t, "a paused webhook was sent to", func() bool { return crmRcv.Count() > 1 })
	var pending int
	for _, d := range r.deliveries("crm") {
		if d.Status == store.StatusPending {
			pending++
		}
	}
	if crmRcv.Count() != 1 || pending != 2 || opsRcv.Count() != 1 {
		t.Fatalf("%d crm requests, %d pending, %d failing events", crmRcv.Count(), pending, opsRcv.Count())
	}
	// Resuming sends what waited.
	if err := r.eng.SetPaused(t.Context(), "crm", false); err != nil {
		t.Fatal(err)
	}
	crmRcv.WaitT(t, 2, 10*time.Second)
}

// failing_after raises webhook.failing once per streak of failures: a
// success ends the streak and the next streak raises it again.
func TestEngineFailingOncePerStreak(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	crmRcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		if fail.Load() {
			return answer(500)
		}
		return answer(200)
	})
	opsRcv := rcvr.Start(t, nil)
	ops := mapping.Spec{Name: "ops", URL: opsRcv.URL, Events: []cdr.Type{cdr.TypeWebhookFailing},
		Params: []mapping.Param{{Name: "failures", Expr: "record.consecutive_failures"}}}
	r := start(t, sqliteBackend.open(t), []Webhook{
		newHook(t, spec("crm", crmRcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.MaxAttempts, w.FailingAfter = 1, 2 }),
		newHook(t, ops),
	}, Options{})
	for i := range 5 {
		r.accept(ended(i))
	}
	crmRcv.WaitT(t, 5, 10*time.Second)
	opsRcv.WaitT(t, 1, 10*time.Second)
	quiet(t, "raised twice in one streak", func() bool { return opsRcv.Count() > 1 })
	if paused, _ := r.st.Paused(t.Context()); paused["crm"] {
		t.Fatal("paused without pause_on_failing")
	}
	fail.Store(false)
	r.accept(ended(5))
	crmRcv.WaitT(t, 6, 10*time.Second)
	r.settled("crm", "settled", func(d store.Delivery) bool { return d.Status != store.StatusPending })
	fail.Store(true)
	r.accept(ended(6))
	crmRcv.WaitT(t, 7, 10*time.Second)
	quiet(t, "raised after one failure", func() bool { return opsRcv.Count() > 1 })
	r.accept(ended(7))
	got := opsRcv.WaitT(t, 2, 10*time.Second)
	if m := body(t, got[1]); m["failures"] != float64(2) {
		t.Fatalf("second streak's event %v", m)
	}
	quiet(t, "raised more than twice", func() bool { return opsRcv.Count() > 2 })
}

// The per-webhook concurrency limit is never exceeded, and is reached.
func TestEngineConcurrencyLimit(t *testing.T) {
	t.Parallel()
	var cur, peak atomic.Int64
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		cur.Add(-1)
		return answer(200)
	})
	r := start(t, sqliteBackend.open(t), []Webhook{newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Concurrency = 3 })}, Options{})
	evs := make([]cdr.Event, 12)
	for i := range evs {
		evs[i] = ended(i)
	}
	r.accept(evs...)
	rcv.WaitT(t, 12, 20*time.Second)
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak concurrency %d, want 3", p)
	}
	if m := r.eng.hook("crm").maxSeen.Load(); m > 3 {
		t.Fatalf("engine had %d jobs of the webhook at once", m)
	}
}

// Stop with slow requests in flight returns within its deadline; the
// interrupted deliveries stay pending and the next engine delivers them.
func TestEngineStopInFlight(t *testing.T) {
	t.Parallel()
	var hang atomic.Bool
	hang.Store(true)
	var arrived atomic.Int64
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		arrived.Add(1)
		if hang.Load() {
			return rcvr.Response{Delay: time.Minute}
		}
		return answer(200)
	})
	st := sqliteBackend.open(t)
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Timeout = 30 * time.Second })
	clk := newClock()
	eng, err := New(st, []Webhook{h}, Options{Owner: "first", Client: NewClient(true), PollInterval: 5 * time.Millisecond, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := eng.Accept(t.Context(), []cdr.Event{ended(i)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "4 requests in flight", func() bool { return arrived.Load() == 4 })
	const deadline = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	began := time.Now()
	if err := eng.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	took := time.Since(began)
	if took > deadline+100*time.Millisecond {
		t.Fatalf("stop took %s, deadline %s", took, deadline)
	}
	if err := eng.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if eng.Start(t.Context()) == nil {
		t.Fatal("a stopped engine started again")
	}
	r := &rig{t: t, st: st}
	ds := r.deliveries("crm")
	for _, d := range ds {
		if d.Status != store.StatusPending || d.LeaseOwner != "" {
			t.Fatalf("after stop: %+v", d)
		}
		_, as, _ := st.GetDelivery(t.Context(), d.ID)
		if d.Attempts > 0 && (len(as) != 1 || !strings.Contains(as[0].Error, "gateway stopping")) {
			t.Fatalf("interrupted attempt logged as %+v", as)
		}
	}
	if hs, _ := eng.Health("crm"); hs.Attempts != 0 {
		t.Fatalf("interrupted attempts counted in health: %+v", hs)
	}
	t.Logf("stop with 4 requests in flight took %s", took)

	hang.Store(false)
	r2 := start(t, st, []Webhook{h}, Options{Owner: "second"})
	r2.settled("crm", "delivered by the next engine", status(store.StatusDelivered))
	if n := len(r2.deliveries("crm")); n != 6 {
		t.Fatalf("%d deliveries, want 6", n)
	}
}

// A job claimed but not sent when Stop cancels is released: pending, due
// now, not leased, no attempt logged or counted.
func TestEngineReleaseUnsent(t *testing.T) {
	t.Parallel()
	st := sqliteBackend.open(t)
	rcv := rcvr.Start(t, nil)
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded))
	clk := newClock()
	eng, err := New(st, []Webhook{h}, Options{Owner: "o", Client: NewClient(true), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Accept(t.Context(), []cdr.Event{ended(1)}); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.Claim(t.Context(), store.ClaimParams{Owner: "o#1", Now: clk.Now(), Limit: 1, Lease: time.Hour, Webhook: "crm"})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %v", jobs, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	o := eng.attempt(ctx, eng.hook("crm"), jobs[0])
	if !o.release || o.res.Owner != "o#1" {
		t.Fatalf("outcome %+v, want a release by o#1", o)
	}
	// Run it through the finish loop as Stop would.
	eng.writeWG.Add(1)
	go func() { defer eng.writeWG.Done(); eng.finishLoop() }()
	eng.results <- o
	close(eng.results)
	eng.writeWG.Wait()
	d, as, err := st.GetDelivery(t.Context(), jobs[0].Delivery.ID)
	if err != nil || d.Status != store.StatusPending || d.LeaseOwner != "" || d.Attempts != 0 || len(as) != 0 || d.NextAttemptAt.After(clk.Now()) {
		t.Fatalf("after release: %+v, %d attempts logged, %v", d, len(as), err)
	}
	if rcv.Count() != 0 {
		t.Fatal("a released job was sent")
	}
	eng.bgCancel()
}

// A result that comes back after its lease was taken again, even by the
// same process, does not change the newer lease's delivery: every claim
// leases under its own owner token.
func TestEngineClaimTokens(t *testing.T) {
	t.Parallel()
	st := sqliteBackend.open(t)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	var calls atomic.Int64
	rcv := rcvr.Start(t, func(*rcvr.Request) rcvr.Response {
		if calls.Add(1) == 1 {
			<-release // the first attempt outlives its lease
			return answer(500)
		}
		return answer(200)
	})
	t.Cleanup(unblock) // before the receiver closes
	h := newHook(t, spec("crm", rcv.URL, cdr.TypeCallEnded), func(w *Webhook) { w.Timeout = 10 * time.Second })
	r := start(t, st, []Webhook{h}, Options{Lease: 11 * time.Second})
	r.accept(ended(1))
	eventually(t, 10*time.Second, "first attempt in flight", func() bool { return calls.Load() == 1 })
	r.clock.Advance(12 * time.Second) // lease expired: the same engine claims again
	r.settled("crm", "delivered by the second claim", status(store.StatusDelivered))
	unblock()
	eventually(t, 10*time.Second, "stale result logged", func() bool {
		_, as := r.only("crm")
		return len(as) == 2
	})
	if d, _ := r.only("crm"); d.Status != store.StatusDelivered || d.Attempts != 1 {
		t.Fatalf("the stale 500 changed the delivery: %+v", d)
	}
}

func TestEngineNewValidates(t *testing.T) {
	t.Parallel()
	st := sqliteBackend.open(t)
	w := newHook(t, spec("crm", "http://127.0.0.1:1/", cdr.TypeCallEnded))
	tests := []struct {
		name  string
		hooks []Webhook
		opts  Options
		want  string
	}{
		{"no owner", []Webhook{w}, Options{}, "Owner"},
		{"duplicate", []Webhook{w, w}, Options{Owner: "o"}, `"crm" defined twice`},
		{"short lease", []Webhook{w}, Options{Owner: "o", Lease: time.Second}, "Options.Lease 1s"},
		{"no renderer", []Webhook{{Name: "x"}}, Options{Owner: "o"}, `"x": renderer`},
		{"no name", []Webhook{{}}, Options{Owner: "o"}, "webhooks[0]: name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(st, tc.hooks, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
