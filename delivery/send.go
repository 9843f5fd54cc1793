package delivery

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout is the per-attempt timeout when a webhook sets none.
const DefaultTimeout = 10 * time.Second

// DefaultUserAgent is sent when neither the Sender nor the request names one.
const DefaultUserAgent = "cdrgw-webhook/1"

// errInvalidRequest marks a request that could not be built.
var errInvalidRequest = errors.New("invalid request")

// Request is one HTTP request to send (the engine adapts a rendered
// mapping.Request to it).
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Redact lists further strings to hide in the attempt log (header values
	// taken from env(), tokens in the URL, ...); the signer's secrets are
	// always hidden.
	Redact []string
}

// LoggedRequest is the request as written to the attempt log.
type LoggedRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// LoggedResponse is the response as written to the attempt log.
type LoggedResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"` // the first MaxLoggedBody bytes
}

// AttemptResult is everything one attempt produced, for the attempt log,
// health and the retry decision.
type AttemptResult struct {
	At       time.Time       `json:"at"`
	Request  LoggedRequest   `json:"request"`
	Response *LoggedResponse `json:"response,omitempty"` // nil when no response arrived
	Latency  time.Duration   `json:"latency_ns"`
	Error    string          `json:"error,omitempty"`
	Outcome  Outcome         `json:"outcome"`
}

// Sender sends signed webhook requests, one attempt per call; it is safe
// for concurrent use.
type Sender struct {
	// Client sends the requests; it should not follow redirects (see
	// NewClient). Nil means a shared NewClient(false).
	Client *http.Client
	// UserAgent is sent unless the request sets one; "" means
	// DefaultUserAgent.
	UserAgent string
	// RetryOn lists statuses retried although their class is final (passed
	// to Classify).
	RetryOn []int
}

var (
	defaultClientOnce sync.Once
	defaultClient     *http.Client
)

func (s *Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	defaultClientOnce.Do(func() { defaultClient = NewClient(false) })
	return defaultClient
}

// timeoutCause is the cause of a per-attempt timeout: its text names the
// configured timeout and it still matches context.DeadlineExceeded.
type timeoutCause time.Duration

func (t timeoutCause) Error() string {
	return fmt.Sprintf("configured webhook timeout reached (%s)", time.Duration(t))
}

func (t timeoutCause) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout reports true, as a net.Error would.
func (t timeoutCause) Timeout() bool { return true }

