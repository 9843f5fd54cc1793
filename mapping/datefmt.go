package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dateKind is how a date format renders a time.
type dateKind int

const (
	dateRFC3339 dateKind = iota
	dateUnix
	dateUnixMS
	dateLayout   // a Go layout
	dateStrftime // a strftime format
)

// dateFormat is a parsed date format.
type dateFormat struct {
	kind   dateKind
	layout string    // dateLayout
	ops    []strftOp // dateStrftime
	src    string    // as written
}

// strftOp is one piece of a strftime format: a literal or a directive.
type strftOp struct {
	lit string
	dir byte // 0 for a literal
}

// numeric reports whether the format renders a number (unix, unix_ms).
func (f *dateFormat) numeric() bool { return f.kind == dateUnix || f.kind == dateUnixMS }

// referenceTime is used to check Go layouts.
var referenceTime = time.Date(2009, time.November, 10, 23, 4, 5, 123456789, time.UTC)

// parseDateFormat parses a date format: "" and rfc3339, unix, unix_ms, a
// strftime format (any format holding %) or a Go layout.
func parseDateFormat(s string) (*dateFormat, error) {
	switch s {
	case "", "rfc3339":
		return &dateFormat{kind: dateRFC3339, src: s}, nil
	case "unix":
		return &dateFormat{kind: dateUnix, src: s}, nil
	case "unix_ms":
		return &dateFormat{kind: dateUnixMS, src: s}, nil
	}
	if strings.Contains(s, "%") {
		ops, err := parseStrftime(s)
		if err != nil {
			return nil, err
		}
		return &dateFormat{kind: dateStrftime, ops: ops, src: s}, nil
	}
	out := referenceTime.Format(s)
	if out == s {
		return nil, fmt.Errorf("date format %q is not strftime (no %%), not unix, unix_ms or rfc3339, and not a Go layout (it holds no layout element)", s)
	}
	if _, err := time.Parse(s, out); err != nil {
		return nil, fmt.Errorf("date format %q is not a usable Go layout: %w", s, err)
	}
	return &dateFormat{kind: dateLayout, layout: s, src: s}, nil
}

// strftimeDirectives lists the supported directives; %F and %T expand.
const strftimeDirectives = "YmdHMSybBaAjzZpIefLs%"

func parseStrftime(s string) ([]strftOp, error) {
	var ops []strftOp
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("date format %q ends with a lone %%", s)
		}
		i++
		d := s[i]
		if d == '%' {
			lit.WriteByte('%')
			continue
		}
		var dirs string
		switch {
		case d == 'F':
			dirs = "Y-m-d"
		case d == 'T':
			dirs = "H:M:S"
		case strings.IndexByte(strftimeDirectives, d) >= 0:
			dirs = string(d)
		default:
			return nil, fmt.Errorf("date format %q: unknown strftime directive %%%c", s, d)
		}
		for j := 0; j < len(dirs); j++ {
			if dirs[j] == '-' || dirs[j] == ':' {
				lit.WriteByte(dirs[j])
				continue
			}
			if lit.Len() > 0 {
				ops = append(ops, strftOp{lit: lit.String()})
				lit.Reset()
			}
			ops = append(ops, strftOp{dir: dirs[j]})
		}
	}
	if lit.Len() > 0 {
		ops = append(ops, strftOp{lit: lit.String()})
	}
	return ops, nil
}

// appendFormat appends t, already in the webhook's zone, in format f.
func (f *dateFormat) appendFormat(b []byte, t time.Time) []byte {
	switch f.kind {
	case dateRFC3339:
		return t.AppendFormat(b, time.RFC3339)
	case dateUnix:
		return strconv.AppendInt(b, t.Unix(), 10)
	case dateUnixMS:
		return strconv.AppendInt(b, t.UnixMilli(), 10)
	case dateLayout:
		return t.AppendFormat(b, f.layout)
	}
	// The zone is looked up once (each accessor of t would look it up
	// again, a binary search for times the zone does not cache): u is t's
	// wall clock as a UTC time, whose fields are t's fields in its zone.
	_, offset := t.Zone()
	d := dateParts{t: t, u: t.UTC().Add(time.Duration(offset) * time.Second)}
	d.year, d.month, d.day = d.u.Date()
	d.hour, d.min, d.sec = d.u.Clock()
	for _, op := range f.ops {
		if op.dir == 0 {
			b = append(b, op.lit...)
			continue
		}
		b = appendDirective(b, op.dir, &d)
	}
	return b
}

// dateParts is a time with its calendar and clock fields.
type dateParts struct {
	t                   time.Time
	u                   time.Time // t's wall clock in UTC, for the fields
	year                int
	month               time.Month
	day, hour, min, sec int
}

func (f *dateFormat) format(t time.Time) string {
	var buf [64]byte
	return string(f.appendFormat(buf[:0], t))
}

func appendPad(b []byte, v, width int) []byte {
	if width == 2 && v >= 0 && v < 100 {
		return append(b, byte('0'+v/10), byte('0'+v%10))
	}
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func appendDirective(b []byte, dir byte, d *dateParts) []byte {
	t, u := d.t, d.u
	switch dir {
	case 'Y':
		return appendPad(b, d.year, 4)
	case 'm':
		return appendPad(b, int(d.month), 2)
	case 'd':
		return appendPad(b, d.day, 2)
	case 'e':
		if d.day < 10 {
			b = append(b, ' ')
		}
		return strconv.AppendInt(b, int64(d.day), 10)
	case 'H':
		return appendPad(b, d.hour, 2)
	case 'I':
		h := d.hour % 12
		if h == 0 {
			h = 12
		}
		return appendPad(b, h, 2)
	case 'M':
		return appendPad(b, d.min, 2)
	case 'S':
		return appendPad(b, d.sec, 2)
	case 'y':
		y := d.year % 100
		if y < 0 {
			y = -y
		}
		return appendPad(b, y, 2)
	case 'b':
		return append(b, d.month.String()[:3]...)
	case 'B':
		return append(b, d.month.String()...)
	case 'a':
		return append(b, u.Weekday().String()[:3]...)
	case 'A':
		return append(b, u.Weekday().String()...)
	case 'j':
		return appendPad(b, u.YearDay(), 3)
	case 'z':
		return t.AppendFormat(b, "-0700")
	case 'Z':
		return t.AppendFormat(b, "MST")
	case 'p':
		if d.hour < 12 {
			return append(b, "AM"...)
		}
		return append(b, "PM"...)
	case 'f':
		return appendPad(b, t.Nanosecond()/1000, 6)
	case 'L':
		return appendPad(b, t.Nanosecond()/1e6, 3)
	case 's':
		return strconv.AppendInt(b, t.Unix(), 10)
	}
	return b
}
