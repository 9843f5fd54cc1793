package teams

// The scanner checks a body's JSON syntax while it walks it, so each byte is
// looked at once: strings are checked, measured and classified (plain: ASCII
// without escapes, usable as they are) in a single pass. Every string the
// scanner returns is a substring of the body: no copies. The checks follow
// encoding/json's json.Valid exactly (strings are not checked for valid
// UTF-8; unquote repairs them as encoding/json does); FuzzDecode holds the
// two to the same verdict.

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString checks the JSON string at s[i] ('"') and returns the index just
// past it, and whether it is plain (ASCII, no escapes).
func scanString(s string, i int) (end int, ok, plain bool) {
	plain = true
	j := i + 1
	for {
		// Skip eight ordinary bytes (printable ASCII other than '"' and '\\')
		// at a time.
		for j+8 <= len(s) && ordinary8(s[j:j+8]) {
			j += 8
		}
		for j < len(s) && ordinaryByte[s[j]] {
			j++
		}
		if j >= len(s) {
			return 0, false, plain
		}
		switch c := s[j]; {
		case c == '"':
			return j + 1, true, plain
		case c < 0x20:
			return 0, false, plain
		case c >= 0x80:
			plain = false
		default: // '\\'
			plain = false
			j++
			if j >= len(s) {
				return 0, false, plain
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(s)-j < 5 {
					return 0, false, plain
				}
				for k := j + 1; k <= j+4; k++ {
					if !isHex(s[k]) {
						return 0, false, plain
					}
				}
				j += 4
			default:
				return 0, false, plain
			}
		}
		j++
	}
}

// ordinaryByte tells the bytes a string can hold as they are and that keep
// it plain: printable ASCII other than '"' and '\\'.
var ordinaryByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// SWAR constants: a byte repeated in every lane, and each lane's high bit.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// ordinary8 reports whether the 8 bytes of w are all ordinary (see
// ordinaryByte), testing them together.
func ordinary8(w string) bool {
	_ = w[7]
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	quote := x ^ ('"' * lanes01)
	backslash := x ^ ('\\' * lanes01)
	// A lane's high bit is set in (v - 0x01..) &^ v when the lane of v is
	// zero, and in x - 0x20.. &^ x when it is below 0x20 (both exact when
	// no lane has its high bit set, which the last term checks).
	special := (quote - lanes01) &^ quote
	special |= (backslash - lanes01) &^ backslash
	special |= (x - 0x20*lanes01) &^ x
	return (special|x)&lanes80 == 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber checks the JSON number at s[i] and returns the index just past it.
func scanNumber(s string, i int) (int, bool) {
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
	}
	return i, true
}

// scanScalar checks the string, number, boolean or null at s[i] and returns
// the index just past it and, for a string, whether it is plain.
func scanScalar(s string, i int) (end int, ok, plain bool) {
	switch c := s[i]; {
	case c == '"':
		return scanString(s, i)
	case c == 't':
		return i + 4, len(s)-i >= 4 && s[i:i+4] == "true", true
	case c == 'f':
		return i + 5, len(s)-i >= 5 && s[i:i+5] == "false", true
	case c == 'n':
		return i + 4, len(s)-i >= 4 && s[i:i+4] == "null", true
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok = scanNumber(s, i)
		return end, ok, true
	}
	return 0, false, false
}

// scanValue checks the JSON value at s[i] (not whitespace) and returns the
// index just past it and, for a string, whether it is plain.
func scanValue(s string, i int) (end int, ok, plain bool) {
	if i >= len(s) {
		return 0, false, false
	}
	if c := s[i]; c != '{' && c != '[' {
		return scanScalar(s, i)
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
				i = skipWS(s, i+1)
				if i < len(s) && s[i] == '}' {
					i++
					state = afterValue
					continue
				}
				stack = append(stack, '{')
				state = wantKey
				continue
			case '[':
				i = skipWS(s, i+1)
				if i < len(s) && s[i] == ']' {
					i++
					state = afterValue
					continue
				}
				stack = append(stack, '[')
				continue
			}
			end, ok, _ := scanScalar(s, i)
			if !ok {
				return 0, false, false
			}
			i = end
			state = afterValue
		case afterValue:
			if len(stack) == 0 {
				return i, true, true
			}
			i = skipWS(s, i)
			if i >= len(s) {
				return 0, false, false
			}
			top := stack[len(stack)-1]
			switch c := s[i]; {
			case c == ',':
				i = skipWS(s, i+1)
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
			end, ok, _ := scanString(s, i)
			if !ok {
				return 0, false, false
			}
			i = skipWS(s, end)
			if i >= len(s) || s[i] != ':' {
				return 0, false, false
			}
			i = skipWS(s, i+1)
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
	i := skipWS(s, it.i)
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
		i = skipWS(s, i+1)
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
	kend, ok, kplain := scanString(s, i)
	if !ok {
		it.bad = true
		return "", false, false
	}
	i = skipWS(s, kend)
	if i >= len(s) || s[i] != ':' {
		it.bad = true
		return "", false, false
	}
	it.i = skipWS(s, i+1)
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
	i := skipWS(s, it.i)
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
		i = skipWS(s, i+1)
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
