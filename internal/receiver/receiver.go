// Package receiver is a recording HTTP webhook receiver on loopback, used by
// tests and benchmarks: it records every request and answers as told.
package receiver

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Request is one request the receiver got.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Response is how the receiver answers a request.
type Response struct {
	Status int               // 0 means 200
	Header map[string]string // extra response headers
	Body   string
	Delay  time.Duration // wait before answering (cut short when the client goes away)
}

// Receiver is a running receiver.
type Receiver struct {
	URL string // base URL, http://127.0.0.1:PORT

	srv     *http.Server
	respond func(*Request) Response

	mu       sync.Mutex
	requests []Request
	notify   chan struct{}
}

// OK answers every request with 200.
func OK(*Request) Response { return Response{Status: http.StatusOK} }

// Start starts a receiver on 127.0.0.1 that answers with respond (nil means
// OK) and stops it when the test ends.
func Start(tb testing.TB, respond func(*Request) Response) *Receiver {
	tb.Helper()
	r, err := Listen("127.0.0.1:0", respond)
	if err != nil {
		tb.Fatalf("receiver: %v", err)
	}
	tb.Cleanup(r.Close)
	return r
}

// Listen starts a receiver on addr; Close stops it.
func Listen(addr string, respond func(*Request) Response) (*Receiver, error) {
	if respond == nil {
		respond = OK
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + ln.Addr().String(), respond: respond, notify: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed on Close
	return r, nil
}

// Close stops the receiver and drops open connections.
func (r *Receiver) Close() { r.srv.Close() }

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	body, _ := io.ReadAll(hr.Body)
	req := Request{Method: hr.Method, Path: hr.URL.Path, Query: hr.URL.RawQuery, Header: hr.Header.Clone(), Body: body, At: time.Now()}
	resp := r.respond(&req)
	if resp.Delay > 0 {
		select {
		case <-time.After(resp.Delay):
		case <-hr.Context().Done():
			return
		}
	}
	r.mu.Lock()
	r.requests = append(r.requests, req)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	w.WriteHeader(resp.Status)
	io.WriteString(w, resp.Body)
}

// Requests returns a copy of the requests answered so far, in order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Count returns how many requests were answered.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

// Wait waits until at least n requests were answered or ctx ends, and
// returns the requests answered so far.
func (r *Receiver) Wait(ctx context.Context, n int) []Request {
	for {
		r.mu.Lock()
		got, ch := len(r.requests), r.notify
		r.mu.Unlock()
		if got >= n {
			return r.Requests()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r.Requests()
		}
	}
}

// WaitT is Wait with a timeout that fails the test when fewer than n arrive.
func (r *Receiver) WaitT(tb testing.TB, n int, timeout time.Duration) []Request {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := r.Wait(ctx, n)
	if len(got) < n {
		tb.Fatalf("receiver: %d requests after %s, want %d", len(got), timeout, n)
	}
	return got
}

// IDs counts the requests per webhook-id header (the delivery id).
func (r *Receiver) IDs() map[string]int {
	ids := map[string]int{}
	for _, q := range r.Requests() {
		ids[q.Header.Get("webhook-id")]++
	}
	return ids
}
