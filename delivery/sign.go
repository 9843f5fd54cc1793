package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com/).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// SecretPrefix is the optional prefix of a Standard Webhooks secret.
const SecretPrefix = "whsec_"

// Signer signs requests the Standard Webhooks way with one or more secrets
// (several during a rotation); it is safe for concurrent use.
type Signer struct {
	secrets []string // as configured, for redaction
	pools   []*sync.Pool
}

// NewSigner decodes secrets written as whsec_<base64> (the prefix is
// optional, the key is the decoded bytes). No secrets gives a Signer that
// signs nothing. Errors name the index of the bad secret, never its value.
func NewSigner(secrets []string) (*Signer, error) {
	s := &Signer{}
	for i, sec := range secrets {
		b64 := strings.TrimPrefix(sec, SecretPrefix)
		if b64 == "" {
			return nil, fmt.Errorf("secrets[%d]: empty secret", i)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				return nil, fmt.Errorf("secrets[%d]: not whsec_<base64>: invalid base64 at byte %d", i, int64(ce)+int64(len(sec)-len(b64)))
			}
			return nil, fmt.Errorf("secrets[%d]: not whsec_<base64>", i)
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("secrets[%d]: empty key", i)
		}
		s.secrets = append(s.secrets, sec, b64)
		s.pools = append(s.pools, &sync.Pool{New: func() any {
			return &mac{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 128)}
		}})
	}
	return s, nil
}

// Len returns the number of secrets; 0 means requests go unsigned.
func (s *Signer) Len() int {
	if s == nil {
		return 0
	}
	return len(s.pools)
}

// Secrets returns the configured secret strings (with and without the
// whsec_ prefix), for redacting logs; the caller must not modify the slice.
func (s *Signer) Secrets() []string {
	if s == nil {
		return nil
	}
	return s.secrets
}

// Sign returns the webhook-signature value for a message: "v1,<base64>"
// per secret, separated by spaces, each the HMAC-SHA256 of
// "id.timestamp.body" with the timestamp in unix seconds; "" without
// secrets.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	if s.Len() == 0 {
		return ""
	}
	const sigLen = 3 + 44 // "v1," + base64 of 32 bytes
	var out strings.Builder
	out.Grow(len(s.pools) * (sigLen + 1))
	for i, p := range s.pools {
		m := p.Get().(*mac)
		m.h.Reset()
		m.buf = append(m.buf[:0], id...)
		m.buf = append(m.buf, '.')
		m.buf = strconv.AppendInt(m.buf, ts.Unix(), 10)
		m.buf = append(m.buf, '.')
		m.h.Write(m.buf)
		m.h.Write(body)
		m.buf = m.h.Sum(m.buf[:0])
		m.buf = base64.StdEncoding.AppendEncode(m.buf, m.buf[:sha256.Size])
		if i > 0 {
			out.WriteByte(' ')
		}
		out.WriteString("v1,")
		out.Write(m.buf[sha256.Size:])
		p.Put(m)
	}
	return out.String()
}

// mac is a pooled HMAC with a scratch buffer.
type mac struct {
	h   hash.Hash
	buf []byte
}

// Canonical forms of the Standard Webhooks header names, as http.Header
// keys them.
const (
	canonicalWebhookID        = "Webhook-Id"
	canonicalWebhookTimestamp = "Webhook-Timestamp"
	canonicalWebhookSignature = "Webhook-Signature"
)

// SetHeaders sets webhook-id, webhook-timestamp and, when s has secrets,
// webhook-signature on h (Go's canonical key forms; header names are
// case-insensitive on the wire). A nil Signer sets only the id and time.
func (s *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) {
	// The keys are written in their canonical form directly (h.Set would
	// build it anew each time), the values share one backing array.
	vals := make([]string, 3)
	vals[0], vals[1] = id, strconv.FormatInt(ts.Unix(), 10)
	h[canonicalWebhookID] = vals[0:1:1]
	h[canonicalWebhookTimestamp] = vals[1:2:2]
	if sig := s.Sign(id, ts, body); sig != "" {
		vals[2] = sig
		h[canonicalWebhookSignature] = vals[2:3:3]
	} else {
		delete(h, canonicalWebhookSignature)
	}
}
