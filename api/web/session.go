package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// CookieName is the name of the session cookie.
const CookieName = "cdrgw_session"

// csrfHeader carries the CSRF token of fetch requests.
const csrfHeader = "X-CSRF-Token"

// sessions signs and checks session cookies and CSRF tokens.
type sessions struct {
	key []byte // HMAC key
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time // session id -> expiry, of sessions logged out (this process)
}

// newSessions derives the signing key from the admin token, so that a new
// token ends every session and replicas with the same token share them; an
// open console (no token) signs with a random per-process key.
func newSessions(token string, ttl time.Duration, now func() time.Time) *sessions {
	var key []byte
	if token == "" {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	} else {
		m := hmac.New(sha256.New, []byte(token))
		m.Write([]byte("cdrgw console session key v1"))
		key = m.Sum(nil)
	}
	return &sessions{key: key, ttl: ttl, now: now, revoked: map[string]time.Time{}}
}

// session is a verified session.
type session struct {
	id      string // random, hex
	expires time.Time
}

func (s *sessions) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join(parts, "|")))
	return m.Sum(nil)
}

// issue returns a new session and its cookie value.
func (s *sessions) issue() (session, string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	se := session{id: hex.EncodeToString(b[:]), expires: s.now().Add(s.ttl).Truncate(time.Second)}
	payload := "v1." + strconv.FormatInt(se.expires.Unix(), 10) + "." + se.id
	return se, payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
}

// parse verifies a cookie value: its signature and its expiry.
func (s *sessions) parse(v string) (session, bool) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return session{}, false
	}
	payload, sig := v[:i], v[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return session{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, false
	}
	se := session{id: parts[2], expires: time.Unix(exp, 0)}
	if !s.now().Before(se.expires) {
		return session{}, false
	}
	s.mu.Lock()
	_, gone := s.revoked[se.id]
	s.mu.Unlock()
	return se, !gone
}

// revoke ends se before its expiry (in this process; other replicas accept
// the cookie until it expires, but the browser no longer has it).
func (s *sessions) revoke(se session) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, id)
		}
	}
	s.revoked[se.id] = se.expires
}

// csrf returns the CSRF token bound to se.
func (s *sessions) csrf(se session) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", se.id))
}

// checkCSRF reports whether tok is se's CSRF token.
func (s *sessions) checkCSRF(se session, tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf(se))) == 1
}

// checkToken compares a submitted admin token with the configured one in
// constant time (HMACs of both, so that the length does not leak either).
func (s *sessions) checkToken(want, got string) bool {
	return want != "" && hmac.Equal(s.mac("token", got), s.mac("token", want))
}

func (s *sessions) cookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: secure(r)}
	if value == "" {
		c.MaxAge = -1
		c.Expires = time.Unix(1, 0)
	} else {
		c.Expires = expires.UTC()
		c.MaxAge = int(expires.Sub(s.now()).Seconds())
		if c.MaxAge <= 0 {
			c.MaxAge = int(s.ttl.Seconds())
		}
	}
	return c
}

// fromRequest returns the request's valid session, if any.
func (s *sessions) fromRequest(r *http.Request) (session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return session{}, false
	}
	return s.parse(c.Value)
}

// crossOrigin refuses requests that browsers mark as coming from another
// origin: Sec-Fetch-Site other than same-origin or none, or, from browsers
// that do not send it, an Origin that does not name this host.
var crossOrigin = http.NewCrossOriginProtection()

// sameOrigin reports whether a POST may be from this site.
func sameOrigin(r *http.Request) bool { return crossOrigin.Check(r) == nil }

// secure reports whether the browser reached the console over TLS, directly
// or through a proxy that says so.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// localPath returns next when it is a path on this site, else "/webhooks".
// Browsers drop tabs and newlines from a URL and read a backslash as a
// slash, so "/\t/evil.example" or "/\\evil.example" would leave the site:
// next may hold no control character, space or backslash.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' || unicode.IsSpace(r) }) {
		return "/webhooks"
	}
	return next
}
