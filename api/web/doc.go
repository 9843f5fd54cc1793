// Package web is cdrgw's web console: server-rendered HTML pages for the
// webhooks (list with health and a 24 h sparkline, pause and resume, an
// editor with a live preview and test sends), the delivery log (filters,
// paging by key, every attempt, resend), the sources and the stored events
// (search, record JSON, replay to a webhook).
//
// Pages are html/template files and the CSS and the one JavaScript file are
// embedded with go:embed; nothing is loaded from elsewhere. Every page works
// without JavaScript: the script only refreshes the editor's preview while
// one types (POST /webhooks/preview, 300 ms after the last key), which the
// Preview button also does by reloading the page.
//
// # Sign-in
//
// When an admin token is configured, GET pages redirect to /login, where the
// token is exchanged for a session cookie (cdrgw_session: HttpOnly,
// SameSite=Strict, Path=/, Secure when the request came over TLS). The
// cookie holds an expiry and a random session id signed with HMAC-SHA256
// under a key derived from the admin token, never the token itself, so that
// changing the token ends every session and replicas sharing the token
// accept each other's sessions. POST /logout expires the cookie. With no
// admin token (allowed only on loopback) the console is open, as the admin
// API is, but each browser still gets a session cookie for CSRF, and it
// answers only requests whose Host is localhost or a loopback address (421
// otherwise), so that a site whose DNS name is rebound to 127.0.0.1 cannot
// use it as its own.
//
// Wrong tokens are limited per client address: after 10 within 10 minutes,
// every sign-in from that address is refused (429 with Retry-After) until
// the 10 minutes from the first one have passed, the right token included.
// Behind a reverse proxy every client has the proxy's address, so the limit
// is then shared (and a guesser can delay the admin's sign-in).
//
// The ?next= page after sign-in must be a path on this site: one with a
// control character, a space or a backslash (which browsers drop or read
// as a slash) or starting with // is replaced by /webhooks.
//
// # CSRF
//
// Every state-changing request is a POST that must carry the session's CSRF
// token, an HMAC of the session id, in the form field csrf or the
// X-CSRF-Token header; a POST without it, or with a wrong one, gets 403. A
// POST whose Origin names another site, or whose Sec-Fetch-Site is
// cross-site, is refused as well (this covers POST /login, which has no
// session yet).
//
// # Outcomes
//
// The webhooks page's sparklines count every attempt of the last 24 hours
// (EventStore.Outcomes), which is slow on a busy store. The counts are cached
// for 30 s; a page waits at most 150 ms for a new count and otherwise shows
// the previous one (or none yet), while one query at a time finishes in the
// background (at most 30 s, and not past Options.Context), so the page
// stays fast.
//
// # Credentials
//
// Pages never show a webhook's credentials: the editor shows the URL with
// its userinfo and secret-named query values hidden, the expressions of
// sensitive headers (Authorization, X-Api-Key, ...) as "•••" and the
// secrets only as a count; a form sent back with them hidden keeps the
// stored values (webhookset restores them). An empty secrets box keeps the
// stored secrets unless "Remove the secrets" (secrets_clear) is checked. Previews, test sends and the
// attempt log hide the same parts of the requests.
//
// # Times
//
// Times are shown and entered in UTC; the deliveries filter's
// datetime-local inputs are read as UTC.
//
// # Security headers
//
// Pages are sent with Content-Security-Policy default-src 'self' (no inline
// script or style), X-Frame-Options DENY, X-Content-Type-Options nosniff,
// Referrer-Policy same-origin and Cache-Control no-store.
package web
