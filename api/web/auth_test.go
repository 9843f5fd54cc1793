package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/api/web"
)

func sessionCookie(t *testing.T, r *resp) *http.Cookie {
	t.Helper()
	for _, c := range r.Cookies() {
		if c.Name == web.CookieName {
			return c
		}
	}
	t.Fatalf("%s %s: no %s cookie set", r.Request.Method, r.Request.URL.Path, web.CookieName)
	return nil
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})

	r := b.get("/deliveries?status=pending")
	want(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login?next="+url.QueryEscape("/deliveries?status=pending") {
		t.Fatalf("signed-out GET redirects to %q", loc)
	}
	r = b.follow(r)
	want(t, r, http.StatusOK)
	if find(r.Doc, el("form", "id", "login")) == nil || find(r.Doc, el("input", "id", "token", "name", "token")) == nil ||
		find(r.Doc, el("button", "id", "login-submit")) == nil {
		t.Fatalf("/login lacks form#login, input#token[name=token] or button#login-submit:\n%s", r.Body)
	}
	if find(r.Doc, el("a", "id", "nav-webhooks")) != nil {
		t.Errorf("/login shows the navigation to a signed-out browser")
	}

	r = b.postRaw("/login", url.Values{"token": {"wrong"}, "next": {"/deliveries"}})
	want(t, r, http.StatusUnauthorized)
	if got := texts(r.Doc, el("", "class", "error")); len(got) == 0 {
		t.Errorf("a wrong token shows no .error")
	}
	if len(r.Cookies()) != 0 {
		t.Errorf("a wrong token set cookies %v", r.Cookies())
	}

	r = b.postRaw("/login", url.Values{"token": {token}, "next": {"/deliveries?status=pending"}})
	want(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/deliveries?status=pending" {
		t.Errorf("sign-in redirects to %q, want the page asked for", loc)
	}
	ck := sessionCookie(t, r)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure {
		t.Errorf("cookie: HttpOnly %v, SameSite %v, Path %q, Secure %v; want HttpOnly, Strict, /, not Secure over plain HTTP",
			ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure)
	}
	if strings.Contains(ck.Value, token) {
		t.Errorf("the session cookie holds the admin token")
	}
	if ck.MaxAge <= 0 || ck.MaxAge > int((12*time.Hour).Seconds()) {
		t.Errorf("cookie Max-Age %d, want within 12 h", ck.MaxAge)
	}
	r = b.get("/webhooks")
	want(t, r, http.StatusOK)
	if find(r.Doc, el("form", "id", "logout-form")) == nil || find(r.Doc, el("button", "id", "logout")) == nil {
		t.Errorf("signed-in page lacks form#logout-form with button#logout")
	}
	for _, id := range []string{"nav-webhooks", "nav-deliveries", "nav-sources", "nav-events"} {
		if find(r.Doc, el("a", "id", id)) == nil {
			t.Errorf("nav lacks a#%s", id)
		}
	}

	// Sign out: the cookie is cleared and the old value no longer works.
	old := ck.Value
	r = b.post("/logout", nil)
	want(t, r, http.StatusSeeOther)
	if c := sessionCookie(t, r); c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("logout cookie: value %q, Max-Age %d; want cleared", c.Value, c.MaxAge)
	}
	want(t, b.get("/webhooks"), http.StatusSeeOther)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.srv.URL+"/webhooks", nil)
	req.AddCookie(&http.Cookie{Name: web.CookieName, Value: old})
	want(t, b.do(req), http.StatusSeeOther)
}

func TestSessionCookieChecks(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	u, _ := url.Parse(b.srv.URL)
	var value string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == web.CookieName {
			value = c.Value
		}
	}
	if value == "" {
		t.Fatal("no session cookie in the jar")
	}
	get := func(v string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.srv.URL+"/sources", nil)
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: v})
		r, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if s := get(value); s != http.StatusOK {
		t.Fatalf("valid cookie: status %d", s)
	}
	i := strings.LastIndexByte(value, '.')
	flipped := value[:i-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", value[i-1])+1)%16]) + value[i:]
	for name, v := range map[string]string{
		"tampered session id": flipped,
		"no signature":        value[:i],
		"garbage":             "x.y.z",
		"empty":               "",
		"token as cookie":     token,
	} {
		if s := get(v); s != http.StatusSeeOther {
			t.Errorf("%s: status %d, want 303 to /login", name, s)
		}
	}
	b.clock.Add(12*time.Hour + time.Second)
	if s := get(value); s != http.StatusSeeOther {
		t.Errorf("expired session: status %d, want 303 to /login", s)
	}
}

