package cdr

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/cdrgw/cdrgw/internal/jsonscan"
)

// decodeEventFast decodes an event in one pass over data, as
// decodeEventStd (encoding/json) would. It handles the JSON cdrgw writes
// and whatever else it can decode exactly; on anything else (a syntax or
// type error, a key that is not plain lower-case ASCII and so might match a
// field case-insensitively, a repeated array member) it returns false and
// the caller decodes with decodeEventStd, which also reports the error.
// FuzzDecodeFast checks it against decodeEventStd.
func decodeEventFast(data []byte, e *Event) bool {
	// One copy of the body backs every string of the event: one allocation
	// instead of one per field.
	d := fastDec{s: string(data)}
	d.ws()
	var (
		ev          Event
		typ         string
		recStart    = -1
		recEnd      int
		first       = true
		typeDecoded bool
	)
	if !d.eat('{') {
		return false
	}
	for ; ; first = false {
		key, more, ok := d.key(first)
		if !ok {
			return false
		}
		if !more {
			break
		}
		switch key {
		case "id":
			ok = d.str(&ev.ID)
		case "type":
			ok = d.str(&typ)
			typeDecoded = true
		case "time":
			ok = d.time(&ev.Time)
		case "source":
			ok = d.sourceRef(&ev.Source)
		case "record":
			start := d.i
			ok = d.skip(0)
			recStart, recEnd = start, d.i
		default:
			ok = d.skip(0)
		}
		if !ok {
			return false
		}
	}
	d.ws()
	if d.i != len(d.s) || !typeDecoded || recStart < 0 {
		return false
	}
	t, err := ParseType(typ)
	if err != nil {
		return false
	}
	ev.Type = t
	rd := fastDec{s: d.s[:recEnd], i: recStart}
	if rd.s[rd.i] != '{' { // null (no record) or a type error
		return false
	}
	rec, ok := rd.record(t.Kind())
	if !ok {
		return false
	}
	toUTC(rec)
	ev.Time = ev.Time.UTC()
	ev.Record = rec
	*e = ev
	return true
}

// maxDepth bounds the nesting of skipped values (encoding/json allows
// 10000; deeper input goes to it for the error).
const maxDepth = 1000

// fastDec reads JSON from s at i (a copy of the caller's buffer, which
// the strings it returns share).
type fastDec struct {
	s string
	i int
}

func (d *fastDec) ws() { d.i = jsonscan.SkipWS(d.s, d.i) }

