package delivery

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Redacted replaces secret values in attempt logs.
const Redacted = "[redacted]"

// Limits of what an attempt log keeps.
const (
	// MaxLoggedBody is how much of a response body the log keeps.
	MaxLoggedBody = 4 << 10
	// MaxLoggedRequestBody is how much of a request body the log keeps.
	MaxLoggedRequestBody = 64 << 10
	// MaxDrain is how much more of a response body is read and thrown away
	// after the logged prefix so that the connection can be reused; a
	// longer body closes the connection instead.
	MaxDrain = 256 << 10
)

// sensitiveHeaders are always redacted (canonical keys).
var sensitiveHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Cookie":              true,
	"Set-Cookie":          true,
	"Webhook-Signature":   true,
	"X-Api-Key":           true,
}

// RedactHeaders flattens h for the attempt log (several values joined with
// ", ", canonical names) and replaces with "[redacted]" the values of
// Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and
// webhook-signature and of every header whose value contains one of
// secrets (empty secrets are ignored).
func RedactHeaders(h http.Header, secrets []string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		v := strings.Join(vs, ", ")
		if sensitiveHeaders[ck] || containsSecret(v, secrets) {
			v = Redacted
		}
		if prev, ok := out[ck]; ok { // the same name under two spellings
			if prev == Redacted || v == Redacted {
				v = Redacted
			} else {
				v = prev + ", " + v
			}
		}
		out[ck] = v
	}
	return out
}

func containsSecret(v string, secrets []string) bool {
	for _, s := range secrets {
		if s != "" && strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// RedactString replaces every occurrence of each non-empty secret in s
// with "[redacted]", longest secrets first so that a secret containing
// another is replaced whole.
func RedactString(s string, secrets []string) string {
	if len(secrets) == 0 {
		return s
	}
	// Longest first, without sorting the caller's slice.
	done := make([]bool, len(secrets))
	for range secrets {
		best := -1
		for i, sec := range secrets {
			if !done[i] && (best < 0 || len(sec) > len(secrets[best])) {
				best = i
			}
		}
		done[best] = true
		if sec := secrets[best]; sec != "" {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// RedactURL redacts a URL for the log: the userinfo password and every
// occurrence of a secret. A URL that does not parse is redacted as a
// string.
func RedactURL(raw string, secrets []string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "redacted")
			raw = u.String()
		}
	}
	return RedactString(raw, secrets)
}

// ReadBodyPrefix reads the first n bytes of r for the attempt log and then
// reads and discards up to MaxDrain more, so that a keep-alive connection
// can be reused. The prefix is made safe to store as text: a rune cut at
// the end is dropped, invalid UTF-8 and NUL bytes become U+FFFD. The error
// is the one met while reading the prefix (io.EOF is not an error).
func ReadBodyPrefix(r io.Reader, n int) (string, error) {
	if r == nil {
		return "", nil
	}
	n = max(n, 0)
	buf := make([]byte, n)
	m, err := io.ReadFull(r, buf)
	buf = buf[:m]
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		err = nil
	case nil:
		_, _ = io.CopyN(io.Discard, r, MaxDrain)
		buf = trimPartialRune(buf)
	}
	return sanitizeText(buf), err
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b (a
// rune the prefix cut in two).
func trimPartialRune(b []byte) []byte {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < utf8.RuneSelf {
			return b // ASCII: nothing cut
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// sanitizeText returns b as valid UTF-8 without NUL bytes (PostgreSQL text
// accepts neither).
func sanitizeText(b []byte) string {
	s := string(b)
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
