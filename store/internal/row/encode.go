package row

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/cdrgw/cdrgw/store"
)

// EncodeRequest returns the JSON stored for an attempt's request: the bytes
// json.Marshal gives, written without reflection.
func EncodeRequest(r store.HTTPRequest) ([]byte, error) {
	n := 40 + len(r.Method) + len(r.URL) + len(r.Body)
	for k, v := range r.Headers {
		n += len(k) + len(v) + 6
	}
	b := make([]byte, 0, n+n/8)
	b = append(b, `{"method":`...)
	b = appendString(b, r.Method)
	b = append(b, `,"url":`...)
	b = appendString(b, r.URL)
	if len(r.Headers) > 0 {
		b = append(b, `,"headers":`...)
		b = appendHeaders(b, r.Headers)
	}
	if r.Body != "" {
		b = append(b, `,"body":`...)
		b = appendString(b, r.Body)
	}
	return append(b, '}'), nil
}

// EncodeResponse returns the JSON stored for an attempt's response, nil for
// none: the bytes json.Marshal gives, written without reflection.
func EncodeResponse(r *store.HTTPResponse) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	n := 40 + len(r.Body)
	for k, v := range r.Headers {
		n += len(k) + len(v) + 6
	}
	b := make([]byte, 0, n+n/8)
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	if len(r.Headers) > 0 {
		b = append(b, `,"headers":`...)
		b = appendHeaders(b, r.Headers)
	}
	if r.Body != "" {
		b = append(b, `,"body":`...)
		b = appendString(b, r.Body)
	}
	return append(b, '}'), nil
}

// appendHeaders appends h as a JSON object with its keys sorted, as
// encoding/json writes a map.
func appendHeaders(b []byte, h map[string]string) []byte {
	var buf [16]string
	keys := buf[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, h[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// plainByte tells the ASCII bytes encoding/json writes as they are (it
// escapes controls, '"', '\\' and, for HTML safety, '<', '>' and '&').
var plainByte = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string exactly as encoding/json does
// (HTML-safe escapes, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainByte[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
