package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Content types of the encodings with a body.
const (
	contentTypeForm = "application/x-www-form-urlencoded"
	contentTypeJSON = "application/json"
	contentTypeXML  = "application/xml"
)

// checkValue bounds the size of a non-scalar value before it is encoded.
func checkValue(v any) error {
	switch v.(type) {
	case nil, string, bool, int, int64, float64, time.Time, *time.Time:
		return nil
	}
	return checkSize(v, MaxValueNodes, MaxValueBytes)
}

// encode writes the params into req; ct is where the Content-Type value goes.
func (w *Webhook) encode(req *Request, vals []value, deliveryID string, field *string, ct []string) error {
	switch w.encoding {
	case EncodingQuery:
		return w.encodeQuery(req, vals, field)
	case EncodingForm:
		if w.method == "GET" {
			return w.encodeQuery(req, vals, field)
		}
		b, err := w.appendForm(w.newBody(), vals, field)
		if err != nil {
			return err
		}
		w.setBody(req, ct, b, contentTypeForm)
	case EncodingJSON:
		b, err := w.appendObject(w.newBody(), w.tree, vals, field)
		if err != nil {
			return err
		}
		w.setBody(req, ct, b, contentTypeJSON)
	case EncodingJSONRPC:
		b := append(w.newBody(), `{"jsonrpc":"2.0","method":`...)
		b = appendJSONString(b, w.spec.JSONRPCMethod)
		b = append(b, `,"params":`...)
		b, err := w.appendObject(b, w.tree, vals, field)
		if err != nil {
			return err
		}
		b = append(b, `,"id":`...)
		b = appendJSONString(b, deliveryID)
		b = append(b, '}')
		w.setBody(req, ct, b, contentTypeJSON)
	case EncodingXML:
		b := append(w.newBody(), `<?xml version="1.0" encoding="UTF-8"?><`...)
		b = append(b, w.root...)
		b = append(b, '>')
		b, err := w.appendXMLChildren(b, w.tree, vals, field)
		if err != nil {
			return err
		}
		b = append(b, "</"...)
		b = append(b, w.root...)
		b = append(b, '>')
		w.setBody(req, ct, b, contentTypeXML)
	}
	return nil
}

func (w *Webhook) newBody() []byte {
	return make([]byte, 0, w.bodySize.Load()+64)
}

func (w *Webhook) setBody(req *Request, ct []string, b []byte, contentType string) {
	w.bodySize.Store(int64(len(b)))
	req.Body = b
	ct[0] = contentType
	req.Header["Content-Type"] = ct
}

func (w *Webhook) appendForm(b []byte, vals []value, field *string) ([]byte, error) {
	first := true
	for i := range vals {
		s, null, err := w.scalarValue(&vals[i])
		if err != nil {
			*field = w.pfields[i]
			return nil, err
		}
		if null {
			continue
		}
		if !first {
			b = append(b, '&')
		}
		first = false
		b = append(b, url.QueryEscape(w.spec.Params[i].Name)...)
		b = append(b, '=')
		b = append(b, url.QueryEscape(s)...)
	}
	return b, nil
}

func (w *Webhook) encodeQuery(req *Request, vals []value, field *string) error {
	q, err := w.appendForm(nil, vals, field)
	if err != nil || len(q) == 0 {
		return err
	}
	u, frag, _ := strings.Cut(req.URL, "#")
	var b strings.Builder
	b.Grow(len(req.URL) + len(q) + 2)
	b.WriteString(u)
	switch {
	case !strings.Contains(u, "?"):
		b.WriteByte('?')
	case !strings.HasSuffix(u, "?") && !strings.HasSuffix(u, "&"):
		b.WriteByte('&')
	}
	b.Write(q)
	if strings.Contains(req.URL, "#") {
		b.WriteByte('#')
		b.WriteString(frag)
	}
	req.URL = b.String()
	return nil
}

