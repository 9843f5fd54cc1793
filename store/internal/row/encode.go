package row

import (
	"slices"
	"strconv"

	"github.com/cdrgw/cdrgw/internal/jsonscan"
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
	b = jsonscan.AppendString(b, r.Method)
	b = append(b, `,"url":`...)
	b = jsonscan.AppendString(b, r.URL)
	if len(r.Headers) > 0 {
		b = append(b, `,"headers":`...)
		b = appendHeaders(b, r.Headers)
	}
	if r.Body != "" {
		b = append(b, `,"body":`...)
		b = jsonscan.AppendString(b, r.Body)
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
		b = jsonscan.AppendString(b, r.Body)
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
		b = jsonscan.AppendString(b, k)
		b = append(b, ':')
		b = jsonscan.AppendString(b, h[k])
	}
	return append(b, '}')
}
