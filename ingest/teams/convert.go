package teams

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// unquote returns the text of the raw JSON string v (quotes included), which
// the scanner has checked. As encoding/json does, it replaces invalid UTF-8
// bytes and lone surrogates with U+FFFD. The common case, no escapes and
// valid UTF-8, is a substring of v.
func unquote(v string) string {
	inner := v[1 : len(v)-1]
	plain := true
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain || strings.IndexByte(inner, '\\') < 0 && utf8.ValidString(inner) {
		return inner
	}
	var b strings.Builder
	b.Grow(len(inner))
	for i := 0; i < len(inner); {
		c := inner[i]
		switch {
		case c == '\\' && i+1 < len(inner):
			i += 2
			switch e := inner[i-1]; e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r := hex4(inner, i)
				if r < 0 {
					b.WriteRune(utf8.RuneError)
					continue
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(inner) && inner[i] == '\\' && inner[i+1] == 'u' {
						r2 = hex4(inner, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
						r = dec
						i += 6
					} else {
						r = unicode.ReplacementChar
					}
				}
				b.WriteRune(r)
			default: // '"', '\\', '/'
				b.WriteByte(e)
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(inner[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(inner[i : i+size])
			}
			i += size
		}
	}
	return b.String()
}

// hex4 decodes the four hex digits at s[i:], or returns -1.
func hex4(s string, i int) rune {
	if len(s)-i < 4 {
		return -1
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// isNull reports whether s, a property's text, means "absent": Teams sends
// the string "Null" (in any case) for properties that have no value.
func isNull(s string) bool {
	return len(s) == 4 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'u' && (s[2]|0x20) == 'l' && (s[3]|0x20) == 'l'
}

// digits parses s as a non-empty run of ASCII digits of at most maxLen bytes.
func digits(s string, maxLen int) (int, bool) {
	if len(s) == 0 || len(s) > maxLen {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// timeError says why a time was refused.
type timeError uint8

const (
	timeOK timeError = iota
	timeSyntax
	timeRange
)

// parseTime parses an ISO 8601 / RFC 3339 date-time:
//
//	YYYY-MM-DD(T|t| )hh:mm:ss[(.|,)f…][Z|z|±hh:mm|±hhmm|±hh]
//
// with any number of fraction digits (nanoseconds beyond the ninth digit are
// truncated). A time without an offset is UTC. The result is in UTC. The .NET
// minimum date-time 0001-01-01T00:00:00 (the zero time.Time) means "unset"
// and is returned as the zero time with timeOK.
func parseTime(s string) (time.Time, timeError) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, timeSyntax
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, timeSyntax
	}
	year, ok1 := digits(s[0:4], 4)
	month, ok2 := digits(s[5:7], 2)
	day, ok3 := digits(s[8:10], 2)
	hour, ok4 := digits(s[11:13], 2)
	minute, ok5 := digits(s[14:16], 2)
	sec, ok6 := digits(s[17:19], 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, timeSyntax
	}
	i := 19
	nsec := 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		scale := 100000000
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			nsec += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return time.Time{}, timeSyntax
		}
	}
	offset := 0
	if i < len(s) {
		switch s[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			sign := 1
			if s[i] == '-' {
				sign = -1
			}
			rest := s[i+1:]
			var oh, om int
			var ok bool
			switch {
			case len(rest) == 2:
				oh, ok = digits(rest, 2)
			case len(rest) == 4:
				oh, ok = digits(rest[:2], 2)
				if ok {
					om, ok = digits(rest[2:], 2)
				}
			case len(rest) == 5 && rest[2] == ':':
				oh, ok = digits(rest[:2], 2)
				if ok {
					om, ok = digits(rest[3:], 2)
				}
			}
			if !ok {
				return time.Time{}, timeSyntax
			}
			if oh > 23 || om > 59 {
				return time.Time{}, timeRange
			}
			offset = sign * (oh*3600 + om*60)
			i = len(s)
		default:
			return time.Time{}, timeSyntax
		}
	}
	if i != len(s) {
		return time.Time{}, timeSyntax
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, timeRange
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.IsZero() && offset == 0 {
		return time.Time{}, timeOK // DateTime.MinValue: unset
	}
	t = t.Add(-time.Duration(offset) * time.Second)
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, timeRange
	}
	return t, timeOK
}

// daysIn returns the number of days in month m of year y.
func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// maxSeconds bounds durations so that they fit an int on every platform and
// survive a float64 round trip exactly.
const maxSeconds = 1<<31 - 1

// durationError says why a duration was refused.
type durationError uint8

const (
	durationOK durationError = iota
	durationSyntax
	durationNegative
	durationRange
)

// parseDuration parses a duration in whole seconds from a number of seconds
// ("65", "65.4", 6.5e1; rounded to the nearest second) or a .NET TimeSpan
// ("00:01:05", "1.02:03:04.5", "1:02:03:04"; fractions rounded likewise).
func parseDuration(s string) (int, durationError) {
	if n, ok := digits(s, 9); ok {
		return n, durationOK
	}
	if isNumber(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !isRangeErr(err) {
			return 0, durationSyntax
		}
		if f < 0 {
			return 0, durationNegative
		}
		f = math.Round(f)
		if f > maxSeconds || err != nil {
			return 0, durationRange
		}
		return int(f), durationOK
	}
	return parseTimeSpan(s)
}

// isRangeErr reports whether err is strconv's out-of-range error.
func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// isNumber reports whether s is a JSON number.
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// parseTimeSpan parses a .NET TimeSpan, [-][d.]hh:mm:ss[.fffffff] (the
// constant format) or [-][d:]h:mm:ss[.fffffff] (the general format).
func parseTimeSpan(s string) (int, durationError) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	var parts [4]string
	n := 0
	for n < 4 {
		k := strings.IndexByte(s, ':')
		if k < 0 {
			parts[n] = s
			n++
			s = ""
			break
		}
		parts[n] = s[:k]
		s = s[k+1:]
		n++
	}
	if s != "" || n < 3 {
		return 0, durationSyntax
	}
	var dayStr, hourStr, minStr, secStr string
	if n == 4 {
		dayStr, hourStr, minStr, secStr = parts[0], parts[1], parts[2], parts[3]
	} else {
		hourStr, minStr, secStr = parts[0], parts[1], parts[2]
		if k := strings.IndexByte(hourStr, '.'); k >= 0 {
			dayStr, hourStr = hourStr[:k], hourStr[k+1:]
		}
	}
	frac := ""
	if k := strings.IndexByte(secStr, '.'); k >= 0 {
		secStr, frac = secStr[:k], secStr[k+1:]
		if frac == "" {
			return 0, durationSyntax
		}
		if _, ok := digits(frac, len(frac)); !ok {
			return 0, durationSyntax
		}
	}
	days := 0
	if dayStr != "" || n == 4 || len(hourStr) != len(parts[0]) {
		d, ok := digits(dayStr, 8)
		if !ok {
			return 0, durationSyntax
		}
		days = d
	}
	h, ok1 := digits(hourStr, 2)
	m, ok2 := digits(minStr, 2)
	sec, ok3 := digits(secStr, 2)
	if !ok1 || !ok2 || !ok3 {
		return 0, durationSyntax
	}
	if h > 23 || m > 59 || sec > 59 {
		return 0, durationRange
	}
	total := int64(days)*86400 + int64(h*3600+m*60+sec)
	if frac != "" && frac[0] >= '5' {
		total++
	}
	if neg && total > 0 {
		return 0, durationNegative
	}
	if total > maxSeconds {
		return 0, durationRange
	}
	return int(total), durationOK
}