func (d *fastDec) eat(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// key reads the next member name of an object whose '{' was read and the
// ':' after it; more is false at the closing '}'. A name that is not plain
// lower-case ASCII fails (encoding/json could match it to a field
// case-insensitively).
func (d *fastDec) key(first bool) (key string, more, ok bool) {
	d.ws()
	if d.eat('}') {
		return "", false, true
	}
	if !first {
		if !d.eat(',') {
			return "", false, false
		}
		d.ws()
	}
	s, i := d.s, d.i
	if i >= len(s) || s[i] != '"' {
		return "", false, false
	}
	j := i + 1
	for j < len(s) && jsonscan.OrdinaryByte[s[j]] {
		if c := s[j]; c >= 'A' && c <= 'Z' {
			return "", false, false
		}
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

// null reads a null if one is next.
func (d *fastDec) null() bool {
	if strings.HasPrefix(d.s[d.i:], "null") {
		d.i += 4
		return true
	}
	return false
}

// strLit reads a JSON string and returns its text.
func (d *fastDec) strLit() (string, bool) {
	s, i := d.s, d.i
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
		return s[i+1 : j], true
	}
	end, ok, _ := jsonscan.String(s, i)
	if !ok {
		return "", false
	}
	d.i = end
	raw := s[i:end]
	if strings.IndexByte(raw, '\\') < 0 && utf8.ValidString(raw) {
		return raw[1 : len(raw)-1], true
	}
	return unquoteStd(raw)
}

// unquoteStd unquotes raw as encoding/json does (escapes, surrogates,
// invalid UTF-8).
func unquoteStd(raw string) (string, bool) {
	var v string
	if json.Unmarshal([]byte(raw), &v) != nil {
		return "", false
	}
	return v, true
}

// str reads a string into dst; null leaves dst as it is.
func (d *fastDec) str(dst *string) bool {
	if d.null() {
		return true
	}
	v, ok := d.strLit()
	if ok {
		*dst = v
	}
	return ok
}

// integer reads an integer into dst as encoding/json does for an int
// field; null leaves dst as it is.
func (d *fastDec) integer(dst *int) bool {
	if d.i >= len(d.s) {
		return false
	}
	if d.null() {
		return true
	}
	c := d.s[d.i]
	if c != '-' && (c < '0' || c > '9') {
		return false
	}
	end, ok := jsonscan.Number(d.s, d.i)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(d.s[d.i:end], 10, 64) // fails on fractions and exponents, as encoding/json does
	if err != nil {
		return false
	}
	d.i = end
	*dst = int(n)
	return true
}

// boolean reads true or false into dst; null leaves dst as it is.
func (d *fastDec) boolean(dst *bool) bool {
	rest := d.s[d.i:]
	switch {
	case strings.HasPrefix(rest, "true"):
		*dst = true
		d.i += 4
	case strings.HasPrefix(rest, "false"):
		*dst = false
		d.i += 5
	case strings.HasPrefix(rest, "null"):
		d.i += 4
	default:
		return false
	}
	return true
}

// boolPtr reads a *bool: null sets nil, true or false fills *dst (new
// when nil, or own when given).
func (d *fastDec) boolPtr(dst **bool, own *bool) bool {
	if d.null() {
		*dst = nil
		return true
	}
	if *dst == nil {
		if own == nil {
			own = new(bool)
		}
		*dst = own
	}
	return d.boolean(*dst)
}

// time reads a time as time.Time.UnmarshalJSON does, from the raw JSON
// string; null leaves dst as it is.
func (d *fastDec) time(dst *time.Time) bool {
	if d.null() {
		return true
	}
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return false
	}
	end, ok, _ := jsonscan.String(d.s, d.i)
	if !ok {
		return false
	}
	raw := d.s[d.i:end]
	// time.Time.UnmarshalJSON keeps nothing of its argument.
	if dst.UnmarshalJSON(unsafe.Slice(unsafe.StringData(raw), len(raw))) != nil {
		return false
	}
	d.i = end
	return true
}

// timePtr reads a *time.Time: null sets nil, a string fills *dst (own or
// new when nil).
func (d *fastDec) timePtr(dst **time.Time, own *time.Time) bool {
	if d.null() {
		*dst = nil
		return true
	}
	if *dst == nil {
		if own == nil {
			own = new(time.Time)
		}
		*dst = own
	}
	return d.time(*dst)
}

// object reads an object, calling member for each member with the value
// next; null leaves everything as it is.
func (d *fastDec) object(member func(key string) bool) bool {
	if d.null() {
		return true
	}
	if !d.eat('{') {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		if !member(key) {
			return false
		}
	}
}

// array reads an array into a fresh slice: elem reads element i (the slice
// has grown to hold it). null calls null; a slice that is already set
// fails (encoding/json would decode into its elements).
func array[T any](d *fastDec, dst *[]T, capHint int, elem func(v *T) bool) bool {
	if d.null() {
		*dst = nil
		return true
	}
	if *dst != nil || !d.eat('[') {
		return false
	}
	s := make([]T, 0, capHint)
	d.ws()
	if !d.eat(']') {
		for {
			d.ws()
			s = append(s, *new(T))
			if !elem(&s[len(s)-1]) {
				return false
			}
			d.ws()
			if d.eat(']') {
				break
			}
			if !d.eat(',') {
				return false
			}
		}
	}
	*dst = s
	return true
}

// skip reads any value, checking its syntax.
func (d *fastDec) skip(depth int) bool {
	if d.i >= len(d.s) {
		return false
	}
	switch c := d.s[d.i]; c {
	case '{', '[':
		if depth >= maxDepth {
			return false
		}
		d.i++
		d.ws()
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		if d.eat(closer) {
			return true
		}
		for {
			d.ws()
			if c == '{' {
				end, ok, _ := jsonscan.String(d.s, d.i)
				if !ok || d.s[d.i] != '"' {
					return false
				}
				d.i = end
				d.ws()
				if !d.eat(':') {
					return false
				}
				d.ws()
			}
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.eat(closer) {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	default:
		end, ok, _ := jsonscan.Scalar(d.s, d.i)
		if !ok {
			return false
		}
		d.i = end
		return true
	}
}

func (d *fastDec) sourceRef(r *SourceRef) bool {
	return d.object(func(key string) bool {
		switch key {
		case "kind":
			return d.str(&r.Kind)
		case "name":
			return d.str(&r.Name)
		}
		return d.skip(1)
	})
}

func (d *fastDec) party(p *Party) bool {
	return d.object(func(key string) bool {
		switch key {
		case "number":
			return d.str(&p.Number)
		case "name":
			return d.str(&p.Name)
		case "user_id":
			return d.str(&p.UserID)
		case "upn":
			return d.str(&p.UPN)
		}
		return d.skip(1)
	})
}

func (d *fastDec) transfer(t *Transfer) bool {
	return d.object(func(key string) bool {
		switch key {
		case "type":
			return d.str(&t.Type)
		case "to_id":
			return d.str(&t.ToID)
		case "to_name":
			return d.str(&t.ToName)
		}
		return d.skip(1)
	})
}

func (d *fastDec) named(n *Named) bool {
	return d.object(func(key string) bool {
		switch key {
		case "id":
			return d.str(&n.ID)
		case "name":
			return d.str(&n.Name)
		}
		return d.skip(1)
	})
}

// custom reads a map of strings: null sets nil, members are added to the
// map (made when nil), a null value as "".
func (d *fastDec) custom(m *map[string]string) bool {
	if d.null() {
		*m = nil
		return true
	}
	if !d.eat('{') {
		return false
	}
	if *m == nil {
		*m = map[string]string{}
	}
	for first := true; ; first = false {
		d.ws()
		if d.eat('}') {
			return true
		}
		if !first {
			if !d.eat(',') {
				return false
			}
			d.ws()
		}
		var k, v string
		if d.i >= len(d.s) || d.s[d.i] != '"' || !d.str(&k) {
			return false
		}
		d.ws()
		if !d.eat(':') {
			return false
		}
		d.ws()
		if d.i >= len(d.s) || (d.s[d.i] != '"' && d.s[d.i] != 'n') || !d.str(&v) {
			return false
		}
		(*m)[k] = v
	}
}

// base reads a Base member; ok is false when key is not one of Base's.
func (d *fastDec) base(b *Base, key string, ended *time.Time) (handled, ok bool) {
	switch key {
	case "id":
		return true, d.str(&b.ID)
	case "kind":
		return true, d.str((*string)(&b.Kind))
	case "source":
		return true, d.sourceRef(&b.Source)
	case "call_id":
		return true, d.str(&b.CallID)
	case "direction":
		return true, d.str((*string)(&b.Direction))
	case "caller":
		return true, d.party(&b.Caller)
	case "started_at":
		return true, d.time(&b.StartedAt)
	case "ended_at":
		return true, d.timePtr(&b.EndedAt, ended)
	case "custom":
		return true, d.custom(&b.Custom)
	}
	return false, false
}

// callBlock, queueBlock and ivrBlock hold a record with values it points to,
// so that one allocation serves most records.
type callBlock struct {
	rec             Call
	ended, answered time.Time
}

type queueBlock struct {
	rec   Queue
	ended time.Time
	met   bool
}

type ivrBlock struct {
	rec   IVR
	ended time.Time
	data  [DataValueCount]string
}

// record decodes the record object at d.i of kind k.
func (d *fastDec) record(k Kind) (Record, bool) {
	switch k {
	case KindCall:
		blk := new(callBlock)
		r := &blk.rec
		ok := d.object(func(key string) bool {
			if h, ok := d.base(&r.Base, key, &blk.ended); h {
				return ok
			}
			switch key {
			case "callee":
				return d.party(&r.Callee)
			case "answered_at":
				return d.timePtr(&r.AnsweredAt, &blk.answered)
			case "duration":
				return d.integer(&r.Duration)
			case "billsec":
				return d.integer(&r.Billsec)
			case "disposition":
				return d.str((*string)(&r.Disposition))
			case "hangup":
				return d.object(func(key string) bool {
					switch key {
					case "cause":
						return d.integer(&r.Hangup.Cause)
					case "cause_text":
						return d.str(&r.Hangup.CauseText)
					case "sip_code":
						return d.integer(&r.Hangup.SIPCode)
					case "initiator":
						return d.str((*string)(&r.Hangup.Initiator))
					}
					return d.skip(1)
				})
			case "account_code":
				return d.str(&r.AccountCode)
			case "user_field":
				return d.str(&r.UserField)
			case "legs":
				return array(d, &r.Legs, 2, d.leg)
			}
			return d.skip(1)
		})
		return r, ok
	case KindQueue:
		blk := new(queueBlock)
		r := &blk.rec
		ok := d.object(func(key string) bool {
			if h, ok := d.base(&r.Base, key, &blk.ended); h {
				return ok
			}
			switch key {
			case "scenario_id":
				return d.str(&r.ScenarioID)
			case "queue":
				return d.named(&r.Queue)
			case "agent":
				return d.object(func(key string) bool {
					switch key {
					case "name":
						return d.str(&r.Agent.Name)
					case "id":
						return d.str(&r.Agent.ID)
					case "user_id":
						return d.str(&r.Agent.UserID)
					case "upn":
						return d.str(&r.Agent.UPN)
					}
					return d.skip(1)
				})
			case "call_length":
				return d.integer(&r.CallLength)
			case "wait":
				return d.integer(&r.Wait)
			case "talk":
				return d.integer(&r.Talk)
			case "met_service_level":
				return d.boolPtr(&r.MetServiceLevel, &blk.met)
			case "leave_reason":
				return d.str(&r.LeaveReason)
			case "from":
				return d.str(&r.From)
			case "parent_id":
				return d.str(&r.ParentID)
			case "ou_path":
				return d.str(&r.OUPath)
			case "callback_request_id":
				return d.str(&r.CallbackRequestID)
			case "transfer":
				return d.transfer(&r.Transfer)
			case "resource_account_object_id":
				return d.str(&r.ResourceAccountObjectID)
			}
			return d.skip(1)
		})
		return r, ok
	case KindIVR:
		blk := new(ivrBlock)
		r := &blk.rec
		ok := d.object(func(key string) bool {
			if h, ok := d.base(&r.Base, key, &blk.ended); h {
				return ok
			}
			switch key {
			case "scenario_id":
				return d.str(&r.ScenarioID)
			case "ivr":
				return d.named(&r.IVR)
			case "call_length":
				return d.integer(&r.CallLength)
			case "from":
				return d.str(&r.From)
			case "parent_id":
				return d.str(&r.ParentID)
			case "ou_path":
				return d.str(&r.OUPath)
			case "transfer":
				return d.transfer(&r.Transfer)
			case "inputs":
				return array(d, &r.Inputs, 0, d.ivrInput)
			case "data_values":
				if r.DataValues == nil && d.i < len(d.s) && d.s[d.i] == '[' {
					// Decode into the block's array while it fits.
					r.DataValues = blk.data[:0:DataValueCount]
					ok := d.stringsInto(&r.DataValues)
					return ok
				}
				return array(d, &r.DataValues, 0, d.str)
			case "resource_account_object_id":
				return d.str(&r.ResourceAccountObjectID)
			}
			return d.skip(1)
		})
		return r, ok
	case KindSource:
		r := new(SourceStatus)
		ok := d.object(func(key string) bool {
			switch key {
			case "id":
				return d.str(&r.ID)
			case "kind":
				return d.str((*string)(&r.Kind))
			case "source":
				return d.sourceRef(&r.Source)
			case "status":
				return d.str(&r.Status)
			case "at":
				return d.time(&r.At)
			case "error":
				return d.str(&r.Error)
			}
			return d.skip(1)
		})
		return r, ok
	case KindWebhook:
		r := new(WebhookStatus)
		ok := d.object(func(key string) bool {
			switch key {
			case "id":
				return d.str(&r.ID)
			case "kind":
				return d.str((*string)(&r.Kind))
			case "webhook":
				return d.str(&r.Webhook)
			case "at":
				return d.time(&r.At)
			case "consecutive_failures":
				return d.integer(&r.ConsecutiveFailures)
			case "last_status":
				return d.integer(&r.LastStatus)
			case "last_error":
				return d.str(&r.LastError)
			case "paused":
				return d.boolean(&r.Paused)
			}
			return d.skip(1)
		})
		return r, ok
	}
	return nil, false
}

// stringsInto reads an array of strings (null elements as "") by appending
// to *dst, which is empty; an empty array leaves it empty and non-nil.
func (d *fastDec) stringsInto(dst *[]string) bool {
	if !d.eat('[') {
		return false
	}
	s := *dst
	d.ws()
	if !d.eat(']') {
		for {
			d.ws()
			s = append(s, "")
			if !d.str(&s[len(s)-1]) {
				return false
			}
			d.ws()
			if d.eat(']') {
				break
			}
			if !d.eat(',') {
				return false
			}
		}
	}
	*dst = s
	return true
}

func (d *fastDec) leg(l *Leg) bool {
	return d.object(func(key string) bool {
		switch key {
		case "channel":
			return d.str(&l.Channel)
		case "unique_id":
			return d.str(&l.UniqueID)
		case "started_at":
			return d.time(&l.StartedAt)
		case "answered_at":
			return d.timePtr(&l.AnsweredAt, nil)
		case "ended_at":
			return d.timePtr(&l.EndedAt, nil)
		}
		return d.skip(1)
	})
}

func (d *fastDec) ivrInput(in *IVRInput) bool {
	return d.object(func(key string) bool {
		switch key {
		case "id":
			return d.str(&in.ID)
		case "at":
			return d.timePtr(&in.At, nil)
		case "block":
			return d.str(&in.Block)
		case "block_type":
			return d.str(&in.BlockType)
		case "parameter":
			return d.str(&in.Parameter)
		case "value":
			return d.str(&in.Value)
		}
		return d.skip(1)
	})
}
