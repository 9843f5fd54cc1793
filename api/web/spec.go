package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// specForm is the editor's form: one field per key of a webhook
// definition (DESIGN.md §4), with maps as `name: value` lines.
type specForm struct {
	Name, URL, When, Method, Encoding, DateFormat, Timezone string
	Events                                                  []string
	Params, Headers, HangupCauses                           string // `name: value` per line
	XMLRoot, JSONRPCMethod                                  string
	Active, Ordered, PauseOnFailing                         bool
	Delay, Debounce, Timeout                                string
	RetryAttempts, RetrySchedule, RetryInterval             string
	RetryMaxInterval, RetryJitter                           string
	Secrets                                                 string // one per line
	SecretsClear                                            bool   // drop the stored secrets when Secrets is empty
	Concurrency, FailingAfter, RetryOn                      string
}

// newForm is the form of a new webhook.
func newForm() specForm {
	return specForm{Active: true, Method: "POST", Encoding: "json", Events: []string{"call.ended"}}
}

// formValues reads the editor's form.
func formValues(v url.Values) specForm {
	g := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	on := func(k string) bool { s := v.Get(k); return s == "on" || s == "true" || s == "1" }
	return specForm{
		Name: g("name"), URL: g("url"), When: strings.TrimSpace(v.Get("when")), Method: g("method"), Encoding: g("encoding"),
		DateFormat: v.Get("date_format"), Timezone: g("timezone"), Events: v["events"],
		Params: v.Get("params"), Headers: v.Get("headers"), HangupCauses: v.Get("hangup_causes"),
		XMLRoot: g("xml_root"), JSONRPCMethod: g("jsonrpc_method"),
		Active: on("active"), Ordered: on("ordered"), PauseOnFailing: on("pause_on_failing"),
		Delay: g("delay"), Debounce: g("debounce"), Timeout: g("timeout"),
		RetryAttempts: g("retry_attempts"), RetrySchedule: g("retry_schedule"), RetryInterval: g("retry_interval"),
		RetryMaxInterval: g("retry_max_interval"), RetryJitter: g("retry_jitter"),
		Secrets: v.Get("secrets"), SecretsClear: on("secrets_clear"), Concurrency: g("concurrency"), FailingAfter: g("failing_after"), RetryOn: g("retry_on"),
	}
}

// Has reports whether the form subscribes to event type t (for templates).
func (f specForm) Has(t string) bool {
	for _, e := range f.Events {
		if e == t {
			return true
		}
	}
	return false
}

// kv is one `name: value` line.
type kv struct {
	K, V string
	Line int // 1-based line in its textarea
}

// parseLines reads `name: value` lines; the value is what follows the
// first colon, unless the name is written as a JSON string ("ns:a": x). A
// line that starts with a space or tab continues the previous value on a
// new line (multi-line expressions, where a line may start with expr's #);
// empty lines and other lines starting with # are skipped.
func parseLines(field, text string) ([]kv, []string) {
	var out []kv
	var errs []string
	seen := map[string]int{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		n := i + 1
		if strings.TrimSpace(line) == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].V += "\n" + strings.TrimSpace(line)
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		k, v, ok := cutPair(line)
		if !ok || k == "" {
			errs = append(errs, fmt.Sprintf("%s: line %d: want `name: value`, got %q", field, n, line))
			continue
		}
		if first, dup := seen[k]; dup {
			errs = append(errs, fmt.Sprintf("%s: line %d: %q is already on line %d", field, n, k, first))
			continue
		}
		seen[k] = n
		out = append(out, kv{K: k, V: v, Line: n})
	}
	return out, errs
}

// cutPair splits a `name: value` line at the first colon, or after the
// name when it is written as a JSON string ("soap:Body": ...).
func cutPair(line string) (k, v string, ok bool) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, `"`) {
		q, err := strconv.QuotedPrefix(line)
		if err != nil {
			return "", "", false
		}
		name, err := strconv.Unquote(q)
		rest, found := strings.CutPrefix(strings.TrimSpace(line[len(q):]), ":")
		return name, strings.TrimSpace(rest), err == nil && found
	}
	k, v, ok = strings.Cut(line, ":")
	return strings.TrimSpace(k), strings.TrimSpace(v), ok
}