// Send makes one attempt: it signs req with signer (webhook-id deliveryID,
// webhook-timestamp now), sets User-Agent and Content-Type when missing,
// sends it with a timeout (<= 0 means DefaultTimeout), reads the first
// MaxLoggedBody bytes of the response and classifies the result. Latency
// runs from sending until the logged body prefix is read. It never returns
// an error: failures are in the result's Error and Outcome.
func (s *Sender) Send(ctx context.Context, req *Request, timeout time.Duration, signer *Signer, deliveryID string, now time.Time) AttemptResult {
	if req == nil {
		err := fmt.Errorf("%w: nil request", errInvalidRequest)
		return AttemptResult{At: now, Error: err.Error(), Outcome: Classify(0, err, nil, now, nil)}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// The secrets, the redactions and the signatures made below, in one
	// allocation.
	secrets := make([]string, 0, len(signer.Secrets())+len(req.Redact)+signer.Len())
	secrets = append(append(secrets, signer.Secrets()...), req.Redact...)
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	res := AttemptResult{At: now}

	header := req.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", cmp.Or(s.UserAgent, DefaultUserAgent))
	}
	if len(req.Body) > 0 && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	signer.SetHeaders(header, deliveryID, now, req.Body)
	// A receiver may echo the signature; it reveals no key but the log
	// treats it like the header it came in.
	// The value is Sign's: "v1,<base64>" items separated by one space.
	for rest := header.Get(HeaderWebhookSignature); rest != ""; {
		var sig string
		sig, rest, _ = strings.Cut(rest, " ")
		if _, b64, ok := strings.Cut(sig, ","); ok && b64 != "" {
			secrets = append(secrets, b64)
		}
	}

	logBody := req.Body[:min(len(req.Body), MaxLoggedRequestBody)]
	res.Request = LoggedRequest{
		Method:  method,
		URL:     redactURL(req.URL, secrets),
		Headers: RedactHeaders(header, secrets),
		Body:    RedactString(sanitizeText(trimPartialRune(logBody)), secrets),
	}

	ctx, cancel := context.WithTimeoutCause(ctx, timeout, timeoutCause(timeout))
	defer cancel()
	var body *bytes.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := newRequest(ctx, method, req.URL, body)
	if err != nil {
		err = fmt.Errorf("%w: %w", errInvalidRequest, err)
		res.Error = RedactString(err.Error(), secrets)
		res.Outcome = Classify(0, err, nil, now, s.RetryOn)
		return res
	}
	hreq.Header = header

	start := time.Now()
	resp, err := s.client().Do(hreq)
	if err != nil {
		res.Latency = time.Since(start)
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		res.Error = RedactString(err.Error(), secrets)
		res.Outcome = Classify(0, err, nil, now, s.RetryOn)
		return res
	}
	prefix, readErr := readBodyPrefixPooled(resp.Body)
	_ = resp.Body.Close()
	res.Latency = time.Since(start)
	res.Response = &LoggedResponse{
		Status:  resp.StatusCode,
		Headers: RedactHeaders(resp.Header, secrets),
		Body:    RedactString(prefix, secrets),
	}
	if readErr != nil {
		// The status arrived, so it decides the outcome; the log keeps the
		// body error.
		if cause := context.Cause(ctx); cause != nil && !errors.Is(readErr, cause) {
			readErr = fmt.Errorf("%w: %w", cause, readErr)
		}
		res.Error = RedactString("reading response body: "+readErr.Error(), secrets)
	}
	res.Outcome = Classify(resp.StatusCode, nil, resp.Header, now, s.RetryOn)
	return res
}

// newRequest builds the request, refusing what http.NewRequest would
// accept but cannot be a webhook target (no scheme or host).
func newRequest(ctx context.Context, method, url string, body *bytes.Reader) (*http.Request, error) {
	var r *http.Request
	var err error
	if body == nil {
		r, err = http.NewRequestWithContext(ctx, method, url, nil)
	} else {
		r, err = http.NewRequestWithContext(ctx, method, url, body)
	}
	if err != nil {
		return nil, err
	}
	if scheme := strings.ToLower(r.URL.Scheme); scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("url scheme %q: want http or https", r.URL.Scheme)
	}
	if r.URL.Host == "" {
		return nil, errors.New("url has no host")
	}
	return r, nil
}

// prefixBufs holds the buffers readBodyPrefixPooled reads into.
var prefixBufs = sync.Pool{New: func() any { return new([MaxLoggedBody]byte) }}

// readBodyPrefixPooled is ReadBodyPrefix(r, MaxLoggedBody) reading into a
// pooled buffer: only the prefix read is copied out, not the whole
// MaxLoggedBody bytes allocated per response.
func readBodyPrefixPooled(r io.Reader) (string, error) {
	if r == nil {
		return "", nil
	}
	buf := prefixBufs.Get().(*[MaxLoggedBody]byte)
	defer prefixBufs.Put(buf)
	b := buf[:]
	m, err := io.ReadFull(r, b)
	b = b[:m]
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		err = nil
	case nil:
		_, _ = io.CopyN(io.Discard, r, MaxDrain)
		b = trimPartialRune(b)
	}
	return sanitizeText(b), err
}

// redactURL is RedactURL without parsing a URL that cannot hold a password
// (a userinfo needs an '@').
func redactURL(raw string, secrets []string) string {
	if strings.IndexByte(raw, '@') < 0 {
		return RedactString(raw, secrets)
	}
	return RedactURL(raw, secrets)
}