// appendObject writes the params under n as a JSON object, in config order.
func (w *Webhook) appendObject(b []byte, n *node, vals []value, field *string) ([]byte, error) {
	b = append(b, '{')
	for i, ch := range n.children {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ch.key...)
		var err error
		if ch.param >= 0 {
			b, err = w.appendValue(b, &vals[ch.param])
			if err != nil {
				*field = w.pfields[ch.param]
			}
		} else {
			b, err = w.appendObject(b, ch, vals, field)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendXMLChildren writes the params under n as XML elements, leaving out
// nulls and groups with nothing in them.
func (w *Webhook) appendXMLChildren(b []byte, n *node, vals []value, field *string) ([]byte, error) {
	for _, ch := range n.children {
		start := len(b)
		b = append(b, '<')
		b = append(b, ch.name...)
		b = append(b, '>')
		open := len(b)
		if ch.param >= 0 {
			s, null, err := w.scalarValue(&vals[ch.param])
			if err != nil {
				*field = w.pfields[ch.param]
				return nil, err
			}
			if null {
				b = b[:start]
				continue
			}
			b = appendXMLText(b, s)
		} else {
			var err error
			if b, err = w.appendXMLChildren(b, ch, vals, field); err != nil {
				return nil, err
			}
			if len(b) == open {
				b = b[:start]
				continue
			}
		}
		b = append(b, "</"...)
		b = append(b, ch.name...)
		b = append(b, '>')
	}
	return b, nil
}

var errNotFinite = errors.New("number is not finite (NaN or Inf)")

func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("%w: %v", errNotFinite, f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-07 → e-7, as encoding/json writes it
		b = b[:n-1]
	}
	return b, nil
}

// appendTime writes t in the webhook's format and zone; numeric formats
// (unix, unix_ms) are written as numbers when quote is false.
func (w *Webhook) appendTime(b []byte, t time.Time, quote bool) []byte {
	if quote && !w.fn.format.numeric() {
		var tmp [64]byte
		return appendJSONBytes(b, w.fn.format.appendFormat(tmp[:0], t.In(w.fn.loc)))
	}
	return w.fn.format.appendFormat(b, t.In(w.fn.loc))
}

// appendJSON writes v as JSON: numbers stay numbers, times use the webhook's
// date format and zone, other values go through encoding/json.
func (w *Webhook) appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return appendFloat(b, x)
	case time.Time:
		return w.appendTime(b, x, true), nil
	case *time.Time:
		if x == nil {
			return append(b, "null"...), nil
		}
		return w.appendTime(b, *x, true), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = w.appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = w.appendJSON(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		return w.appendJSON(b, rv.Elem().Interface())
	case reflect.String:
		return appendJSONString(b, rv.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, rv.Uint(), 10), nil
	case reflect.Float32:
		return appendFloat(b, rv.Float())
	case reflect.Bool:
		return strconv.AppendBool(b, rv.Bool()), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %T as JSON: %w", v, err)
	}
	return append(b, data...), nil
}

// scalarString renders v as text for query, form, xml, URL parts and headers.
// null is true for nil values, which those encodings leave out. Arrays, maps
// and structs are written as JSON.
func (w *Webhook) scalarString(v any) (s string, null bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", true, nil
	case string:
		return x, false, nil
	case bool:
		return strconv.FormatBool(x), false, nil
	case int:
		return strconv.Itoa(x), false, nil
	case time.Time:
		return w.fn.format.format(x.In(w.fn.loc)), false, nil
	case *time.Time:
		if x == nil {
			return "", true, nil
		}
		return w.fn.format.format(x.In(w.fn.loc)), false, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", true, nil
		}
		return w.scalarString(rv.Elem().Interface())
	}
	if rv.Kind() == reflect.String {
		return rv.String(), false, nil
	}
	b, err := w.appendJSON(nil, v)
	if err != nil {
		return "", false, err
	}
	return string(b), false, nil
}

const hexDigits = "0123456789abcdef"

// jsonSafe tells the bytes appendJSONString copies as they are: ASCII but
// control characters, quote and backslash.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONBytes is appendJSONString(b, string(p)), without converting p
// when it needs no escaping (formatted dates nearly always).
func appendJSONBytes(b, p []byte) []byte {
	for _, c := range p {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return appendJSONString(b, string(p))
		}
	}
	b = append(b, '"')
	b = append(b, p...)
	return append(b, '"')
}

// appendXMLText writes s as XML character data; characters XML cannot hold
// become U+FFFD.
func appendXMLText(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&quot;"...)
		case r == '\'':
			b = append(b, "&apos;"...)
		case r == '\r':
			b = append(b, "&#xD;"...)
		case r == '\t' || r == '\n':
			b = append(b, byte(r))
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			b = append(b, "\uFFFD"...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}
