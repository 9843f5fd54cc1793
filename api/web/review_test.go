package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Browsers drop tabs and newlines from URLs and read "\" as "/": none of
// these may take the browser off the site after sign-in.
func TestLoginNextRejectsBrowserQuirks(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	for _, next := range []string{"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\t\\evil.example",
		"/x\\..\\..\\evil.example", "/ /evil.example", "/\u00a0/evil.example", "/\x7f/evil.example"} {
		r := b.postRaw("/login", url.Values{"token": {token}, "next": {next}})
		want(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/webhooks" {
			t.Errorf("POST /login next %q: redirect to %q, want /webhooks", next, loc)
		}
		// Already signed in, GET /login redirects to next at once.
		r = b.get("/login?next=" + url.QueryEscape(next))
		if loc := r.Header.Get("Location"); loc != "/webhooks" {
			t.Errorf("GET /login next %q: redirect to %q, want /webhooks", next, loc)
		}
	}
	// A plain path with a query is kept.
	r := b.postRaw("/login", url.Values{"token": {token}, "next": {"/deliveries?status=failed"}})
	if loc := r.Header.Get("Location"); loc != "/deliveries?status=failed" {
		t.Errorf("next /deliveries?status=failed: redirect to %q", loc)
	}
}

// The preview shows the request without credentials: sensitive headers
// (Authorization, X-Api-Key, ...) are hidden as in the attempt log.
func TestPreviewHidesSensitiveHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	f := editorForm("h", b.rcv.URL+"/h")
	f.Set("headers", "Authorization: \"Bearer tok-1234567890\"\nX-Api-Key: \"key-0987654321\"\nX-Queue: record.queue.name")
	f.Del("action")
	r := b.postRaw("/webhooks/preview", f, "X-CSRF-Token", b.csrf())
	want(t, r, http.StatusOK)
	req := rawText(find(r.Doc, el("pre", "id", "preview-request")))
	if req == "" {
		t.Fatalf("no preview:\n%s", r.Body)
	}
	for _, secret := range []string{"tok-1234567890", "key-0987654321"} {
		if strings.Contains(req, secret) {
			t.Errorf("preview shows %q:\n%s", secret, req)
		}
	}
	if !strings.Contains(req, "X-Queue: Sales") || !strings.Contains(req, "Authorization: [redacted]") {
		t.Errorf("preview headers:\n%s", req)
	}
}

// An open console (no admin token, loopback only) answers only requests
// addressed to a loopback host, so that a web page whose DNS name is
// rebound to 127.0.0.1 cannot read pages or CSRF tokens.
func TestOpenConsoleRefusesForeignHost(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: ""})
	get := func(host string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.srv.URL+"/webhooks", nil)
		req.Host = host
		return b.do(req).StatusCode
	}
	for _, host := range []string{"evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example"} {
		if s := get(host); s != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: status %d, want 421", host, s)
		}
	}
	for _, host := range []string{"127.0.0.1", "127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.1.2.3"} {
		if s := get(host); s != http.StatusOK {
			t.Errorf("Host %q: status %d, want 200", host, s)
		}
	}
	// With an admin token the console may be served under any name.
	s := setup(t, setupOpts{token: token})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.URL+"/login", nil)
	req.Host = "gw.example.com"
	want(t, s.do(req), http.StatusOK)
}

// Failed sign-ins are limited per client address: after loginFailures
// wrong tokens within the window every attempt is refused with 429 (even
// the right token) until the window ends.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	wrong := url.Values{"token": {"guess"}}
	n := 0
	for ; n < 50; n++ {
		r := b.postRaw("/login", wrong)
		if r.StatusCode == http.StatusTooManyRequests {
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			break
		}
		want(t, r, http.StatusUnauthorized)
	}
	if n == 0 || n >= 50 {
		t.Fatalf("refused after %d wrong tokens, want a limit between 1 and 49", n)
	}
	if r := b.postRaw("/login", url.Values{"token": {token}}); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right token while locked out: status %d, want 429", r.StatusCode)
	}
	b.clock.Add(15 * time.Minute)
	want(t, b.postRaw("/login", url.Values{"token": {token}}), http.StatusSeeOther)
}

// A page link cannot plant text in the flash of the webhooks page: the
// name must be a webhook the set knows (or, after a delete, one it no
// longer has but a valid name).
func TestFlashIsNotFreeText(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	r := b.get("/webhooks?paused=" + url.QueryEscape("crm. Your session expired, sign in at evil.example"))
	want(t, r, http.StatusOK)
	if strings.Contains(r.Body, "evil.example") {
		t.Errorf("the flash shows text from the link")
	}
}

