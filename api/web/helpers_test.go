package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/cdrgw/cdrgw/api/web"
	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/ingest"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/store/sqlite"
)

const (
	token = "s3cret-admin-token"
	// configSecret is the signing secret of the config file's webhook.
	configSecret = "whsec_c2VjcmV0LWtleS1vZi1jcm0="
	// urlPassword is the password in the config webhook's URL.
	urlPassword = "hunter2pw"
)

// The real engine, store and set are what the console is built for.
var (
	_ web.Engine     = (*delivery.Engine)(nil)
	_ web.Store      = (*sqlite.Store)(nil)
	_ web.EventStore = (*sqlite.Store)(nil)
	_ web.Webhooks   = (*webhookset.Set)(nil)
	_ web.Sources    = (*ingest.Board)(nil)
)

// receiver is a loopback webhook receiver answering with a settable status.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []*http.Request
	bodies []string
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.status.Store(http.StatusOK)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req)
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		w.WriteHeader(int(r.status.Load()))
		_, _ = io.WriteString(w, "thanks from the receiver")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bundle is a console over a real SQLite store, delivery engine (not
// started: deliveries stay pending unless resent) and webhook set.
type bundle struct {
	t     testing.TB
	srv   *httptest.Server
	rcv   *receiver
	st    *sqlite.Store
	eng   *delivery.Engine
	set   *webhookset.Set
	board *ingest.Board
	clock *clock
	c     *http.Client // cookie jar, no redirects followed
}

type setupOpts struct {
	token string
}

func setup(t testing.TB, so setupOpts) *bundle {
	t.Helper()
	ctx := t.Context()
	b := &bundle{t: t, rcv: newReceiver(t), clock: &clock{t: time.Now().UTC()}}
	u, _ := url.Parse(b.rcv.URL)
	yaml := fmt.Sprintf(`
store: sqlite://unused.db
listen: 127.0.0.1:0
allow_private_targets: true
webhooks:
  - name: crm
    url: http://gw:%s@%s/crm?api_key=k3y
    events: [queue.ended, call.ended]
    params:
      call: record.call_id
      caller: record.caller.number
    secrets: [%q]
`, urlPassword, u.Host, configSecret)
	cfg, err := config.Load([]byte(yaml), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hooks, err := webhookset.EngineWebhooks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	eng, err := delivery.New(st, hooks, delivery.Options{Owner: "web-test", Logger: log, Client: delivery.NewClient(true),
		Source: cdr.SourceRef{Kind: "cdrgw", Name: "cdrgw"}})
	if err != nil {
		t.Fatal(err)
	}
	set := webhookset.New(cfg, st, eng, log)
	if err := set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	b.st, b.eng, b.set = st, eng, set
	b.board = ingest.NewBoard(b.clock.Now)
	h := web.New(web.Options{Token: so.token, Webhooks: set, Engine: eng, Store: st, Events: st, Sources: b.board,
		Logger: log, Now: b.clock.Now})
	b.srv = httptest.NewServer(h)
	t.Cleanup(b.srv.Close)
	jar, _ := cookiejar.New(nil)
	// Its own transport: httptest.Server.Close closes the idle connections
	// of http.DefaultTransport, which would break a parallel test's POST.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	b.c = &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

// resp is an answer with its parsed page.
type resp struct {
	*http.Response
	Body string
	Doc  *html.Node
}

func (b *bundle) do(req *http.Request) *resp {
	b.t.Helper()
	r, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		b.t.Fatalf("%s %s: parse HTML: %v", req.Method, req.URL, err)
	}
	return &resp{Response: r, Body: string(body), Doc: doc}
}

func (b *bundle) get(path string) *resp {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodGet, b.srv.URL+path, nil)
	return b.do(req)
}

// postRaw posts a form as is.
func (b *bundle) postRaw(path string, form url.Values, header ...string) *resp {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// post posts a form with the session's CSRF token (read from /sources).
func (b *bundle) post(path string, form url.Values) *resp {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf())
	return b.postRaw(path, form)
}

// csrf returns the CSRF token pages carry for the current session.
func (b *bundle) csrf() string {
	b.t.Helper()
	r := b.get("/sources")
	n := find(r.Doc, el("meta", "name", "csrf-token"))
	if n == nil {
		b.t.Fatalf("GET /sources (status %d): no csrf-token meta", r.StatusCode)
	}
	return attr(n, "content")
}

// login signs in with the admin token.
func (b *bundle) login() {
	b.t.Helper()
	r := b.postRaw("/login", url.Values{"token": {token}, "next": {"/webhooks"}})
	if r.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST /login: status %d, want 303:\n%s", r.StatusCode, r.Body)
	}
}

// follow GETs the Location of a redirect.
func (b *bundle) follow(r *resp) *resp {
	b.t.Helper()
	if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusFound {
		b.t.Fatalf("status %d, want a redirect; page:\n%s", r.StatusCode, r.Body)
	}
	return b.get(r.Header.Get("Location"))
}

func want(t *testing.T, r *resp, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; errors: %q", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, texts(r.Doc, el("", "class", "error")))
	}
}

// el matches an element by tag ("" for any) and attribute pairs; "class"
// matches one of the element's classes.
func el(tag string, kv ...string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode || (tag != "" && n.Data != tag) {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v, ok := attrOK(n, kv[i])
			if !ok {
				return false
			}
			if kv[i] == "class" {
				if !containsField(v, kv[i+1]) {
					return false
				}
			} else if kv[i+1] != "*" && v != kv[i+1] {
				return false
			}
		}
		return true
	}
}

func containsField(s, f string) bool {
	for _, x := range strings.Fields(s) {
		if x == f {
			return true
		}
	}
	return false
}

func attrOK(n *html.Node, k string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == k {
			return a.Val, true
		}
	}
	return "", false
}

func attr(n *html.Node, k string) string { v, _ := attrOK(n, k); return v }

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if all := findAll(n, match); len(all) > 0 {
		return all[0]
	}
	return nil
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// rawText is n's text with its whitespace kept (pre elements).
func rawText(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func texts(n *html.Node, match func(*html.Node) bool) []string {
	var out []string
	for _, x := range findAll(n, match) {
		out = append(out, text(x))
	}
	return out
}

// in returns the first element matching inner inside the first matching outer.
func in(n *html.Node, outer, inner func(*html.Node) bool) *html.Node {
	o := find(n, outer)
	if o == nil {
		return nil
	}
	return find(o, inner)
}

// acceptEvents stores events through the engine (deliveries stay pending).
func (b *bundle) acceptEvents(evs ...cdr.Event) {
	b.t.Helper()
	if err := b.eng.Accept(context.WithoutCancel(b.t.Context()), evs); err != nil {
		b.t.Fatal(err)
	}
}
