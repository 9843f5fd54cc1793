package ari

import (
	"encoding/json"
	"github.com/cdrgw/cdrgw/internal/jsonscan"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// The fast decoder reads exactly the fields of Event in one pass over the
// bytes, without reflection. It reads the input through a string view that
// does not outlive the call, and every string it returns is a copy of just
// that value: substrings of one copy of the whole line would be cheaper per
// event, but the tracker keeps some of them for the life of a call (ids,
// names, caller ids, variable values), and each would pin its whole line
// (measured: 20 KB instead of 5.5 KB per call in progress), while copying
// the values alone is faster than copying the line.
//
// It is strict: it accepts only what encoding/json accepts and produces the
// same Event. For anything it does not handle the same way by construction
// (a syntax error, a null or a value of the wrong type for a known field, a
// known field given twice, a key that encoding/json might match
// case-insensitively, an integer too long to check, nesting deeper than
// maxDepth) it gives up and DecodeEvent falls back to encoding/json, so the
// errors are encoding/json's too; a string with escapes or invalid UTF-8 is
// unquoted by encoding/json itself. FuzzFastDecode holds the two to the same
// result.

// maxDepth bounds the nesting the fast decoder skips; deeper input goes to
// encoding/json, which has its own limit.
const maxDepth = 64

// fastDec is the state of one fast decode: the input and the read index.
type fastDec struct {
	s string
	i int
}

// decodeFast decodes data into ev; false means the caller must decode data
// with encoding/json instead (ev may then be partly filled). Nothing in ev
// refers to data's memory.
func decodeFast(data []byte, ev *Event) bool {
	// A read-only view for this call only: str copies what it returns.
	d := fastDec{s: unsafe.String(unsafe.SliceData(data), len(data))}
	d.ws()
	if !d.eat('{') || !d.event(ev) {
		return false
	}
	d.ws()
	return d.i == len(d.s)
}

// ws skips JSON whitespace.
func (d *fastDec) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// eat consumes the byte c, which must be next.
func (d *fastDec) eat(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// key reads the next member's key of an object whose '{' has been read
// (first tells whether none has been read yet) and leaves d at its value.
// more is false after the closing '}'; ok is false on a syntax error or a
// key with escapes or non-ASCII bytes (which encoding/json may unescape or
// fold to a known key).
func (d *fastDec) key(first bool) (key string, more, ok bool) {
	d.ws()
	if d.i >= len(d.s) {
		return "", false, false
	}
	if d.s[d.i] == '}' {
		d.i++
		return "", false, true
	}
	if !first {
		if d.s[d.i] != ',' {
			return "", false, false
		}
		d.i++
		d.ws()
	}
	s := d.s
	i := d.i
	if i >= len(s) || s[i] != '"' {
		return "", false, false
	}
	j := i + 1
	for j < len(s) && jsonscan.OrdinaryByte[s[j]] {
		j++
	}
	if j >= len(s) || s[j] != '"' {
		return "", false, false
	}
	d.i = j + 1
	d.ws()
	if !d.eat(':') {
		return "", false, false
	}
	d.ws()
	return s[i+1 : j], true, true
}

// unknown reports whether the fast decoder may skip the member named key,
// which matched no field exactly: not when encoding/json could match it to
// a field case-insensitively (all field names are lower-case ASCII, and key
// is ASCII).
func unknown(key string) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

// str reads a string value and returns a copy of it (never a substring of
// d.s, which is the caller's memory).
func (d *fastDec) str() (string, bool) {
	s := d.s
	i := d.i
	if i >= len(s) || s[i] != '"' {
		return "", false
	}
	j := i + 1
	for j+8 <= len(s) && jsonscan.Ordinary8(s[j:j+8]) {
		j += 8
	}
	for j < len(s) && jsonscan.OrdinaryByte[s[j]] {
		j++
	}
	if j < len(s) && s[j] == '"' {
		d.i = j + 1
		return strings.Clone(s[i+1 : j]), true
	}
	// Escapes, non-ASCII bytes or a syntax error.
	end, ok, _ := jsonscan.String(s, i)
	if !ok {
		return "", false
	}
	d.i = end
	raw := s[i:end]
	if !hasByte(raw, '\\') && utf8.ValidString(raw) {
		return strings.Clone(raw[1 : len(raw)-1]), true
	}
	// encoding/json's own unquoting (escapes, surrogates, invalid UTF-8).
	var v string
	if json.Unmarshal([]byte(raw), &v) != nil {
		return "", false
	}
	return v, true
}

func hasByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// integer reads an integer value that fits an int64 for certain (at most
// 18 digits); a fraction, an exponent or more digits make it give up.
func (d *fastDec) integer() (int64, bool) {
	s := d.s
	i := d.i
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	start := i
	var n int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int64(s[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 18 || (digits > 1 && s[start] == '0') {
		return 0, false
	}
	if i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
		return 0, false
	}
	d.i = i
	if neg {
		n = -n
	}
	return n, true
}

// boolean reads true or false.
func (d *fastDec) boolean() (bool, bool) {
	s := d.s[d.i:]
	switch {
	case len(s) >= 4 && s[:4] == "true":
		d.i += 4
		return true, true
	case len(s) >= 5 && s[:5] == "false":
		d.i += 5
		return false, true
	}
	return false, false
}

// skip checks and skips any value.
func (d *fastDec) skip(depth int) bool {
	if d.i >= len(d.s) {
		return false
	}
	s := d.s
	switch c := s[d.i]; {
	case c == '{':
		if depth >= maxDepth {
			return false
		}
		d.i++
		for first := true; ; first = false {
			_, more, ok := d.anyKey(first)
			if !ok {
				return false
			}
			if !more {
				return true
			}
			if !d.skip(depth + 1) {
				return false
			}
		}
	case c == '[':
		if depth >= maxDepth {
			return false
		}
		d.i++
		d.ws()
		if d.eat(']') {
			return true
		}
		for {
			d.ws()
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.eat(']') {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	default:
		end, ok, _ := jsonscan.Scalar(s, d.i)
		if !ok {
			return false
		}
		d.i = end
		return true
	}
}

// anyKey is key for objects that are skipped: any valid key will do.
func (d *fastDec) anyKey(first bool) (key string, more, ok bool) {
	d.ws()
	if d.i >= len(d.s) {
		return "", false, false
	}
	if d.s[d.i] == '}' {
		d.i++
		return "", false, true
	}
	if !first {
		if d.s[d.i] != ',' {
			return "", false, false
		}
		d.i++
		d.ws()
	}
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", false, false
	}
	end, ok, _ := jsonscan.String(d.s, d.i)
	if !ok {
		return "", false, false
	}
	key = d.s[d.i:end]
	d.i = end
	d.ws()
	if !d.eat(':') {
		return "", false, false
	}
	d.ws()
	return key, true, true
}

// event reads the members of an event object whose '{' has been read.
func (d *fastDec) event(ev *Event) bool {
	var seen uint32
	for first := true; ; first = false {
		k, more, ok := d.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		var bit uint32
		switch k {
		case "type":
			bit = 1 << 0
			ev.Type, ok = d.str()
		case "timestamp":
			bit = 1 << 1
			ev.Timestamp, ok = d.str()
		case "asterisk_id":
			bit = 1 << 2
			ev.AsteriskID, ok = d.str()
		case "channel":
			bit = 1 << 3
			ev.Channel, ok = d.channel()
		case "caller":
			bit = 1 << 4
			ev.Caller, ok = d.channel()
		case "peer":
			bit = 1 << 5
			ev.Peer, ok = d.channel()
		case "dialstatus":
			bit = 1 << 6
			ev.DialStatus, ok = d.str()
		case "dialstring":
			bit = 1 << 7
			ev.DialString, ok = d.str()
		case "cause":
			bit = 1 << 8
			var n int64
			n, ok = d.integer()
			ev.Cause = int(n)
		case "cause_txt":
			bit = 1 << 9
			ev.CauseText, ok = d.str()
		case "soft":
			bit = 1 << 10
			ev.Soft, ok = d.boolean()
		case "variable":
			bit = 1 << 11
			ev.Variable, ok = d.str()
		case "value":
			bit = 1 << 12
			ev.Value, ok = d.str()
		case "dialplan_app":
			bit = 1 << 13
			ev.DialplanApp, ok = d.str()
		case "dialplan_app_data":
			bit = 1 << 14
			ev.DialplanAppData, ok = d.str()
		case "digit":
			bit = 1 << 15
			ev.Digit, ok = d.str()
		case "bridge":
			bit = 1 << 16
			ok = d.bridge(ev)
		default:
			ok = unknown(k) && d.skip(0)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}

// bridge reads the bridge object into ev.Bridge.
func (d *fastDec) bridge(ev *Event) bool {
	if !d.eat('{') {
		return false
	}
	ev.Bridge = new(struct {
		ID string `json:"id"`
	})
	seen := false
	for first := true; ; first = false {
		k, more, ok := d.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		if k == "id" {
			if seen {
				return false
			}
			seen = true
			ev.Bridge.ID, ok = d.str()
		} else {
			ok = unknown(k) && d.skip(1)
		}
		if !ok {
			return false
		}
	}
}

// channel reads a channel object.
func (d *fastDec) channel() (*Channel, bool) {
	if !d.eat('{') {
		return nil, false
	}
	c := new(Channel)
	var seen uint32
	for first := true; ; first = false {
		k, more, ok := d.key(first)
		if !ok {
			return nil, false
		}
		if !more {
			return c, true
		}
		var bit uint32
		switch k {
		case "id":
			bit = 1 << 0
			c.ID, ok = d.str()
		case "name":
			bit = 1 << 1
			c.Name, ok = d.str()
		case "state":
			bit = 1 << 2
			c.State, ok = d.str()
		case "caller":
			bit = 1 << 3
			ok = d.callerID(&c.Caller)
		case "connected":
			bit = 1 << 4
			ok = d.callerID(&c.Connected)
		case "accountcode":
			bit = 1 << 5
			c.AccountCode, ok = d.str()
		case "dialplan":
			bit = 1 << 6
			ok = d.dialplan(&c.Dialplan)
		case "creationtime":
			bit = 1 << 7
			c.CreationTime, ok = d.str()
		case "channelvars":
			bit = 1 << 8
			start := d.i
			ok = d.skip(1)
			if ok {
				c.ChannelVars = json.RawMessage(d.s[start:d.i])
			}
		default:
			ok = unknown(k) && d.skip(1)
		}
		if !ok || seen&bit != 0 {
			return nil, false
		}
		seen |= bit
	}
}

// callerID reads a caller id object into c.
func (d *fastDec) callerID(c *CallerID) bool {
	if !d.eat('{') {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more, ok := d.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		var bit uint32
		switch k {
		case "name":
			bit = 1 << 0
			c.Name, ok = d.str()
		case "number":
			bit = 1 << 1
			c.Number, ok = d.str()
		default:
			ok = unknown(k) && d.skip(2)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}

// dialplan reads a dialplan object into p.
func (d *fastDec) dialplan(p *Dialplan) bool {
	if !d.eat('{') {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more, ok := d.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		var bit uint32
		switch k {
		case "context":
			bit = 1 << 0
			p.Context, ok = d.str()
		case "exten":
			bit = 1 << 1
			p.Exten, ok = d.str()
		case "priority":
			bit = 1 << 2
			p.Priority, ok = d.integer()
		case "app_name":
			bit = 1 << 3
			p.AppName, ok = d.str()
		case "app_data":
			bit = 1 << 4
			p.AppData, ok = d.str()
		default:
			ok = unknown(k) && d.skip(2)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}