// formatLines writes pairs as `name: value` lines, continuing multi-line
// values on indented lines. A name that would not read back as written (it
// holds a colon, starts with # or a quote, or has spaces around it) is
// written as a JSON string.
func formatLines(pairs []kv) string {
	var b strings.Builder
	for _, p := range pairs {
		k := p.K
		if k == "" || strings.ContainsAny(k, ":\n") || strings.HasPrefix(k, "#") || strings.HasPrefix(k, `"`) || k != strings.TrimSpace(k) {
			k = strconv.Quote(k)
		}
		fmt.Fprintf(&b, "%s: %s\n", k, strings.ReplaceAll(p.V, "\n", "\n  "))
	}
	return b.String()
}

// jsonObj writes an ordered JSON object.
type jsonObj struct {
	b bytes.Buffer
	n int
}

func (o *jsonObj) key(k string) {
	if o.n == 0 {
		o.b.WriteByte('{')
	} else {
		o.b.WriteByte(',')
	}
	o.n++
	kb, _ := json.Marshal(k)
	o.b.Write(kb)
	o.b.WriteByte(':')
}

func (o *jsonObj) put(k string, v any) {
	o.key(k)
	vb, err := json.Marshal(v)
	if err != nil {
		vb = []byte("null")
	}
	o.b.Write(vb)
}

func (o *jsonObj) raw(k string, v []byte) {
	o.key(k)
	o.b.Write(v)
}

func (o *jsonObj) bytes() []byte {
	if o.n == 0 {
		return []byte("{}")
	}
	return append(o.b.Bytes(), '}')
}

// number is s as a JSON number when it is one, else as a string, so that
// the loader reports the wrong value under its path.
func number(s string, float bool) any {
	if float {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return s
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return s
}

// specJSON turns the form into a webhook definition with the config file's
// key names. keep is the stored definition being edited (nil for a new
// one): an empty secrets box keeps its secrets (unless SecretsClear), and
// its redacted URL, sent back unchanged, stands for the real one.
func specJSON(f specForm, keep json.RawMessage) ([]byte, []string) {
	var errs []string
	old := map[string]json.RawMessage{}
	if keep != nil {
		_ = json.Unmarshal(keep, &old)
	}
	o := &jsonObj{}
	o.put("name", f.Name)
	u := f.URL
	if ou := scalar(old["url"]); ou != "" && u == redactURL(ou) {
		u = ou
	}
	o.put("url", u)
	o.put("events", nonNilStrings(f.Events))
	str := func(k, v string) {
		if v != "" {
			o.put(k, v)
		}
	}
	str("when", f.When)
	str("method", f.Method)
	str("encoding", f.Encoding)
	str("date_format", f.DateFormat)
	str("timezone", f.Timezone)
	obj := func(k, text string) {
		pairs, es := parseLines(k, text)
		errs = append(errs, es...)
		if len(pairs) == 0 {
			return
		}
		m := &jsonObj{}
		for _, p := range pairs {
			m.put(p.K, p.V)
		}
		o.raw(k, m.bytes())
	}
	obj("hangup_causes", f.HangupCauses)
	obj("params", f.Params)
	obj("headers", f.Headers)
	if f.XMLRoot != "" {
		o.put("xml", map[string]string{"root": f.XMLRoot})
	}
	if f.JSONRPCMethod != "" {
		o.put("jsonrpc", map[string]string{"method": f.JSONRPCMethod})
	}
	o.put("active", f.Active)
	str("delay", f.Delay)
	str("debounce", f.Debounce)
	retry := &jsonObj{}
	if f.RetryAttempts != "" {
		retry.put("attempts", number(f.RetryAttempts, false))
	}
	if f.RetrySchedule != "" {
		retry.put("schedule", f.RetrySchedule)
	}
	if f.RetryInterval != "" {
		retry.put("interval", f.RetryInterval)
	}
	if f.RetryMaxInterval != "" {
		retry.put("max_interval", f.RetryMaxInterval)
	}
	if f.RetryJitter != "" {
		retry.put("jitter", number(f.RetryJitter, true))
	}
	if retry.n > 0 {
		o.raw("retry", retry.bytes())
	}
	str("timeout", f.Timeout)
	var secrets []string
	for _, s := range strings.Split(f.Secrets, "\n") {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, s)
		}
	}
	switch {
	case len(secrets) > 0:
		o.put("secrets", secrets)
	case !f.SecretsClear && len(old["secrets"]) > 0 && string(old["secrets"]) != "null":
		o.raw("secrets", old["secrets"])
	}
	if f.Concurrency != "" {
		o.put("concurrency", number(f.Concurrency, false))
	}
	o.put("ordered", f.Ordered)
	if f.FailingAfter != "" {
		o.put("failing_after", number(f.FailingAfter, false))
	}
	o.put("pause_on_failing", f.PauseOnFailing)
	if f.RetryOn != "" {
		var codes []any
		for _, s := range strings.FieldsFunc(f.RetryOn, func(r rune) bool { return r == ',' || r == ' ' }) {
			codes = append(codes, number(s, false))
		}
		o.put("retry_on", codes)
	}
	return o.bytes(), errs
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// scalar returns a JSON scalar as text: strings unquoted, null as "".
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// orderedPairs decodes a JSON object keeping its key order; values become text.
func orderedPairs(raw json.RawMessage) ([]kv, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []kv
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, kv{K: k, V: scalar(v)})
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return out, nil
}

