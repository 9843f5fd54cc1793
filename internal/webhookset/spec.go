package webhookset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
)

// Hidden stands for a secret in a Spec shown to people. In a spec given
// to Update or Test (or Compile) "•••" at secrets[i] means "keep the stored
// webhook's secrets[i]".
const Hidden = "•••"

// Spec is a webhook definition as JSON, with the config file's key names
// and shape (one item of its webhooks list). Params and headers keep their
// order; durations are strings ("30s"). Empty fields are left out, so the
// config's defaults apply. A marshalled Spec is accepted by
// config.ParseWebhook and config.ParseRuntimeWebhook.
type Spec struct {
	Name           string       `json:"name"`
	URL            string       `json:"url"`
	Events         []cdr.Type   `json:"events"`
	When           string       `json:"when,omitempty"`
	Method         string       `json:"method,omitempty"`
	Encoding       string       `json:"encoding,omitempty"`
	DateFormat     string       `json:"date_format,omitempty"`
	Timezone       string       `json:"timezone,omitempty"`
	HangupCauses   Params       `json:"hangup_causes,omitempty"` // cause -> name, in written order
	Params         Params       `json:"params,omitempty"`
	Headers        Params       `json:"headers,omitempty"`
	XML            *XMLSpec     `json:"xml,omitempty"`
	JSONRPC        *JSONRPCSpec `json:"jsonrpc,omitempty"`
	Active         *bool        `json:"active,omitempty"` // nil means true
	Delay          string       `json:"delay,omitempty"`
	Debounce       string       `json:"debounce,omitempty"`
	Retry          *RetrySpec   `json:"retry,omitempty"`
	Timeout        string       `json:"timeout,omitempty"`
	Secrets        []string     `json:"secrets,omitempty"`
	Concurrency    int          `json:"concurrency,omitempty"`
	Ordered        bool         `json:"ordered,omitempty"`
	FailingAfter   int          `json:"failing_after,omitempty"`
	PauseOnFailing bool         `json:"pause_on_failing,omitempty"`
	RetryOn        []int        `json:"retry_on,omitempty"`
}

// XMLSpec is the xml block of a Spec.
type XMLSpec struct {
	Root string `json:"root"`
}

// JSONRPCSpec is the jsonrpc block of a Spec.
type JSONRPCSpec struct {
	Method string `json:"method"`
}

// RetrySpec is the retry block of a Spec; empty fields take the defaults.
type RetrySpec struct {
	Attempts    int      `json:"attempts,omitempty"`
	Schedule    string   `json:"schedule,omitempty"`
	Interval    string   `json:"interval,omitempty"`
	MaxInterval string   `json:"max_interval,omitempty"`
	Jitter      *float64 `json:"jitter,omitempty"` // nil means the default
}

// Param is one named expression of params or headers (or one cause of
// hangup_causes).
type Param struct {
	Name string
	Expr string
}

// Params is an ordered JSON object of names to expressions (or texts).
type Params []Param

// MarshalJSON writes p as a JSON object in its order.
func (p Params) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.Name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(kv.Expr)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a JSON object keeping its key order. Values are
// expressions: strings, or numbers and booleans taken as written.
func (p *Params) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*p = nil
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("want an object of names to expressions")
	}
	out := Params{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		tok, err = dec.Token()
		if err != nil {
			return err
		}
		var e string
		switch v := tok.(type) {
		case string:
			e = v
		case json.Number:
			e = v.String()
		case bool:
			e = strconv.FormatBool(v)
		default:
			return fmt.Errorf("%s: want an expression string", name)
		}
		out = append(out, Param{Name: name, Expr: e})
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	*p = out
	return nil
}

// Get returns the expression of name.
func (p Params) Get(name string) (string, bool) {
	for _, kv := range p {
		if kv.Name == name {
			return kv.Expr, true
		}
	}
	return "", false
}

// Marshal returns s as compact JSON.
func (s Spec) Marshal() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		// Unreachable: every field marshals.
		panic(fmt.Sprintf("webhookset: marshal spec %q: %v", s.Name, err))
	}
	return b
}

// Redacted returns s as shown to people: every secret replaced by Hidden
// (except those written as a ${VAR} reference, which hold no secret value),
// the URL's credentials hidden (RedactURL) and the expressions of sensitive
// headers (SensitiveHeader) and of secret-named params holding a string
// literal replaced by Hidden. Update, Test and Compile
// given it back restore the hidden values from the stored webhook.
func (s Spec) Redacted() Spec {
	s.URL = RedactURL(s.URL)
	if len(s.Secrets) > 0 {
		out := make([]string, len(s.Secrets))
		for i, sec := range s.Secrets {
			out[i] = Hidden
			if isVarRef(sec) {
				out[i] = sec
			}
		}
		s.Secrets = out
	}
	s.Headers = hideParams(s.Headers, func(p Param) bool { return SensitiveHeader(p.Name) })
	s.Params = hideParams(s.Params, secretLiteral)
	return s
}

// hideParams returns ps with the expressions of those hide selects
// replaced by Hidden (ps itself when none is).
func hideParams(ps Params, hide func(Param) bool) Params {
	if !slices.ContainsFunc(ps, hide) {
		return ps
	}
	out := slices.Clone(ps)
	for i, p := range out {
		if hide(p) {
			out[i].Expr = Hidden
		}
	}
	return out
}

