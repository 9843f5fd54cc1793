package delivery

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRedactHeaders(t *testing.T) {
	t.Parallel()
	secrets := []string{"s3cr3t-token", ""}
	tests := []struct {
		name string
		in   http.Header
		want map[string]string
	}{
		{"nil", nil, nil},
		{"plain kept", http.Header{"Content-Type": {"application/json"}}, map[string]string{"Content-Type": "application/json"}},
		{"authorization", http.Header{"Authorization": {"Bearer abc"}}, map[string]string{"Authorization": Redacted}},
		{"signature", http.Header{"Webhook-Signature": {"v1,xyz"}, "Webhook-Id": {"dlv_1"}}, map[string]string{"Webhook-Signature": Redacted, "Webhook-Id": "dlv_1"}},
		{"lowercase key", http.Header{"webhook-signature": {"v1,xyz"}}, map[string]string{"Webhook-Signature": Redacted}},
		{"cookies", http.Header{"Set-Cookie": {"sid=1"}, "Cookie": {"a=b"}}, map[string]string{"Set-Cookie": Redacted, "Cookie": Redacted}},
		{"value holds secret", http.Header{"X-Token": {"token=s3cr3t-token;x"}}, map[string]string{"X-Token": Redacted}},
		{"one of several values holds secret", http.Header{"X-Token": {"a", "s3cr3t-token"}}, map[string]string{"X-Token": Redacted}},
		{"multi values joined", http.Header{"Accept": {"a", "b"}}, map[string]string{"Accept": "a, b"}},
		{"two spellings merged", http.Header{"X-A": {"1"}, "x-a": {"2"}}, nil}, // order-independent check below
	}
	for _, tt := range tests {
		got := RedactHeaders(tt.in, secrets)
		if tt.name == "two spellings merged" {
			if v := got["X-A"]; v != "1, 2" && v != "2, 1" {
				t.Errorf("%s: X-A = %q", tt.name, v)
			}
			continue
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("%s: RedactHeaders = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRedactStringAndURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		secrets  []string
		url      bool
		want     string
	}{
		{"none", "hello", nil, false, "hello"},
		{"empty secret ignored", "hello", []string{""}, false, "hello"},
		{"replaced everywhere", "a=tok&b=tok", []string{"tok"}, false, "a=[redacted]&b=[redacted]"},
		{"longest first", "key=whsec_abc", []string{"abc", "whsec_abc"}, false, "key=[redacted]"},
		{"url query", "https://x.example/hook?api_key=tok123", []string{"tok123"}, true, "https://x.example/hook?api_key=[redacted]"},
		{"url password", "https://user:pa55@x.example/hook", nil, true, "https://user:redacted@x.example/hook"},
		{"url user only kept", "https://user@x.example/hook", nil, true, "https://user@x.example/hook"},
		{"bad url still redacted", "http://[::1%zz/tok", []string{"tok"}, true, "http://[::1%zz/[redacted]"},
	}
	for _, tt := range tests {
		var got string
		if tt.url {
			got = RedactURL(tt.in, tt.secrets)
		} else {
			got = RedactString(tt.in, tt.secrets)
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type errReader struct{ data []byte }

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, errors.New("connection reset")
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReadBodyPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		n         int
		want      string
		wantRead  int // bytes consumed from the reader
		wantError bool
	}{
		{"short", "hello", 4096, "hello", 5, false},
		{"empty", "", 4096, "", 0, false},
		{"exact", "abcd", 4, "abcd", 4, false},
		{"cut and drained", "abcdefgh", 4, "abcd", 8, false},
		{"drain bounded", strings.Repeat("x", 4+MaxDrain+100), 4, "xxxx", 4 + MaxDrain, false},
		{"cut rune dropped", "ab€", 4, "ab", 5, false}, // € is 3 bytes
		{"whole rune kept", "a€", 4, "a€", 4, false},
		{"invalid utf8 replaced", "a\xffb", 10, "a\uFFFDb", 3, false},
		{"nul replaced", "a\x00b", 10, "a\uFFFDb", 3, false},
		{"zero n drains", "abc", 0, "", 3, false},
	}
	for _, tt := range tests {
		cr := &countingReader{r: strings.NewReader(tt.body)}
		got, err := ReadBodyPrefix(cr, tt.n)
		if (err != nil) != tt.wantError || got != tt.want || cr.n != tt.wantRead {
			t.Errorf("%s: ReadBodyPrefix = %q, %v (read %d); want %q, read %d", tt.name, got, err, cr.n, tt.want, tt.wantRead)
		}
	}
	got, err := ReadBodyPrefix(&errReader{data: []byte("par")}, 10)
	if err == nil || got != "par" {
		t.Errorf("ReadBodyPrefix on a failing reader = %q, %v; want the partial prefix and the error", got, err)
	}
	if got, err := ReadBodyPrefix(nil, 10); got != "" || err != nil {
		t.Errorf("ReadBodyPrefix(nil) = %q, %v", got, err)
	}
}

func FuzzReadBodyPrefix(f *testing.F) {
	f.Add([]byte("hello"), 3)
	f.Add([]byte("ab€cd"), 4)
	f.Add([]byte("\xff\x00\xe2\x82"), 3)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		n %= 1 << 16
		got, err := ReadBodyPrefix(bytes.NewReader(body), n)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("ReadBodyPrefix(%q, %d) = %q: not clean text", body, n, got)
		}
		// Every input byte yields at most one U+FFFD (3 bytes).
		if limit := 3 * max(n, 0); len(got) > limit {
			t.Fatalf("ReadBodyPrefix(%q, %d) = %d bytes, more than %d", body, n, len(got), limit)
		}
		if utf8.Valid(body) && !bytes.ContainsRune(body, 0) && !strings.HasPrefix(string(body), got) {
			t.Fatalf("ReadBodyPrefix(%q, %d) = %q: not a prefix of clean input", body, n, got)
		}
	})
}