// formOf fills the form from a stored definition. The secrets box stays
// empty (the secrets are kept unless replaced); the URL is redacted.
func formOf(spec json.RawMessage) (specForm, int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(spec, &m); err != nil {
		return specForm{}, 0, fmt.Errorf("webhook definition: %w", err)
	}
	f := specForm{Active: true}
	f.Name, f.URL, f.When = scalar(m["name"]), redactURL(scalar(m["url"])), scalar(m["when"])
	f.Method, f.Encoding, f.DateFormat, f.Timezone = scalar(m["method"]), scalar(m["encoding"]), scalar(m["date_format"]), scalar(m["timezone"])
	_ = json.Unmarshal(m["events"], &f.Events)
	for _, x := range []struct {
		key string
		dst *string
	}{{"params", &f.Params}, {"headers", &f.Headers}, {"hangup_causes", &f.HangupCauses}} {
		pairs, err := orderedPairs(m[x.key])
		if err != nil {
			return f, 0, fmt.Errorf("webhook definition: %s: %w", x.key, err)
		}
		*x.dst = formatLines(pairs)
	}
	var sub map[string]json.RawMessage
	if json.Unmarshal(m["xml"], &sub) == nil {
		f.XMLRoot = scalar(sub["root"])
	}
	sub = nil
	if json.Unmarshal(m["jsonrpc"], &sub) == nil {
		f.JSONRPCMethod = scalar(sub["method"])
	}
	if a := scalar(m["active"]); a != "" {
		f.Active = a == "true"
	}
	f.Ordered, f.PauseOnFailing = scalar(m["ordered"]) == "true", scalar(m["pause_on_failing"]) == "true"
	f.Delay, f.Debounce, f.Timeout = scalar(m["delay"]), scalar(m["debounce"]), scalar(m["timeout"])
	sub = nil
	if json.Unmarshal(m["retry"], &sub) == nil {
		f.RetryAttempts, f.RetrySchedule, f.RetryInterval = scalar(sub["attempts"]), scalar(sub["schedule"]), scalar(sub["interval"])
		f.RetryMaxInterval, f.RetryJitter = scalar(sub["max_interval"]), scalar(sub["jitter"])
	}
	f.Concurrency, f.FailingAfter = scalar(m["concurrency"]), scalar(m["failing_after"])
	var codes []json.RawMessage
	if json.Unmarshal(m["retry_on"], &codes) == nil {
		var s []string
		for _, c := range codes {
			s = append(s, scalar(c))
		}
		f.RetryOn = strings.Join(s, ", ")
	}
	var secrets []json.RawMessage
	_ = json.Unmarshal(m["secrets"], &secrets)
	return f, len(secrets), nil
}
