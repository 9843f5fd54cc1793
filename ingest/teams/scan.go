package teams

import "github.com/cdrgw/cdrgw/internal/jsonscan"

// The scanner checks a body's JSON syntax while it walks it, so each byte is
// looked at once: strings are checked, measured and classified (plain: ASCII
// without escapes, usable as they are) in a single pass. Every string the
// scanner returns is a substring of the body: no copies. The checks follow
// encoding/json's json.Valid exactly (strings are not checked for valid
// UTF-8; unquote repairs them as encoding/json does); FuzzDecode holds the
// two to the same verdict.

// scanValue checks the JSON value at s[i] (not whitespace) and returns the
// index just past it and, for a string, whether it is plain.
func scanValue(s string, i int) (end int, ok, plain bool) {
	if i >= len(s) {
		return 0, false, false
	}
	if c := s[i]; c != '{' && c != '[' {
		return jsonscan.Scalar(s, i)
	}
	const (
		wantValue = iota
		afterValue
		wantKey
	)
	var stackBuf [16]byte
	stack := stackBuf[:0] // '{' or '[' for each open container
	state := wantValue
	for {
		switch state {
		case wantValue:
			if i >= len(s) {
				return 0, false, false
			}
			switch s[i] {
			case '{':
				i = jsonscan.SkipWS(s, i+1)
				if i < len(s) && s[i] == '}' {
					i++
					state = afterValue
					continue
				}
				stack = append(stack, '{')
				state = wantKey
				continue
			case '[':
				i = jsonscan.SkipWS(s, i+1)
				if i < len(s) && s[i] == ']' {
					i++
					state = afterValue
					continue
				}
				stack = append(stack, '[')
				continue
			}
			end, ok, _ := jsonscan.Scalar(s, i)
			if !ok {
				return 0, false, false
			}
			i = end
			state = afterValue
		case afterValue:
			if len(stack) == 0 {
				return i, true, true
			}
			i = jsonscan.SkipWS(s, i)
			if i >= len(s) {
				return 0, false, false
			}
			top := stack[len(stack)-1]
			switch c := s[i]; {
			case c == ',':
				i = jsonscan.SkipWS(s, i+1)
				if top == '{' {
					state = wantKey
				} else {
					state = wantValue
				}
			case c == '}' && top == '{', c == ']' && top == '[':
				stack = stack[:len(stack)-1]
				i++
			default:
				return 0, false, false
			}
		case wantKey:
			if i >= len(s) || s[i] != '"' {
				return 0, false, false
			}
			end, ok, _ := jsonscan.String(s, i)
			if !ok {
				return 0, false, false
			}
			i = jsonscan.SkipWS(s, end)
			if i >= len(s) || s[i] != ':' {
				return 0, false, false
			}
			i = jsonscan.SkipWS(s, i+1)
			state = wantValue
		}
	}
}

// member is one member of a JSON object, as found in the body.
type member struct {
	key      string // raw, with quotes
	keyPlain bool
	val      string // raw JSON
	valPlain bool   // val is not a string, or a plain one
}

// objIter iterates over the members of a JSON object, checking its syntax.
type objIter struct {
	s       string
	i       int
	key     int // where the key nextKey returned starts
	started bool
	bad     bool // a syntax error was found; next returns false
}

// newObjIter returns an iterator over the object that starts at s[i] ('{').
func newObjIter(s string, i int) objIter { return objIter{s: s, i: i + 1} }

// next returns the next member. After the last one, or a syntax error
// (it.bad), it returns false.
func (it *objIter) next() (m member, ok bool) {
	key, keyPlain, ok := it.nextKey()
	if !ok {
		return m, false
	}
	val, valPlain, ok := it.value()
	if !ok {
		return m, false
	}
	return member{key: key, keyPlain: keyPlain, val: val, valPlain: valPlain}, true
}

// nextKey returns the raw key of the next member and leaves the iterator at
// the start of its value, which the caller must then read with value (or
// scan itself and continue with it.i set past it). After the last member, or
// a syntax error (it.bad), it returns false.
func (it *objIter) nextKey() (key string, plain, ok bool) {
	s := it.s
	i := jsonscan.SkipWS(s, it.i)
	if i >= len(s) {
		it.bad = true
		return "", false, false
	}
	if s[i] == '}' {
		it.i = i + 1
		return "", false, false
	}
	if it.started {
		if s[i] != ',' {
			it.bad = true
			return "", false, false
		}
		i = jsonscan.SkipWS(s, i+1)
		if i >= len(s) {
			it.bad = true
			return "", false, false
		}
	}
	it.started = true
	if s[i] != '"' {
		it.bad = true
		return "", false, false
	}
	kstart := i
	kend, ok, kplain := jsonscan.String(s, i)
	if !ok {
		it.bad = true
		return "", false, false
	}
	i = jsonscan.SkipWS(s, kend)
	if i >= len(s) || s[i] != ':' {
		it.bad = true
		return "", false, false
	}
	it.i = jsonscan.SkipWS(s, i+1)
	it.key = kstart
	return s[kstart:kend], kplain, true
}

// value scans the value of the member whose key nextKey returned, and
// returns it raw and whether it is plain. On a syntax error it sets it.bad
// and returns false.
func (it *objIter) value() (val string, plain, ok bool) {
	vstart := it.i
	vend, ok, plain := scanValue(it.s, vstart)
	if !ok {
		it.bad = true
		return "", false, false
	}
	it.i = vend
	return it.s[vstart:vend], plain, true
}

// end is the index just past the object, once next has returned false
// without a syntax error.
func (it *objIter) end() int { return it.i }

// arrIter iterates over the elements of a JSON array, checking the commas
// between them; the caller checks each element and reports where it ended.
type arrIter struct {
	s       string
	i       int
	started bool
	bad     bool // a syntax error was found; nextStart returns false
}

// newArrIter returns an iterator over the array that starts at s[i] ('[').
func newArrIter(s string, i int) arrIter { return arrIter{s: s, i: i + 1} }

// nextStart returns the index where the next element starts. After the last
// one, or a syntax error (it.bad), it returns false.
func (it *arrIter) nextStart() (int, bool) {
	s := it.s
	i := jsonscan.SkipWS(s, it.i)
	if i >= len(s) {
		it.bad = true
		return 0, false
	}
	if s[i] == ']' {
		it.i = i + 1
		return 0, false
	}
	if it.started {
		if s[i] != ',' {
			it.bad = true
			return 0, false
		}
		i = jsonscan.SkipWS(s, i+1)
		if i >= len(s) {
			it.bad = true
			return 0, false
		}
	}
	it.started = true
	return i, true
}

// skipTo continues after an element that ended at end.
func (it *arrIter) skipTo(end int) { it.i = end }

// end is the index just past the array, once nextStart has returned false
// without a syntax error.
func (it *arrIter) end() int { return it.i }

// jsonKind names the kind of the raw JSON value v for error messages.
func jsonKind(v string) string {
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
