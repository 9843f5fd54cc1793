package teams

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cdrgw/cdrgw/internal/jsonscan"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cdrgw/cdrgw/cdr"
)

// prop identifies a Teams record property.
type prop uint8

// Teams record properties, in the order they are converted (and so the order
// in which a record's errors are listed).
const (
	pEventType prop = iota
	pWebhookType
	pType
	pCallID
	pScenarioID
	pCallDirection
	pCallerName
	pCallerAdID
	pCallerUPN
	pCallerNumber
	pStartDateTime
	pEndDateTime
	pCallLength
	pWaitTime
	pTalkTime
	pQueueID
	pQueueName
	pIvrID
	pIvrName
	pResourceAccountObjectID
	pOUPath
	pParentID
	pFrom
	pMetServiceLevel
	pAgentName
	pAgentUPN
	pAgentID
	pAgentAdID
	pCallbackRequestID
	pLeaveReason
	pTransferType
	pTransferToID
	pTrasnferToID
	pTransferToName
	pIvrInputs
	pDataValue01
	numProps = pDataValue01 + cdr.DataValueCount
)

// propNames holds each property's documented spelling.
var propNames = func() [numProps]string {
	n := [numProps]string{
		pEventType: "EventType", pWebhookType: "WebhookType", pType: "Type",
		pCallID: "CallId", pScenarioID: "ScenarioId", pCallDirection: "CallDirection",
		pCallerName: "CallerName", pCallerAdID: "CallerAdId", pCallerUPN: "CallerUpn", pCallerNumber: "CallerNumber",
		pStartDateTime: "StartDateTime", pEndDateTime: "EndDateTime",
		pCallLength: "CallLength", pWaitTime: "WaitTime", pTalkTime: "TalkTime",
		pQueueID: "QueueId", pQueueName: "QueueName", pIvrID: "IvrId", pIvrName: "IvrName",
		pResourceAccountObjectID: "ResourceAccountObjectId", pOUPath: "OUPath", pParentID: "ParentId", pFrom: "From",
		pMetServiceLevel: "MetServiceLevel",
		pAgentName:       "AgentName", pAgentUPN: "AgentUpn", pAgentID: "AgentId", pAgentAdID: "AgentAdId",
		pCallbackRequestID: "CallbackRequestId", pLeaveReason: "LeaveReason",
		pTransferType: "TransferType", pTransferToID: "TransferToId", pTrasnferToID: "TrasnferToId", pTransferToName: "TransferToName",
		pIvrInputs: "IvrInputs",
	}
	for i := range cdr.DataValueCount {
		n[pDataValue01+prop(i)] = fmt.Sprintf("DataValue%02d", i+1)
	}
	return n
}()

// propIndex lists the props by name length and lower-cased first letter.
var propIndex = func() (idx [maxPropLen + 1][26][]prop) {
	for p, name := range propNames {
		c := name[0] | 0x20
		idx[len(name)][c-'a'] = append(idx[len(name)][c-'a'], prop(p))
	}
	return idx
}()

// maxPropLen is the length of the longest property name.
const maxPropLen = len("ResourceAccountObjectId")

// lookupProp finds the property named key, ignoring case.
func lookupProp(key string) (prop, bool) {
	if len(key) == 0 || len(key) > maxPropLen {
		return 0, false
	}
	c := key[0] | 0x20
	if c < 'a' || c > 'z' {
		return 0, false
	}
	// DataValue01..DataValue20 share a length and a first letter.
	if len(key) == len("DataValue01") && c == 'd' {
		if n, ok := digits(key[9:], 2); ok && n >= 1 && n <= cdr.DataValueCount && strings.EqualFold(key[:9], "DataValue") {
			return pDataValue01 + prop(n-1), true
		}
		return 0, false
	}
	cands := propIndex[len(key)][c-'a']
	for _, p := range cands { // the documented spelling, usually
		if key == propNames[p] {
			return p, true
		}
	}
	for _, p := range cands {
		if strings.EqualFold(key, propNames[p]) {
			return p, true
		}
	}
	return 0, false
}

