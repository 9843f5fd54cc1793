package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// maxForm is the largest form body a POST may carry.
const maxForm = 1 << 20

// contentSecurityPolicy allows only the console's own files: no inline
// script or style, no framing, forms only to this site.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// console serves the pages.
type console struct {
	o      Options
	log    *slog.Logger
	sess   *sessions
	pages  map[string]*template.Template
	assets map[string]asset
	mux    *http.ServeMux

	outcomes *outcomesCache // nil without Options.Events
	logins   *loginLimiter
}

type asset struct {
	body    []byte
	ctype   string
	version string // short content hash
}

// New returns the console's handler, meant to be mounted at "/" (the admin
// API, ingest and health endpoints take precedence on their own paths). It
// panics when o.Engine or o.Store is nil.
func New(o Options) http.Handler {
	if o.Engine == nil || o.Store == nil {
		panic("web.New: Options.Engine and Options.Store are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sample == nil {
		o.Sample = mapping.SampleEvent
	}
	if o.Preview == nil {
		o.Preview = webhookset.Preview
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	c := &console{o: o, log: o.Logger, sess: newSessions(o.Token, o.SessionTTL, o.Now), mux: http.NewServeMux(),
		logins: newLoginLimiter(o.Now)}
	if o.Events != nil {
		c.outcomes = &outcomesCache{base: o.Context, st: o.Events, now: o.Now, wait: outcomesWait}
	}
	c.loadAssets()
	c.loadTemplates()
	c.routes()
	return c
}

func (c *console) routes() {
	m := c.mux
	m.HandleFunc("GET /assets/{file}", c.serveAsset)
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.HandleFunc("POST /logout", c.post(c.logout))
	m.HandleFunc("GET /{$}", c.get(func(w http.ResponseWriter, r *http.Request, _ *reqCtx) {
		http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
	}))

	m.HandleFunc("GET /webhooks", c.get(c.webhooksPage))
	m.HandleFunc("POST /webhooks/{name}/pause", c.post(c.pause(true)))
	m.HandleFunc("POST /webhooks/{name}/resume", c.post(c.pause(false)))
	m.HandleFunc("GET /webhooks/new", c.get(c.newWebhook))
	m.HandleFunc("POST /webhooks/new", c.post(c.submitWebhook))
	m.HandleFunc("POST /webhooks/preview", c.post(c.previewFragment))
	m.HandleFunc("GET /webhooks/{name}/edit", c.get(c.editWebhook))
	m.HandleFunc("POST /webhooks/{name}/edit", c.post(c.submitWebhook))
	m.HandleFunc("POST /webhooks/{name}/delete", c.post(c.deleteWebhook))

	m.HandleFunc("GET /deliveries", c.get(c.deliveriesPage))
	m.HandleFunc("GET /deliveries/{id}", c.get(c.deliveryPage))
	m.HandleFunc("POST /deliveries/{id}/resend", c.post(c.resend))

	m.HandleFunc("GET /sources", c.get(c.sourcesPage))

	m.HandleFunc("GET /events", c.get(c.eventsPage))
	m.HandleFunc("GET /events/{id}", c.get(c.eventPage))
	m.HandleFunc("POST /events/{id}/replay", c.post(c.replay))

	m.HandleFunc("/", c.get(func(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
		c.fail(w, r, rc, http.StatusNotFound, "No such page: "+r.URL.Path)
	}))
}

// ServeHTTP sets the security headers and routes the request.
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/assets/") {
		h.Set("Cache-Control", "no-store")
	}
	if c.o.Token == "" && !loopbackHost(r.Host) {
		http.Error(w, "This console has no admin token and answers only at a loopback address (127.0.0.1, [::1], localhost).",
			http.StatusMisdirectedRequest)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether the Host header names this machine:
// localhost or a loopback IP, with or without a port. An open console
// refuses other names, which a page could point at 127.0.0.1 (DNS
// rebinding) to read the console as its own site.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// reqCtx is what a handler knows about the signed-in browser.
type reqCtx struct {
	se       session
	csrf     string
	signedIn bool // an admin token is configured (logout makes sense)
}

type handler func(w http.ResponseWriter, r *http.Request, rc *reqCtx)

// get serves a page to a signed-in browser; others go to /login (an open
// console gives them a session at once).
func (c *console) get(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se, ok := c.sess.fromRequest(r)
		if !ok {
			if c.o.Token != "" {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			var v string
			se, v = c.sess.issue()
			http.SetCookie(w, c.sess.cookie(r, v, se.expires))
		}
		h(w, r, &reqCtx{se: se, csrf: c.sess.csrf(se), signedIn: c.o.Token != ""})
	}
}

// post runs a state change for a signed-in browser whose request carries the
// session's CSRF token; anything else gets 403.
func (c *console) post(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if !sameOrigin(r) {
			c.forbidden(w, r, "This form was posted from another site.")
			return
		}
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, &reqCtx{}, http.StatusBadRequest, "The form cannot be read: "+err.Error())
			return
		}
		se, ok := c.sess.fromRequest(r)
		if !ok {
			c.forbidden(w, r, "Your session has expired. Sign in again and repeat the action.")
			return
		}
		tok := r.Header.Get(csrfHeader)
		if tok == "" {
			tok = r.PostFormValue("csrf")
		}
		if !c.sess.checkCSRF(se, tok) {
			c.forbidden(w, r, "The form's security token is missing or wrong. Reload the page and try again.")
			return
		}
		h(w, r, &reqCtx{se: se, csrf: c.sess.csrf(se), signedIn: c.o.Token != ""})
	}
}

