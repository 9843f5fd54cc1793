package delivery

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The known-answer vector of the Standard Webhooks reference tests
// (libraries/python/tests/test_webhooks.py, test_sign_function).
const (
	refSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	refTimestamp = 1614265330
	refPayload   = `{"test": 2432232314}`
	refSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func newSecret(t testing.TB) string {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{refSecret, strings.TrimPrefix(refSecret, SecretPrefix)} {
		s, err := NewSigner([]string{secret})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Sign(refMsgID, time.Unix(refTimestamp, 0), []byte(refPayload)); got != refSignature {
			t.Fatalf("Sign with %q = %q, want %q", secret, got, refSignature)
		}
	}
}

// verifyRef checks a signed request with the Standard Webhooks reference
// library holding only secret.
func verifyRef(t *testing.T, secret string, h http.Header, body []byte) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(body, h)
}

func TestSignVerifiedByReference(t *testing.T) {
	t.Parallel()
	oldSec, newSec, otherSec := newSecret(t), newSecret(t), newSecret(t)
	body := []byte(`{"type":"call.ended","record":{"id":"ari:pbx1:1700000000.1"}}`)
	tests := []struct {
		name     string
		signWith []string
		verifier string
		wantOK   bool
	}{
		{"single secret", []string{oldSec}, oldSec, true},
		{"rotation, verifier has old only", []string{oldSec, newSec}, oldSec, true},
		{"rotation, verifier has new only", []string{oldSec, newSec}, newSec, true},
		{"rotation, new listed first", []string{newSec, oldSec}, oldSec, true},
		{"wrong secret", []string{oldSec, newSec}, otherSec, false},
		{"prefix-less secret", []string{strings.TrimPrefix(oldSec, SecretPrefix)}, oldSec, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewSigner(tt.signWith)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			s.SetHeaders(h, NewID(time.Now()), time.Now(), body)
			if n := len(strings.Fields(h.Get(HeaderWebhookSignature))); n != len(tt.signWith) {
				t.Fatalf("%d signatures, want %d", n, len(tt.signWith))
			}
			err = verifyRef(t, tt.verifier, h, body)
			if tt.wantOK && err != nil {
				t.Fatalf("reference Verify: %v", err)
			}
			if !tt.wantOK && !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
				t.Fatalf("reference Verify = %v, want ErrNoMatchingSignature", err)
			}
			// Any change to the signed content must break the signature.
			if tt.wantOK {
				if err := verifyRef(t, tt.verifier, h, append(body, ' ')); err == nil {
					t.Fatal("reference Verify accepted a modified body")
				}
				h2 := h.Clone()
				h2.Set(HeaderWebhookID, "dlv_other")
				if err := verifyRef(t, tt.verifier, h2, body); err == nil {
					t.Fatal("reference Verify accepted a modified id")
				}
			}
		})
	}
}

func TestSetHeaders(t *testing.T) {
	t.Parallel()
	ts := time.Unix(1700000000, 999_000_000)
	s, err := NewSigner([]string{refSecret})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	s.SetHeaders(h, "dlv_1", ts, nil)
	if h.Get("webhook-id") != "dlv_1" || h.Get("webhook-timestamp") != "1700000000" || !strings.HasPrefix(h.Get("webhook-signature"), "v1,") {
		t.Fatalf("headers = %v", h)
	}
	// Without secrets: id and timestamp, no (stale) signature.
	var none *Signer
	none.SetHeaders(h, "dlv_2", ts, nil)
	if h.Get("webhook-id") != "dlv_2" || h.Get("webhook-signature") != "" {
		t.Fatalf("unsigned headers = %v", h)
	}
	empty, err := NewSigner(nil)
	if err != nil || empty.Len() != 0 || empty.Sign("a", ts, nil) != "" {
		t.Fatalf("NewSigner(nil) = %v, %v; want a signer that signs nothing", empty, err)
	}
}

func TestNewSignerErrors(t *testing.T) {
	t.Parallel()
	good := newSecret(t)
	tests := []struct {
		secrets []string
		wantErr string
	}{
		{[]string{good, ""}, "secrets[1]: empty secret"},
		{[]string{"whsec_"}, "secrets[0]: empty secret"},
		{[]string{good, good, "whsec_not*base64!"}, "secrets[2]: not whsec_<base64>: invalid base64 at byte 9"},
		{[]string{"abc"}, "secrets[0]: not whsec_<base64>: invalid base64 at byte 0"},
		{[]string{"===="}, "secrets[0]: not whsec_<base64>: invalid base64 at byte 0"},
	}
	for _, tt := range tests {
		_, err := NewSigner(tt.secrets)
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("NewSigner(%q) = %v, want %q", tt.secrets, err, tt.wantErr)
			continue
		}
		for _, sec := range tt.secrets {
			if len(sec) > 6 && strings.Contains(err.Error(), strings.TrimPrefix(sec, SecretPrefix)) {
				t.Errorf("error %q leaks the secret", err)
			}
		}
	}
}

var signerErrRE = regexp.MustCompile(`^secrets\[0\]: (empty secret|empty key|not whsec_<base64>(: invalid base64 at byte \d+)?)$`)

func FuzzNewSigner(f *testing.F) {
	for _, s := range []string{refSecret, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "", "abc", "whsec_a===", "AA=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		s, err := NewSigner([]string{secret})
		if err != nil {
			// Only fixed texts and a byte offset: nothing of the secret.
			if !signerErrRE.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of the fixed forms (may leak the secret)", err)
			}
			return
		}
		ts := time.Unix(refTimestamp, 0)
		sig := s.Sign(refMsgID, ts, []byte(refPayload))
		// The reference library must agree on every secret we accept.
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatalf("we accept %q but the reference library does not: %v", secret, err)
		}
		h := http.Header{}
		h.Set(HeaderWebhookID, refMsgID)
		h.Set(HeaderWebhookTimestamp, strconv.Itoa(refTimestamp))
		h.Set(HeaderWebhookSignature, sig)
		if err := wh.VerifyIgnoringTimestamp([]byte(refPayload), h); err != nil {
			t.Fatalf("reference library rejects our signature for %q: %v", secret, err)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	for _, n := range []int{1, 2} {
		secrets := make([]string, n)
		for i := range secrets {
			secrets[i] = newSecret(b)
		}
		s, err := NewSigner(secrets)
		if err != nil {
			b.Fatal(err)
		}
		body := []byte(strings.Repeat(`{"k":"v"},`, 60)) // ~600 bytes, a typical record
		ts := time.Unix(1700000000, 0)
		b.Run(strconv.Itoa(n)+"secrets", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_ = s.Sign("dlv_01JNQ9ZK4M3V8X2W6Y7T5R1P0S", ts, body)
			}
		})
	}
}
