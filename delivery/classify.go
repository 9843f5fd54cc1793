package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reason says why an attempt ended the way it did; metrics and the attempt
// log use it.
type Reason string

// Reasons returned by Classify.
const (
	ReasonOK          Reason = "ok"           // 2xx
	ReasonNetwork     Reason = "network"      // no response: refused, reset, DNS, ...
	ReasonTLS         Reason = "tls"          // TLS handshake or certificate failure
	ReasonTimeout     Reason = "timeout"      // the per-attempt timeout, or 408
	ReasonRateLimited Reason = "rate_limited" // 429
	ReasonServer      Reason = "server"       // 5xx
	ReasonClient      Reason = "client"       // other 4xx, and anything unexpected
	ReasonGone        Reason = "gone"         // 410: the caller pauses the webhook
	ReasonRedirect    Reason = "redirect"     // 3xx, never followed
	ReasonForbidden   Reason = "forbidden"    // the target address is refused (ErrForbiddenTarget)
	ReasonCanceled    Reason = "canceled"     // the caller's context ended (shutdown)
	ReasonInvalid     Reason = "invalid"      // the request could not be built (bad URL or method)
)

// Final is the status a delivery ends with when no further attempt follows.
type Final string

// Final statuses.
const (
	Delivered Final = "delivered"
	Failed    Final = "failed"
)

// MaxRetryAfter caps how far in the future a receiver's Retry-After can push
// the next attempt.
const MaxRetryAfter = time.Hour

// Outcome is the classification of one attempt.
type Outcome struct {
	// Retry reports whether another attempt may help (when attempts remain).
	Retry bool `json:"retry"`
	// Final is the delivery's status if no further attempt is made: Delivered
	// for 2xx, Failed otherwise (also when Retry is true and the attempts are
	// used up).
	Final Final `json:"final"`
	// RetryAfter is the receiver's Retry-After as a time, capped at
	// now+MaxRetryAfter; zero when absent or unparsable.
	RetryAfter time.Time `json:"retry_after,omitzero"`
	// Reason names the class of the result.
	Reason Reason `json:"reason"`
}

// Classify turns the result of one attempt into an Outcome. status is the
// HTTP status (0 when there was no response) and err the transport error
// (nil when there was a response).
//
// 2xx is delivered. Network errors, TLS errors, timeouts, 408, 429 and 5xx
// are retried; Retry-After (seconds or an HTTP date) is read from any
// retried response. 3xx is not followed and fails (reason redirect: a
// webhook URL should not move silently). 410 fails with reason gone, which
// tells the caller to pause the webhook. Every other status fails. A status
// listed in retryOn is retried whatever its class (listing 410 therefore
// also stops the pausing: its reason becomes client). A refused target
// (ErrForbiddenTarget) and an unbuildable request fail without retry; a
// canceled context is retryable (the attempt did not really happen).
func Classify(status int, err error, header http.Header, now time.Time, retryOn []int) Outcome {
	if err != nil {
		return classifyErr(err)
	}
	o := Outcome{Final: Failed}
	switch {
	case status >= 200 && status <= 299:
		return Outcome{Final: Delivered, Reason: ReasonOK}
	case status >= 300 && status <= 399:
		o.Reason = ReasonRedirect
	case status == http.StatusRequestTimeout:
		o.Reason, o.Retry = ReasonTimeout, true
	case status == http.StatusTooManyRequests:
		o.Reason, o.Retry = ReasonRateLimited, true
	case status == http.StatusGone:
		o.Reason = ReasonGone
	case status >= 500 && status <= 599:
		o.Reason, o.Retry = ReasonServer, true
	default:
		o.Reason = ReasonClient
	}
	if !o.Retry && slices.Contains(retryOn, status) {
		o.Retry = true
		if o.Reason == ReasonGone {
			o.Reason = ReasonClient
		}
	}
	if o.Retry {
		o.RetryAfter = ParseRetryAfter(header.Get("Retry-After"), now)
	}
	return o
}

func classifyErr(err error) Outcome {
	o := Outcome{Final: Failed, Retry: true, Reason: ReasonNetwork}
	var (
		netErr     net.Error
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
	)
	switch {
	case errors.Is(err, ErrForbiddenTarget):
		o.Retry, o.Reason = false, ReasonForbidden
	case errors.Is(err, errInvalidRequest):
		o.Retry, o.Reason = false, ReasonInvalid
	case errors.Is(err, context.DeadlineExceeded):
		o.Reason = ReasonTimeout
	case errors.Is(err, context.Canceled):
		o.Reason = ReasonCanceled
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &recordErr), errors.As(err, &alertErr):
		o.Reason = ReasonTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		o.Reason = ReasonTimeout
	}
	return o
}

// ParseRetryAfter parses a Retry-After value, either delay seconds or an
// HTTP date, into a time: zero when v is empty or invalid, now when the
// value is negative or in the past, and at most now+MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	var t time.Time
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n <= 0:
			return now
		case n >= int64(MaxRetryAfter/time.Second):
			return now.Add(MaxRetryAfter)
		}
		t = now.Add(time.Duration(n) * time.Second)
	} else if d, err := http.ParseTime(v); err == nil {
		t = d
	} else {
		return time.Time{}
	}
	if t.Before(now) {
		return now
	}
	if limit := now.Add(MaxRetryAfter); t.After(limit) {
		return limit
	}
	return t
}