// secretLiteral reports whether a param is named like a secret (token,
// api_key, password, ...) and its expression holds a string literal, which
// may be the secret itself (env("NAME") or a record field would not be
// hidden, but "abc" + env("NAME") is).
func secretLiteral(p Param) bool {
	return secretParam(p.Name) && strings.ContainsAny(envCall.ReplaceAllString(p.Expr, ""), "\"'`")
}

// envCall matches env("NAME"), whose literal is a variable's name.
var envCall = regexp.MustCompile("env\\(\\s*(\"[^\"]*\"|'[^']*'|`[^`]*`)\\s*\\)")

// sensitiveHeaders are the headers whose values are credentials (the
// attempt log's list, lower case).
var sensitiveHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key"}

// SensitiveHeader reports whether a header's value is a credential:
// Authorization, Proxy-Authorization, Cookie, X-Api-Key, or a name holding
// auth, token, secret, password, api-key, apikey or signature.
func SensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	if slices.Contains(sensitiveHeaders, n) {
		return true
	}
	for _, w := range []string{"auth", "token", "secret", "password", "passwd", "api-key", "apikey", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// secretParams are query parameter names whose values RedactURL hides.
var secretParams = []string{"token", "secret", "password", "passwd", "pass", "key", "apikey", "api_key", "access_token",
	"auth", "signature", "sig", "client_secret"}

// RedactURL hides a URL's credentials: the whole userinfo (a user name can
// itself be a token) and the values of query parameters named like
// secrets, each replaced by Hidden. It works on text, so that URLs holding
// {{ expression }} or ${VAR} parts are handled.
func RedactURL(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
			s = s[:i+3] + Hidden + rest[at:]
		}
	}
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	head, query := s[:q+1], s[q+1:]
	frag := ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		name, _, ok := strings.Cut(p, "=")
		if ok && secretParam(name) {
			parts[i] = name + "=" + Hidden
		}
	}
	return head + strings.Join(parts, "&") + frag
}

// secretParam reports whether a query parameter's name (as written,
// possibly escaped) names a secret.
func secretParam(name string) bool {
	n, err := url.QueryUnescape(name)
	if err != nil {
		n = name
	}
	n = strings.ToLower(n)
	for _, sp := range secretParams {
		if n == sp || strings.HasSuffix(n, "_"+sp) || strings.HasSuffix(n, "-"+sp) {
			return true
		}
	}
	return false
}

// varRef matches a secret written as one ${NAME} reference, which holds no
// secret value (a ${NAME:-default} may: its default is shown hidden).
var varRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

func isVarRef(s string) bool { return varRef.MatchString(s) }

// SpecOf describes a loaded webhook (one of the config file's) as a Spec
// for read-only display: every setting explicit, secrets, the URL's
// credentials and sensitive headers hidden as by Redacted (after ${VAR}
// expansion, so they may hold real values). The hidden parts make it unfit
// to feed back to ParseWebhook.
func SpecOf(w *config.Webhook) Spec {
	sp := w.Spec
	active := w.Active
	jitter := w.Retry.Jitter
	s := Spec{
		Name:           sp.Name,
		URL:            delivery.RedactURL(sp.URL, w.Secrets),
		Events:         append([]cdr.Type{}, sp.Events...),
		When:           sp.When,
		Method:         sp.Method,
		Encoding:       sp.Encoding,
		DateFormat:     sp.DateFormat,
		Timezone:       sp.Timezone,
		Active:         &active,
		Delay:          duration(w.Delay),
		Debounce:       duration(w.Debounce),
		Timeout:        duration(w.Timeout),
		Concurrency:    w.Concurrency,
		Ordered:        w.Ordered,
		FailingAfter:   w.FailingAfter,
		PauseOnFailing: w.PauseOnFailing,
		RetryOn:        append([]int(nil), w.RetryOn4xx...),
		Retry: &RetrySpec{Attempts: w.Retry.Attempts, Schedule: w.Retry.Schedule, Interval: duration(w.Retry.Interval),
			MaxInterval: duration(w.Retry.MaxInterval), Jitter: &jitter},
	}
	for _, k := range slices.Sorted(maps.Keys(sp.HangupCauses)) {
		s.HangupCauses = append(s.HangupCauses, Param{Name: k, Expr: sp.HangupCauses[k]})
	}
	for _, p := range sp.Params {
		s.Params = append(s.Params, Param(p))
	}
	for _, p := range sp.Headers {
		s.Headers = append(s.Headers, Param(p))
	}
	if sp.XMLRoot != "" {
		s.XML = &XMLSpec{Root: sp.XMLRoot}
	}
	if sp.JSONRPCMethod != "" {
		s.JSONRPC = &JSONRPCSpec{Method: sp.JSONRPCMethod}
	}
	for range w.Secrets {
		s.Secrets = append(s.Secrets, Hidden)
	}
	return s.Redacted()
}

// duration formats d as a Spec writes durations ("1m30s", "0s").
func duration(d time.Duration) string { return d.String() }