// RecordError is what is wrong with one record of a body: the record's index
// in the body (0 for a single object), the property as spelled in the input
// (empty when the problem is the record as a whole), the offending value
// (empty when there is none to show) and what is wrong with it.
type RecordError struct {
	Index    int
	Property string
	Value    string
	Msg      string
}

// Error formats the error as `record 3: StartDateTime: "yesterday" is not an
// ISO 8601 time`.
func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString("record ")
	b.WriteString(strconv.Itoa(e.Index))
	b.WriteString(": ")
	if e.Property != "" {
		b.WriteString(e.Property)
		b.WriteString(": ")
	}
	if e.Value != "" {
		b.WriteString(strconv.Quote(e.Value))
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// DecodeError lists every problem found in the bad records of a body, in
// record order; the body's good records are still decoded.
type DecodeError struct {
	Records []*RecordError
}

// Error joins the record errors with "; ".
func (e *DecodeError) Error() string {
	parts := make([]string, len(e.Records))
	for i, r := range e.Records {
		parts[i] = r.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the record errors, for errors.As.
func (e *DecodeError) Unwrap() []error {
	errs := make([]error, len(e.Records))
	for i, r := range e.Records {
		errs[i] = r
	}
	return errs
}

// Decode decodes a Teams webhook body (one record object or an array) into events.
// It returns the events of every valid record and, for the bad ones, a *DecodeError
// listing each bad record (index and property). A body that is not JSON at all is one error.
//
// src becomes the source of every event and record; an empty src.Kind is
// taken as "teams".
func Decode(body []byte, src cdr.SourceRef) ([]cdr.Event, error) {
	// One copy of the body; every string in the events is a substring of it.
	s := string(body)
	if src.Kind == "" {
		src.Kind = "teams"
	}
	d := decoder{src: src}
	defer d.release()
	i := jsonscan.SkipWS(s, 0)
	end, ok := 0, i < len(s)
	if ok {
		switch s[i] {
		case '{':
			end = d.record(0, s, i)
		case '[':
			it := newArrIter(s, i)
			d.events = make([]cdr.Event, 0, estimateRecords(len(s)))
			for n := 0; !d.syntax; n++ {
				start, more := it.nextStart()
				if !more {
					break
				}
				it.skipTo(d.record(n, s, start))
			}
			d.syntax = d.syntax || it.bad
			end = it.end()
		default:
			end, ok, _ = scanValue(s, i)
		}
	}
	if !ok || d.syntax || jsonscan.SkipWS(s, end) != len(s) {
		return nil, syntaxError(body)
	}
	if c := s[i]; c != '{' && c != '[' {
		return nil, fmt.Errorf("teams: body is a JSON %s, not a record object or an array of records", jsonKind(s[i:]))
	}
	if len(d.errs) > 0 {
		return d.events, &DecodeError{Records: d.errs}
	}
	return d.events, nil
}

// estimateRecords guesses how many records a body of n bytes holds, to size
// the events slice: real records take 600 bytes or more.
func estimateRecords(n int) int { return min(n/600+1, 4096) }

// syntaxError returns the error for a body that is not JSON, with
// encoding/json's description of the problem.
func syntaxError(body []byte) error {
	var v any
	err := json.Unmarshal(body, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return fmt.Errorf("teams: body is not JSON: %w", err)
}

// field is one property of a record (or of an IVR input) as found in the body.
type field struct {
	name   string // as spelled in the input, or the documented name when absent
	val    string // raw JSON value; "" when absent
	plain  bool   // val is not a string, or a string usable as it is
	parent string // "IvrInputs" for an IVR input's property
	elem   int    // the IVR input's index
}

// errName is the field's name in error messages.
func (f field) errName() string {
	if f.parent == "" {
		return f.name
	}
	if f.name == "" {
		return f.parent + "[" + strconv.Itoa(f.elem) + "]"
	}
	return f.parent + "[" + strconv.Itoa(f.elem) + "]." + f.name
}

// decoder decodes the records of one body.
type decoder struct {
	src    cdr.SourceRef
	events []cdr.Event
	errs   []*RecordError

	syntax bool // the body is not valid JSON

	// The record being decoded.
	index int
	bad   bool
	seen  uint64 // bit p is set when props[p] was found in the record
	props [numProps]field

	// The IvrInputs array of the record, scanned once with the record:
	// inCached says that in.elems and in.members describe props[pIvrInputs],
	// as offsets in inText (offsets rather than strings, so that the GC
	// has no pointers to follow and no write barriers to run).
	inCached bool
	inText   string
	in       *inputScratch // from inputPool, when the body has IVR inputs
}

// inputScratch holds the scanned IvrInputs of a record; it is reused
// through inputPool, so that decoding one record does not grow it anew.
type inputScratch struct {
	elems   []inElem
	members []inMember
}

var inputPool = sync.Pool{New: func() any { return new(inputScratch) }}

// maxPooledMembers bounds the scratch kept for reuse.
const maxPooledMembers = 1 << 12

// release returns the decoder's input scratch to inputPool.
func (d *decoder) release() {
	if d.in != nil && cap(d.in.members) <= maxPooledMembers && cap(d.in.elems) <= maxPooledMembers {
		inputPool.Put(d.in)
	}
	d.in = nil
}

// inElem is one element of a scanned IvrInputs array: an object whose
// members are in.members[first:first+n], or another value, inText[start:end].
type inElem struct {
	object     bool
	first, n   int
	start, end int
}

// inMember is one member of an IVR input object: the raw key is
// inText[keyStart:keyEnd] and the raw value inText[valStart:valEnd].
type inMember struct {
	keyStart, keyEnd, valStart, valEnd int
	keyPlain, valPlain                 bool
}

// The seen bitmask has a bit for every property.
var _ [64 - numProps]struct{}

// maxValueLen bounds the offending values quoted in errors.
const maxValueLen = 80

// fail records a problem with field f of the current record.
func (d *decoder) fail(f field, value, msg string) {
	d.bad = true
	if len(value) > maxValueLen {
		cut := maxValueLen
		for cut > 0 && !utf8.RuneStart(value[cut]) {
			cut--
		}
		value = value[:cut] + "..."
	}
	d.errs = append(d.errs, &RecordError{Index: d.index, Property: f.errName(), Value: value, Msg: msg})
}

// f returns property p of the current record.
func (d *decoder) f(p prop) field {
	if d.seen&(1<<p) == 0 {
		return field{name: propNames[p]}
	}
	return d.props[p]
}

// text returns the text of f: a string's contents, a number's or boolean's
// literal. ok is false when f has no value: absent, null, "Null" (any case)
// or "". An object or array is an error saying that f should be want.
func (d *decoder) text(f field, want string) (string, bool) {
	v := f.val
	if v == "" {
		return "", false
	}
	switch v[0] {
	case 'n':
		return "", false
	case '"':
		s := unquotePlain(v, f.plain)
		if s == "" || isNull(s) {
			return "", false
		}
		return s, true
	case '{', '[':
		d.fail(f, "", "is a JSON "+jsonKind(v)+", not "+want)
		return "", false
	}
	return v, true
}

// isComposite reports whether the raw JSON value v is an object or an array.
func isComposite(v string) bool { return v != "" && (v[0] == '{' || v[0] == '[') }

// hasValue reports whether f has a value, without reporting errors.
func hasValue(f field) bool {
	v := f.val
	switch {
	case v == "" || v == "null":
		return false
	case v[0] == '"':
		s := unquote(v)
		return s != "" && !isNull(s)
	}
	return true
}

// str returns f as a string; numbers and booleans keep their JSON text.
func (d *decoder) str(f field) string {
	s, _ := d.text(f, "a string")
	return s
}

// time returns f as a UTC time; the zero time when f has no value. ok is
// false when f is bad (the error is recorded).
func (d *decoder) time(f field) (t time.Time, ok bool) {
	s, has := d.text(f, "an ISO 8601 time")
	if !has {
		return time.Time{}, !isComposite(f.val)
	}
	trimmed := strings.TrimSpace(s)
	if trimmed == "" {
		return time.Time{}, true
	}
	t, e := parseTime(trimmed)
	switch e {
	case timeSyntax:
		d.fail(f, s, "is not an ISO 8601 time")
		return time.Time{}, false
	case timeRange:
		d.fail(f, s, "is an ISO 8601 time out of range")
		return time.Time{}, false
	}
	return t, true
}

// duration returns f as whole seconds; 0 when f has no value.
func (d *decoder) duration(f field) int {
	s, has := d.text(f, "a duration")
	if !has {
		return 0
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return 0
	}
	n, e := parseDuration(t)
	switch e {
	case durationSyntax:
		d.fail(f, s, "is not a number of seconds or a TimeSpan ([-][d.]hh:mm:ss[.fffffff])")
	case durationNegative:
		d.fail(f, s, "is a negative duration")
	case durationRange:
		d.fail(f, s, "is a duration out of range")
	}
	return n
}

// boolean returns f as a boolean; has is false when f has no value.
func (d *decoder) boolean(f field) (b, has bool) {
	s, has := d.text(f, "true or false")
	if !has {
		return false, false
	}
	switch t := strings.TrimSpace(s); {
	case strings.EqualFold(t, "true"):
		return true, true
	case strings.EqualFold(t, "false"):
		return false, true
	case t == "":
		return false, false
	default:
		d.fail(f, s, "is not true or false")
		return false, false
	}
}

// direction returns f as a call direction; unknown when f has no value.
func (d *decoder) direction(f field) cdr.Direction {
	s, has := d.text(f, "a call direction")
	if !has {
		return cdr.DirectionUnknown
	}
	switch t := strings.TrimSpace(s); {
	case strings.EqualFold(t, "Inbound"):
		return cdr.DirectionInbound
	case strings.EqualFold(t, "Outbound"):
		return cdr.DirectionOutbound
	case strings.EqualFold(t, "Internal"):
		return cdr.DirectionInternal
	case strings.EqualFold(t, "Unknown"), t == "":
		return cdr.DirectionUnknown
	}
	d.fail(f, s, "is not Inbound, Outbound or Internal")
	return cdr.DirectionUnknown
}

// typeNames are the accepted values of the EventType, WebhookType and Type
// properties, matched ignoring case.
var typeNames = []struct {
	name string
	typ  cdr.Type
}{
	{"App.QueueWebhook", cdr.TypeQueueEnded},
	{"App.IvrWebhook", cdr.TypeIVREnded},
	{"App.TestWebhook", cdr.TypeTest},
	{string(cdr.TypeQueueEnded), cdr.TypeQueueEnded},
	{string(cdr.TypeIVREnded), cdr.TypeIVREnded},
	{string(cdr.TypeTest), cdr.TypeTest},
}

// eventType returns the record's event type: the first of EventType,
// WebhookType and Type that has a value, else inferred from the properties.
// ok is false when it cannot be told (the error is recorded).
func (d *decoder) eventType() (cdr.Type, bool) {
	for _, p := range [...]prop{pEventType, pWebhookType, pType} {
		f := d.f(p)
		if isComposite(f.val) {
			d.fail(f, "", "is a JSON "+jsonKind(f.val)+", not an event type")
			return "", false
		}
		s, has := d.text(f, "an event type")
		if !has {
			continue
		}
		t := strings.TrimSpace(s)
		for _, tn := range typeNames {
			if strings.EqualFold(t, tn.name) {
				return tn.typ, true
			}
		}
		d.fail(f, s, "is not App.QueueWebhook, App.IvrWebhook or App.TestWebhook")
		return "", false
	}
	queue := hasValue(d.f(pQueueID)) || hasValue(d.f(pQueueName))
	ivr := hasValue(d.f(pIvrID)) || hasValue(d.f(pIvrName)) || hasValue(d.f(pIvrInputs))
	switch {
	case queue && !ivr:
		return cdr.TypeQueueEnded, true
	case ivr && !queue:
		return cdr.TypeIVREnded, true
	case queue && ivr:
		d.fail(field{}, "", "cannot tell queue from IVR record: it has both queue (QueueId, QueueName) and IVR (IvrId, IvrName, IvrInputs) properties")
	default:
		d.fail(field{}, "", "cannot tell queue from IVR record: no QueueId, QueueName, IvrId or IvrName")
	}
	return "", false
}

// unquote returns the text of the raw JSON string v.
func unquotePlain(v string, plain bool) string {
	if plain {
		return v[1 : len(v)-1]
	}
	return unquote(v)
}

// queueBlock holds a queue record with the values it points to, so that one
// allocation serves the record.
type queueBlock struct {
	rec   cdr.Queue
	ended time.Time
	met   bool
}

// ivrBlock holds an IVR record with the values it points to, so that one
// allocation serves the record.
type ivrBlock struct {
	rec   cdr.IVR
	ended time.Time
	data  [cdr.DataValueCount]string
}

// record decodes the record at index, the value that starts at s[i], and
// returns the index just past it. A syntax error sets d.syntax.
func (d *decoder) record(index int, s string, i int) (end int) {
	d.index = index
	d.bad = false
	if s[i] != '{' {
		end, ok, _ := scanValue(s, i)
		if !ok {
			d.syntax = true
			return 0
		}
		d.fail(field{}, "", "is a JSON "+jsonKind(s[i:end])+", not a record object")
		return end
	}
	d.seen = 0
	d.inCached = false
	it := newObjIter(s, i)
	for {
		rawKey, keyPlain, ok := it.nextKey()
		if !ok {
			break
		}
		key := unquotePlain(rawKey, keyPlain)
		p, known := lookupProp(key)
		if !known {
			if _, _, ok := it.value(); !ok {
				break
			}
			continue
		}
		var val string
		var plain bool
		if p == pIvrInputs && it.i < len(s) && s[it.i] == '[' {
			// Scan the inputs once, keeping their members for d.inputs.
			start := it.i
			end, ok := d.scanInputs(s, start)
			if !ok {
				it.bad = true
				break
			}
			it.i = end
			val, plain = s[start:end], true
			d.inCached = true
		} else {
			if val, plain, ok = it.value(); !ok {
				break
			}
			if p == pIvrInputs {
				d.inCached = false
			}
		}
		d.props[p] = field{name: key, val: val, plain: plain}
		d.seen |= 1 << p
	}
	if it.bad {
		d.syntax = true
		return 0
	}
	end = it.end()

	typ, typeOK := d.eventType()

	base := cdr.Base{
		Source: d.src,
		Custom: map[string]string{},
	}
	callID := d.f(pCallID)
	base.CallID = d.str(callID)
	if base.CallID == "" && !isComposite(callID.val) {
		d.fail(callID, "", "is required")
	}
	scenario := d.str(d.f(pScenarioID))
	base.Direction = d.direction(d.f(pCallDirection))
	base.Caller = cdr.Party{
		Name:   d.str(d.f(pCallerName)),
		UserID: d.str(d.f(pCallerAdID)),
		UPN:    d.str(d.f(pCallerUPN)),
		Number: d.str(d.f(pCallerNumber)),
	}
	start, startOK := d.time(d.f(pStartDateTime))
	if startOK && start.IsZero() {
		d.fail(d.f(pStartDateTime), "", "is required")
	}
	base.StartedAt = start
	ended, endOK := d.time(d.f(pEndDateTime))
	hasEnd := endOK && !ended.IsZero()
	if hasEnd && !start.IsZero() && ended.Before(start) {
		text, _ := d.text(d.f(pEndDateTime), "")
		d.fail(d.f(pEndDateTime), text, "is before StartDateTime")
	}
	callLength := d.duration(d.f(pCallLength))
	from := d.str(d.f(pFrom))
	parent := d.str(d.f(pParentID))
	ouPath := d.str(d.f(pOUPath))
	resource := d.str(d.f(pResourceAccountObjectID))
	transfer := cdr.Transfer{
		Type:   d.str(d.f(pTransferType)),
		ToID:   d.str(d.f(pTransferToID)),
		ToName: d.str(d.f(pTransferToName)),
	}
	if misspelt := d.str(d.f(pTrasnferToID)); transfer.ToID == "" {
		transfer.ToID = misspelt
	}
	if !typeOK {
		return end
	}

	var rec cdr.Record
	var eventID string
	switch typ {
	case cdr.TypeQueueEnded, cdr.TypeTest:
		base.Kind = cdr.KindQueue
		prefix := "teams:queue:"
		if typ == cdr.TypeTest {
			prefix = "teams:test:"
		}
		base.ID, eventID = eventIDs(typ, prefix, base.CallID)
		blk := &queueBlock{}
		if hasEnd {
			blk.ended = ended
			base.EndedAt = &blk.ended
		}
		q := &blk.rec
		*q = cdr.Queue{
			Base:       base,
			ScenarioID: scenario,
			Queue:      cdr.Named{ID: d.str(d.f(pQueueID)), Name: d.str(d.f(pQueueName))},
			Agent: cdr.Agent{
				Name:   d.str(d.f(pAgentName)),
				ID:     d.str(d.f(pAgentID)),
				UserID: d.str(d.f(pAgentAdID)),
				UPN:    d.str(d.f(pAgentUPN)),
			},
			CallLength:              callLength,
			Wait:                    d.duration(d.f(pWaitTime)),
			Talk:                    d.duration(d.f(pTalkTime)),
			From:                    from,
			ParentID:                parent,
			OUPath:                  ouPath,
			Transfer:                transfer,
			ResourceAccountObjectID: resource,
		}
		if met, has := d.boolean(d.f(pMetServiceLevel)); has {
			blk.met = met
			q.MetServiceLevel = &blk.met
		}
		q.LeaveReason = d.str(d.f(pLeaveReason))
		q.CallbackRequestID = d.str(d.f(pCallbackRequestID))
		rec = q
	case cdr.TypeIVREnded:
		base.Kind = cdr.KindIVR
		base.ID, eventID = eventIDs(typ, "teams:ivr:", base.CallID)
		blk := &ivrBlock{}
		if hasEnd {
			blk.ended = ended
			base.EndedAt = &blk.ended
		}
		r := &blk.rec
		*r = cdr.IVR{
			Base:                    base,
			ScenarioID:              scenario,
			IVR:                     cdr.Named{ID: d.str(d.f(pIvrID)), Name: d.str(d.f(pIvrName))},
			CallLength:              callLength,
			From:                    from,
			ParentID:                parent,
			OUPath:                  ouPath,
			Transfer:                transfer,
			ResourceAccountObjectID: resource,
		}
		r.Inputs = d.inputs(d.f(pIvrInputs))
		for i := range blk.data {
			blk.data[i] = d.str(d.f(pDataValue01 + prop(i)))
		}
		r.DataValues = blk.data[:]
		rec = r
	}
	if d.bad {
		return end
	}
	at := start
	if hasEnd {
		at = ended
	}
	d.events = append(d.events, cdr.Event{ID: eventID, Type: typ, Time: at.UTC(), Source: d.src, Record: rec})
	return end
}

// eventIDs returns the record id prefix+key and its event id,
// cdr.EventID(typ, id), both cut from one string (a single allocation); a
// test holds it to cdr.EventID.
func eventIDs(typ cdr.Type, prefix, key string) (id, eventID string) {
	const idLen = 4 + 32 // "evt_" and 16 bytes in hex
	const maxIn = 256
	n := len(prefix) + len(key)
	if len(typ)+1+n > maxIn {
		id = prefix + key
		return id, cdr.EventID(typ, id)
	}
	// buf holds typ, NUL, the id, then the event id: the hash input is
	// buf[:m] and the result buf[len(typ)+1:].
	var buf [maxIn + idLen]byte
	m := copy(buf[:], typ)
	buf[m] = 0
	m++
	m += copy(buf[m:], prefix)
	m += copy(buf[m:], key)
	sum := sha256.Sum256(buf[:m])
	m += copy(buf[m:], "evt_")
	hex.Encode(buf[m:m+32], sum[:16])
	s := string(buf[len(typ)+1 : m+32])
	return s[:n], s[n:]
}

// scanInputs checks the IvrInputs array that starts at s[i] ('[') and keeps
// its elements in d.in, so that d.inputs need not scan it again. It returns
// the index just past the array.
func (d *decoder) scanInputs(s string, i int) (end int, ok bool) {
	if d.in == nil {
		d.in = inputPool.Get().(*inputScratch)
	}
	d.inText = s
	elems, members := d.in.elems[:0], d.in.members[:0]
	defer func() { d.in.elems, d.in.members = elems, members }()
	it := newArrIter(s, i)
	for {
		start, more := it.nextStart()
		if !more {
			break
		}
		if s[start] != '{' {
			end, ok, _ := scanValue(s, start)
			if !ok {
				return 0, false
			}
			elems = append(elems, inElem{start: start, end: end})
			it.skipTo(end)
			continue
		}
		el := inElem{object: true, first: len(members)}
		oi := newObjIter(s, start)
		for {
			key, keyPlain, ok := oi.nextKey()
			if !ok {
				break
			}
			keyStart, valStart := oi.key, oi.i
			_, valPlain, ok := oi.value()
			if !ok {
				break
			}
			members = append(members, inMember{
				keyStart: keyStart, keyEnd: keyStart + len(key), valStart: valStart, valEnd: oi.i,
				keyPlain: keyPlain, valPlain: valPlain,
			})
		}
		if oi.bad {
			return 0, false
		}
		el.n = len(members) - el.first
		elems = append(elems, el)
		it.skipTo(oi.end())
	}
	if it.bad {
		return 0, false
	}
	return it.end(), true
}

// inputs decodes the IvrInputs array f; an absent or null array is empty.
func (d *decoder) inputs(f field) []cdr.IVRInput {
	if !hasValue(f) {
		return []cdr.IVRInput{}
	}
	if f.val[0] != '[' {
		d.fail(f, "", "is a JSON "+jsonKind(f.val)+", not an array")
		return nil
	}
	if !d.inCached {
		// Not reached: record scans every IvrInputs array.
		if _, ok := d.scanInputs(f.val, 0); !ok {
			return []cdr.IVRInput{}
		}
	}
	nobj := 0
	for _, el := range d.in.elems {
		if el.object {
			nobj++
		}
	}
	text := d.inText
	out := make([]cdr.IVRInput, 0, nobj)
	var times []time.Time // where the inputs' At point, allocated once
	for n, el := range d.in.elems {
		if !el.object {
			if other := text[el.start:el.end]; other != "null" {
				d.fail(field{parent: f.name, elem: n}, "", "is a JSON "+jsonKind(other)+", not an object")
			}
			continue
		}
		var in cdr.IVRInput
		for _, m := range d.in.members[el.first : el.first+el.n] {
			key := unquotePlain(text[m.keyStart:m.keyEnd], m.keyPlain)
			pf := field{name: key, val: text[m.valStart:m.valEnd], plain: m.valPlain, parent: f.name, elem: n}
			switch inputProp(key) {
			case inID:
				in.ID = d.str(pf)
			case inAt:
				if t, ok := d.time(pf); ok && !t.IsZero() {
					if len(times) == cap(times) { // first, or an input with two InputDateTimes
						times = make([]time.Time, 0, nobj)
					}
					times = append(times, t)
					in.At = &times[len(times)-1]
				} else {
					in.At = nil
				}
			case inBlock:
				in.Block = d.str(pf)
			case inBlockType:
				in.BlockType = d.str(pf)
			case inParameter:
				in.Parameter = d.str(pf)
			case inValue:
				in.Value = d.str(pf)
			}
		}
		out = append(out, in)
	}
	return out
}

// IVR input properties.
const (
	inOther = iota
	inID
	inAt
	inBlock
	inBlockType
	inParameter
	inValue
)

// inputNames holds the IVR input properties' documented spellings.
var inputNames = [...]string{inID: "ID", inAt: "InputDateTime", inBlock: "BlockName", inBlockType: "BlockType", inParameter: "ParameterName", inValue: "ParameterValue"}

// inputProp returns the IVR input property named key, ignoring case, or
// inOther.
func inputProp(key string) int {
	for p := inID; p < len(inputNames); p++ { // the documented spelling, usually
		if key == inputNames[p] {
			return p
		}
	}
	for p := inID; p < len(inputNames); p++ {
		if strings.EqualFold(key, inputNames[p]) {
			return p
		}
	}
	return inOther
}