// The editor does not show a stored webhook's credentials (URL userinfo,
// secret query values, sensitive headers); saving the form as shown keeps
// them.
func TestEditorHidesAndKeepsCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	u := strings.Replace(b.rcv.URL, "http://", "http://user:pa55@", 1) + "/k?api_key=k3y-999"
	f := editorForm("k", u)
	f.Set("headers", "Authorization: \"Bearer tok-4242\"\nX-Queue: record.queue.name")
	want(t, b.follow(b.post("/webhooks/new", f)), http.StatusOK)

	r := b.get("/webhooks/k/edit")
	want(t, r, http.StatusOK)
	for _, s := range []string{"pa55", "k3y-999", "tok-4242"} {
		if strings.Contains(r.Body, s) {
			t.Errorf("editor page shows %q", s)
		}
	}
	// Send the form back as the page shows it, with one change.
	form := url.Values{"action": {"save"}, "name": {"k"}, "events": {"queue.ended"}, "active": {"on"}, "timeout": {"9s"}}
	for _, name := range []string{"url", "method", "encoding", "retry_attempts", "retry_interval"} {
		n := find(r.Doc, el("", "name", name))
		if n == nil {
			t.Fatalf("no field %s", name)
		}
		v := attr(n, "value")
		if sel := find(n, el("option", "selected", "")); n.Data == "select" && sel != nil {
			v = text(sel)
		}
		form.Set(name, v)
	}
	form.Set("params", rawText(find(r.Doc, el("textarea", "name", "params"))))
	form.Set("headers", rawText(find(r.Doc, el("textarea", "name", "headers"))))
	want(t, b.post("/webhooks/k/edit", form), http.StatusSeeOther)
	e, _ := b.set.Get("k")
	if e.Spec.URL != u || e.Spec.Timeout != "9s" {
		t.Errorf("after save: URL %q, timeout %q", e.Spec.URL, e.Spec.Timeout)
	}
	if v, _ := e.Spec.Headers.Get("Authorization"); v != `"Bearer tok-4242"` {
		t.Errorf("after save: Authorization %q", v)
	}
}

// Without a session nothing but the sign-in page and the assets is served,
// whatever the method, trailing slash or escaping of the path.
func TestNoBypassWithoutSession(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/webhooks"}, {"HEAD", "/webhooks"}, {"OPTIONS", "/webhooks"}, {"GET", "/webhooks/"},
		{"GET", "/webhooks/crm/edit"}, {"GET", "/webhooks/crm%2Fx/edit"}, {"GET", "/%77ebhooks"}, {"GET", "/assets/../webhooks"},
		{"GET", "/deliveries"}, {"GET", "/events"}, {"GET", "/sources"}, {"GET", "/events/x"}, {"PUT", "/webhooks/crm/edit"},
		{"POST", "/webhooks/crm/pause"}, {"POST", "/webhooks/preview"}, {"POST", "/webhooks/new"}, {"DELETE", "/webhooks/crm"},
		{"POST", "/logout"}, {"GET", "/assets/"}, {"GET", "/assets/console.js/"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, b.srv.URL+tc.path, nil)
		r := b.do(req)
		switch r.StatusCode {
		case http.StatusSeeOther, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
			if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/login") && !strings.HasPrefix(loc, "/webhooks") &&
				!strings.HasPrefix(loc, "/assets/") {
				t.Errorf("%s %s: redirect to %q", tc.method, tc.path, loc)
			}
		case http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		default:
			t.Errorf("%s %s without a session: status %d", tc.method, tc.path, r.StatusCode)
		}
		if strings.Contains(r.Body, "csrf-token") || strings.Contains(r.Body, "table id=\"webhooks\"") {
			t.Errorf("%s %s without a session shows a page", tc.method, tc.path)
		}
	}
	if b.eng.Webhooks()[0].Paused {
		t.Error("a POST without a session paused a webhook")
	}
}

// Form bodies are limited (1 MiB), sign-in included.
func TestFormBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	big := url.Values{"token": {token}, "pad": {strings.Repeat("x", 2<<20)}}
	if r := b.postRaw("/login", big); r.StatusCode == http.StatusSeeOther {
		t.Errorf("POST /login with a 2 MiB body: signed in")
	}
	b.login()
	f := editorForm("big", b.rcv.URL)
	f.Set("params", "a: "+strings.Repeat("1", 2<<20))
	f.Set("csrf", b.csrf())
	if r := b.postRaw("/webhooks/new", f); r.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /webhooks/new with a 2 MiB body: status %d, want 400", r.StatusCode)
	}
	if _, ok := b.set.Get("big"); ok {
		t.Error("an oversized form created a webhook")
	}
}

// A stored webhook's secrets can be removed from the editor (an empty box
// alone keeps them).
func TestEditorClearsSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	want(t, b.post("/webhooks/new", editorForm("s", b.rcv.URL+"/s")), http.StatusSeeOther)
	f := editorForm("s", b.rcv.URL+"/s")
	f.Set("secrets", "")
	want(t, b.post("/webhooks/s/edit", f), http.StatusSeeOther)
	if e, _ := b.set.Get("s"); len(e.Spec.Secrets) != 1 {
		t.Fatalf("an empty box did not keep the secret: %q", e.Spec.Secrets)
	}
	r := b.get("/webhooks/s/edit")
	if find(r.Doc, el("input", "name", "secrets_clear")) == nil {
		t.Fatalf("no secrets_clear checkbox")
	}
	f.Set("secrets_clear", "on")
	want(t, b.post("/webhooks/s/edit", f), http.StatusSeeOther)
	if e, _ := b.set.Get("s"); len(e.Spec.Secrets) != 0 {
		t.Errorf("secrets after clearing: %q", e.Spec.Secrets)
	}
}