func (c *console) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	c.fail(w, r, &reqCtx{}, http.StatusForbidden, msg)
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string // the active nav entry
	CSRF     string
	SignedIn bool
	Flash    string
	Error    string
	Data     any
}

// render executes a page template into a buffer and writes it.
func (c *console) render(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, name string, p page) {
	p.CSRF, p.SignedIn = rc.csrf, rc.signedIn
	t, ok := c.pages[name]
	if !ok {
		panic("web: no template " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("web: render page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page.
func (c *console) fail(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, msg string) {
	p := page{Title: http.StatusText(status), Error: msg, Data: status}
	if rc.csrf != "" {
		p.Nav = "-" // signed in: show the navigation
	}
	c.render(w, r, rc, status, "error.html", p)
}

// failErr shows err with the status its kind calls for, logging unexpected ones.
func (c *console) failErr(w http.ResponseWriter, r *http.Request, rc *reqCtx, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, delivery.ErrUnknownWebhook):
		c.fail(w, r, rc, http.StatusNotFound, what+": "+err.Error())
	case r.Context().Err() != nil:
	default:
		c.log.Error("web: "+what, "method", r.Method, "path", r.URL.Path, "err", err)
		c.fail(w, r, rc, http.StatusInternalServerError, what+": "+err.Error())
	}
}

func (c *console) loadTemplates() {
	funcs := template.FuncMap{
		"asset":     c.assetURL,
		"utc":       fmtTime,
		"pct":       func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
		"ms":        func(f float64) string { return fmt.Sprintf("%.0f ms", f) },
		"join":      strings.Join,
		"types":     func() []cdr.Type { return cdr.Types },
		"statusOK":  func(s int) bool { return s >= 200 && s < 300 },
		"dtlocal":   fmtLocal,
		"pathEsc":   pathEscape,
		"redactURL": redactURL,
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		c.pages[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", n))
	}
}

func (c *console) loadAssets() {
	c.assets = map[string]asset{}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(assetFS, "assets/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.assets[e.Name()] = asset{body: b, ctype: ct, version: hex.EncodeToString(sum[:6])}
	}
}

func (c *console) assetURL(name string) string {
	a, ok := c.assets[name]
	if !ok {
		panic("web: no asset " + name)
	}
	return "/assets/" + name + "?v=" + a.version
}

// serveAsset serves an embedded file; a versioned URL is cached for a year.
func (c *console) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == a.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", `"`+a.version+`"`)
	if r.Header.Get("If-None-Match") == `"`+a.version+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(a.body)
}

// fmtTime shows t in UTC to the second; zero shows as a dash.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// localLayout is the value format of a datetime-local input.
const localLayout = "2006-01-02T15:04"

// fmtLocal formats t for a datetime-local input, in UTC.
func fmtLocal(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(localLayout)
}