func TestLoginNextStaysOnSite(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""} {
		r := b.postRaw("/login", url.Values{"token": {token}, "next": {next}})
		want(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/webhooks" {
			t.Errorf("next %q: redirect to %q, want /webhooks", next, loc)
		}
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	b.acceptEvents(queueEvent(1, "csrf-call", "+15550001"))
	other := setup(t, setupOpts{token: token})
	other.login()
	otherToken := other.csrf()

	evID := queueEvent(1, "csrf-call", "+15550001").ID
	posts := []string{"/webhooks/crm/pause", "/webhooks/crm/resume", "/webhooks/new", "/webhooks/preview",
		"/webhooks/crm/edit", "/webhooks/crm/delete", "/deliveries/x/resend", "/events/" + evID + "/replay", "/logout"}
	for _, path := range posts {
		for name, form := range map[string]url.Values{
			"without csrf":             {"webhook": {"crm"}},
			"with a wrong csrf":        {"webhook": {"crm"}, "csrf": {"wrong"}},
			"with another session's":   {"webhook": {"crm"}, "csrf": {otherToken}},
			"with an empty csrf value": {"webhook": {"crm"}, "csrf": {""}},
		} {
			if r := b.postRaw(path, form); r.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s %s: status %d, want 403", path, name, r.StatusCode)
			}
		}
		r := b.postRaw(path, url.Values{}, "X-CSRF-Token", "wrong")
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s with a wrong X-CSRF-Token: status %d, want 403", path, r.StatusCode)
		}
	}
	// Nothing changed.
	for _, wi := range b.eng.Webhooks() {
		if wi.Paused {
			t.Errorf("webhook %s paused by a rejected POST", wi.Name)
		}
	}
	if ds, _, _ := b.st.ListDeliveries(t.Context(), storeFilterEvent(evID)); len(ds) != 1 {
		t.Errorf("event has %d deliveries after rejected replays, want 1", len(ds))
	}
	// A same-session POST from another site is refused even with the token.
	tok := b.csrf()
	for _, h := range [][]string{{"Origin", "https://evil.example"}, {"Origin", "null"}, {"Sec-Fetch-Site", "cross-site"}} {
		r := b.postRaw("/webhooks/crm/pause", url.Values{"csrf": {tok}}, h...)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("POST with %s: %s: status %d, want 403", h[0], h[1], r.StatusCode)
		}
	}
	// The right token from this site works.
	r := b.postRaw("/webhooks/crm/pause", url.Values{"csrf": {tok}}, "Origin", b.srv.URL, "Sec-Fetch-Site", "same-origin")
	want(t, r, http.StatusSeeOther)
	// Signed out, a POST is refused too.
	b.post("/logout", nil)
	if r := b.postRaw("/webhooks/crm/resume", url.Values{"csrf": {tok}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST after sign-out: status %d, want 403", r.StatusCode)
	}
}

func TestOpenConsole(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: ""})
	r := b.get("/webhooks")
	want(t, r, http.StatusOK)
	ck := sessionCookie(t, r)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("open console cookie: HttpOnly %v, SameSite %v", ck.HttpOnly, ck.SameSite)
	}
	if find(r.Doc, el("form", "id", "logout-form")) != nil {
		t.Errorf("an open console offers to sign out")
	}
	want(t, b.get("/login"), http.StatusSeeOther)
	if r := b.postRaw("/webhooks/crm/pause", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Errorf("open console POST without csrf: status %d, want 403", r.StatusCode)
	}
	want(t, b.post("/webhooks/crm/pause", nil), http.StatusSeeOther)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	b.login()
	for _, path := range []string{"/webhooks", "/login", "/deliveries", "/sources", "/events", "/webhooks/new", "/nope"} {
		r := b.get(path)
		h := r.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q, X-Content-Type-Options %q", path, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, h.Get("Cache-Control"))
		}
		if strings.Contains(r.Body, "<script>") || strings.Contains(r.Body, " style=") || strings.Contains(r.Body, " onclick=") {
			t.Errorf("%s: inline script or style in the page", path)
		}
	}
	r := b.get("/webhooks")
	for _, n := range append(findAll(r.Doc, el("link", "rel", "stylesheet")), findAll(r.Doc, el("script"))...) {
		src := attr(n, "href") + attr(n, "src")
		if !strings.HasPrefix(src, "/assets/") {
			t.Errorf("asset %q is not served by the console", src)
			continue
		}
		a := b.get(src)
		want(t, a, http.StatusOK)
		if !strings.Contains(a.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: Cache-Control %q, want a long-lived cache for a versioned asset", src, a.Header.Get("Cache-Control"))
		}
		if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") && !strings.Contains(ct, "javascript") {
			t.Errorf("%s: Content-Type %q", src, ct)
		}
	}
	want(t, b.get("/assets/nope.js"), http.StatusNotFound)
}

func TestSecureCookieBehindTLS(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{token: token})
	r := b.postRaw("/login", url.Values{"token": {token}}, "X-Forwarded-Proto", "https")
	want(t, r, http.StatusSeeOther)
	if ck := sessionCookie(t, r); !ck.Secure {
		t.Errorf("cookie set for an https request is not Secure")
	}
}
