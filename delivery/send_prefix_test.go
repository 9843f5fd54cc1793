package delivery

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBodyPrefixPooled checks that the pooled reader Send uses gives
// what ReadBodyPrefix gives, buffer reuse included (each body is read
// twice, after a longer one).
func TestReadBodyPrefixPooled(t *testing.T) {
	long := strings.Repeat("x", MaxLoggedBody+100)
	cut := strings.Repeat("y", MaxLoggedBody-1) + "é" + "tail" // é cut in two by the limit
	bodies := []string{"", "ok", long, cut, "bad \xff utf8 \x00 nul", strings.Repeat("z", MaxLoggedBody), "é"}
	for _, body := range bodies {
		for range 2 {
			_, _ = readBodyPrefixPooled(strings.NewReader(long)) // dirty the pooled buffer
			want, wantErr := ReadBodyPrefix(strings.NewReader(body), MaxLoggedBody)
			got, err := readBodyPrefixPooled(strings.NewReader(body))
			if got != want || (err == nil) != (wantErr == nil) {
				t.Fatalf("body of %d bytes: got %d bytes %v, want %d bytes %v", len(body), len(got), err, len(want), wantErr)
			}
		}
	}
	boom := errors.New("boom")
	if _, err := readBodyPrefixPooled(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("read error: got %v, want %v", err, boom)
	}
	if got, err := readBodyPrefixPooled(nil); got != "" || err != nil {
		t.Fatalf("nil reader: got %q, %v", got, err)
	}
}

// TestRedactURLFast checks the shortcut Send takes against RedactURL.
func TestRedactURLFast(t *testing.T) {
	secrets := []string{"tok", "whsec_abc"}
	for _, u := range []string{
		"https://crm.example/hook?token=tok", "https://u:p@crm.example/h", "https://u@crm.example/h",
		"http://[::1]:80/a?b=c@d", "not a url", "://x", "",
	} {
		if got, want := redactURL(u, secrets), RedactURL(u, secrets); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", u, got, want)
		}
	}
}
