// Package jsonscan holds the byte-level JSON scanning shared by cdrgw's
// hand-written decoders (Teams CDR bodies, ARI events): it checks JSON
// syntax exactly as encoding/json's json.Valid does while measuring strings,
// numbers and scalars in a single pass, with no allocation. Strings are not
// checked for valid UTF-8; callers that unquote repair them as encoding/json
// does.
package jsonscan

// SkipWS returns the index of the first non-whitespace byte at or after i.
func SkipWS(s string, i int) int {
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

// String checks the JSON string at s[i] ('"') and returns the index just
// past it, and whether it is plain (ASCII, no escapes).
func String(s string, i int) (end int, ok, plain bool) {
	plain = true
	j := i + 1
	for {
		// Skip eight ordinary bytes (printable ASCII other than '"' and '\\')
		// at a time.
		for j+8 <= len(s) && Ordinary8(s[j:j+8]) {
			j += 8
		}
		for j < len(s) && OrdinaryByte[s[j]] {
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

// OrdinaryByte tells the bytes a string can hold as they are and that keep
// it plain: printable ASCII other than '"' and '\\'.
var OrdinaryByte = func() (t [256]bool) {
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

// Ordinary8 reports whether the 8 bytes of w are all ordinary (see
// OrdinaryByte), testing them together.
func Ordinary8(w string) bool {
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

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Number checks the JSON number at s[i] and returns the index just past it.
func Number(s string, i int) (int, bool) {
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

// Scalar checks the string, number, boolean or null at s[i] and returns
// the index just past it and, for a string, whether it is plain.
func Scalar(s string, i int) (end int, ok, plain bool) {
	switch c := s[i]; {
	case c == '"':
		return String(s, i)
	case c == 't':
		return i + 4, len(s)-i >= 4 && s[i:i+4] == "true", true
	case c == 'f':
		return i + 5, len(s)-i >= 5 && s[i:i+5] == "false", true
	case c == 'n':
		return i + 4, len(s)-i >= 4 && s[i:i+4] == "null", true
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok = Number(s, i)
		return end, ok, true
	}
	return 0, false, false
}
