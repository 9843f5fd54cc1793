package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestClassifyStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ra := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	tests := []struct {
		name    string
		status  int
		header  http.Header
		retryOn []int
		want    Outcome
	}{
		{"200", 200, nil, nil, Outcome{Final: Delivered, Reason: ReasonOK}},
		{"204", 204, nil, nil, Outcome{Final: Delivered, Reason: ReasonOK}},
		{"299", 299, nil, nil, Outcome{Final: Delivered, Reason: ReasonOK}},
		{"301 not followed", 301, nil, nil, Outcome{Final: Failed, Reason: ReasonRedirect}},
		{"308", 308, nil, nil, Outcome{Final: Failed, Reason: ReasonRedirect}},
		{"400", 400, nil, nil, Outcome{Final: Failed, Reason: ReasonClient}},
		{"404", 404, ra("5"), nil, Outcome{Final: Failed, Reason: ReasonClient}},
		{"408", 408, nil, nil, Outcome{Retry: true, Final: Failed, Reason: ReasonTimeout}},
		{"410", 410, nil, nil, Outcome{Final: Failed, Reason: ReasonGone}},
		{"429 no header", 429, nil, nil, Outcome{Retry: true, Final: Failed, Reason: ReasonRateLimited}},
		{"429 seconds", 429, ra("120"), nil, Outcome{Retry: true, Final: Failed, Reason: ReasonRateLimited, RetryAfter: now.Add(2 * time.Minute)}},
		{"429 date", 429, ra("Sat, 01 Mar 2025 12:05:00 GMT"), nil, Outcome{Retry: true, Final: Failed, Reason: ReasonRateLimited, RetryAfter: now.Add(5 * time.Minute)}},
		{"500", 500, nil, nil, Outcome{Retry: true, Final: Failed, Reason: ReasonServer}},
		{"503 retry-after", 503, ra("30"), nil, Outcome{Retry: true, Final: Failed, Reason: ReasonServer, RetryAfter: now.Add(30 * time.Second)}},
		{"599", 599, nil, nil, Outcome{Retry: true, Final: Failed, Reason: ReasonServer}},
		{"600 unexpected", 600, nil, nil, Outcome{Final: Failed, Reason: ReasonClient}},
		{"101 unexpected", 101, nil, nil, Outcome{Final: Failed, Reason: ReasonClient}},
		{"404 configured retry", 404, ra("7"), []int{409, 404}, Outcome{Retry: true, Final: Failed, Reason: ReasonClient, RetryAfter: now.Add(7 * time.Second)}},
		{"410 configured retry stops pausing", 410, nil, []int{410}, Outcome{Retry: true, Final: Failed, Reason: ReasonClient}},
		{"302 configured retry", 302, nil, []int{302}, Outcome{Retry: true, Final: Failed, Reason: ReasonRedirect}},
		{"200 in retryOn still delivered", 200, nil, []int{200}, Outcome{Final: Delivered, Reason: ReasonOK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Classify(tt.status, nil, tt.header, now, tt.retryOn)
			if got != tt.want {
				t.Fatalf("Classify(%d) = %+v, want %+v", tt.status, got, tt.want)
			}
		})
	}
}

func TestClassifyError(t *testing.T) {
	t.Parallel()
	now := time.Now()
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "https://example.com", Err: err} }
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name      string
		err       error
		wantRetry bool
		want      Reason
	}{
		{"refused", urlErr(opErr(os.NewSyscallError("connect", syscall.ECONNREFUSED))), true, ReasonNetwork},
		{"dns", urlErr(opErr(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true})), true, ReasonNetwork},
		{"deadline", urlErr(context.DeadlineExceeded), true, ReasonTimeout},
		{"timeout cause", urlErr(timeoutCause(time.Second)), true, ReasonTimeout},
		{"net timeout", urlErr(opErr(&net.DNSError{Err: "i/o timeout", IsTimeout: true})), true, ReasonTimeout},
		{"canceled", urlErr(context.Canceled), true, ReasonCanceled},
		{"unknown ca", urlErr(x509.UnknownAuthorityError{}), true, ReasonTLS},
		{"hostname", urlErr(x509.HostnameError{Host: "a"}), true, ReasonTLS},
		{"forbidden", urlErr(opErr(fmt.Errorf("127.0.0.1: %w", ErrForbiddenTarget))), false, ReasonForbidden},
		{"invalid", fmt.Errorf("%w: bad url", errInvalidRequest), false, ReasonInvalid},
		{"other", errors.New("boom"), true, ReasonNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Classify(0, tt.err, nil, now, []int{0})
			want := Outcome{Retry: tt.wantRetry, Final: Failed, Reason: tt.want}
			if got != want {
				t.Fatalf("Classify(%v) = %+v, want %+v", tt.err, got, want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"   ", time.Time{}},
		{"soon", time.Time{}},
		{"1.5", time.Time{}},
		{"0", now},
		{"-30", now},
		{"1", now.Add(time.Second)},
		{" 90 ", now.Add(90 * time.Second)},
		{"3599", now.Add(3599 * time.Second)},
		{"3600", now.Add(time.Hour)},
		{"99999999999999999999", time.Time{}}, // overflows int64: not a valid number
		{"86400", now.Add(MaxRetryAfter)},
		{"Sat, 01 Mar 2025 12:00:30 GMT", now.Add(30 * time.Second)},
		{"Saturday, 01-Mar-25 12:00:30 GMT", now.Add(30 * time.Second)}, // RFC 850
		{"Sat Mar  1 12:00:30 2025", now.Add(30 * time.Second)},         // asctime
		{"Sat, 01 Mar 2025 11:00:00 GMT", now},                          // past
		{"Sun, 02 Mar 2025 12:00:00 GMT", now.Add(MaxRetryAfter)},       // beyond cap
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); !got.Equal(tt.want) {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "-1", "120", "Sat, 01 Mar 2025 12:00:30 GMT", "Sat Mar  1 12:00:30 2025", "9999999999", "x"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		got := ParseRetryAfter(v, now)
		if got.IsZero() {
			return
		}
		if got.Before(now) || got.After(now.Add(MaxRetryAfter)) {
			t.Fatalf("ParseRetryAfter(%q) = %s, outside [now, now+%s]", v, got, MaxRetryAfter)
		}
		o := Classify(http.StatusTooManyRequests, nil, http.Header{"Retry-After": {v}}, now, nil)
		if !o.RetryAfter.Equal(got) || !o.Retry {
			t.Fatalf("Classify 429 with Retry-After %q = %+v, want RetryAfter %s", v, o, got)
		}
	})
}
