package row

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cdrgw/cdrgw/store"
)

// FuzzEncodeAttempt checks EncodeRequest and EncodeResponse against
// json.Marshal, the encoding they replace: the bytes must be the same.
func FuzzEncodeAttempt(f *testing.F) {
	f.Add("POST", "https://crm.example/hook?token=a&b=<c>", "Content-Type", "application/json", "Webhook-Id", "d_1", `{"a":"\u2028 é \xff \x00 \t"}`, 200)
	f.Add("", "", "", "", "", "", "", 0)
	f.Add("GET", "u", "a", "", "b", "\u2029\"\\\b\f\r\n", "", -1)
	f.Fuzz(func(t *testing.T, method, url, k1, v1, k2, v2, body string, status int) {
		for _, h := range []map[string]string{nil, {}, {k1: v1}, {k1: v1, k2: v2, "X-Other": v1 + v2}} {
			req := store.HTTPRequest{Method: method, URL: url, Headers: h, Body: body}
			want, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EncodeRequest(req)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("EncodeRequest(%#v) = %s, %v; want %s", req, got, err, want)
			}
			resp := &store.HTTPResponse{Status: status, Headers: h, Body: body}
			want, err = json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			got, err = EncodeResponse(resp)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("EncodeResponse(%#v) = %s, %v; want %s", resp, got, err, want)
			}
		}
	})
}

func TestEncodeResponseNil(t *testing.T) {
	got, err := EncodeResponse(nil)
	if got != nil || err != nil {
		t.Fatalf("EncodeResponse(nil) = %q, %v; want nil, nil", got, err)
	}
}

// TestEncodeAttemptRoundTrip checks that what the encoders write decodes
// back to the same request and response with DecodeAttemptJSON.
func TestEncodeAttemptRoundTrip(t *testing.T) {
	req := store.HTTPRequest{Method: "POST", URL: "https://x/h", Headers: map[string]string{"B": "2", "A": "<1>"}, Body: "{\"k\":\"v\"}\n"}
	resp := &store.HTTPResponse{Status: 429, Headers: map[string]string{"Retry-After": "3"}, Body: "slow down"}
	rb, _ := EncodeRequest(req)
	pb, _ := EncodeResponse(resp)
	a := store.Attempt{DeliveryID: "d", N: 1}
	if err := DecodeAttemptJSON(&a, rb, pb); err != nil {
		t.Fatal(err)
	}
	if a.Request.Method != req.Method || a.Request.URL != req.URL || a.Request.Body != req.Body ||
		len(a.Request.Headers) != 2 || a.Request.Headers["A"] != "<1>" || a.Response == nil ||
		a.Response.Status != 429 || a.Response.Headers["Retry-After"] != "3" || a.Response.Body != resp.Body {
		t.Fatalf("round trip gives %#v / %#v", a.Request, a.Response)
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req := store.HTTPRequest{Method: "POST", URL: "http://127.0.0.1:1234/hook", Headers: map[string]string{
		"Content-Type": "application/json", "User-Agent": "cdrgw-webhook/1", "Webhook-Id": "dlv_0123456789abcdef",
		"Webhook-Timestamp": "1733300000", "Webhook-Signature": "v1,[redacted]",
	}, Body: `{"event_id":"evt_0123456789abcdef0123456789abcdef","call_id":"bench-1","caller":{"number":"+15551234567"},"queue":"Sales","wait":12,"start_at":"2024-03-01T11:00:00Z"}`}
	for _, enc := range []struct {
		name string
		f    func(store.HTTPRequest) ([]byte, error)
	}{
		{"json", func(r store.HTTPRequest) ([]byte, error) { return json.Marshal(r) }},
		{"row", EncodeRequest},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.f(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
