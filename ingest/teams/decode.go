package teams

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	for _, p := range propIndex[len(key)][c-'a'] {
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
	i := skipWS(s, 0)
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
	if !ok || d.syntax || skipWS(s, end) != len(s) {
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
	props [numProps]field
}

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
func (d *decoder) f(p prop) field { return d.props[p] }

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

// boolean returns f as a boolean; nil when f has no value.
func (d *decoder) boolean(f field) *bool {
	s, has := d.text(f, "true or false")
	if !has {
		return nil
	}
	var b bool
	switch t := strings.TrimSpace(s); {
	case strings.EqualFold(t, "true"):
		b = true
	case strings.EqualFold(t, "false"):
		b = false
	case t == "":
		return nil
	default:
		d.fail(f, s, "is not true or false")
		return nil
	}
	return &b
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
	for p := range d.props {
		d.props[p] = field{name: propNames[p]}
	}
	it := newObjIter(s, i)
	for {
		m, ok := it.next()
		if !ok {
			break
		}
		key := unquotePlain(m.key, m.keyPlain)
		if p, ok := lookupProp(key); ok {
			d.props[p] = field{name: key, val: m.val, plain: m.valPlain}
		}
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
	if ended, ok := d.time(d.f(pEndDateTime)); ok && !ended.IsZero() {
		if !start.IsZero() && ended.Before(start) {
			text, _ := d.text(d.f(pEndDateTime), "")
			d.fail(d.f(pEndDateTime), text, "is before StartDateTime")
		}
		base.EndedAt = &ended
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
	switch typ {
	case cdr.TypeQueueEnded, cdr.TypeTest:
		base.Kind = cdr.KindQueue
		base.ID = "teams:queue:" + base.CallID
		if typ == cdr.TypeTest {
			base.ID = "teams:test:" + base.CallID
		}
		rec = &cdr.Queue{
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
			MetServiceLevel:         d.boolean(d.f(pMetServiceLevel)),
			LeaveReason:             d.str(d.f(pLeaveReason)),
			From:                    from,
			ParentID:                parent,
			OUPath:                  ouPath,
			CallbackRequestID:       d.str(d.f(pCallbackRequestID)),
			Transfer:                transfer,
			ResourceAccountObjectID: resource,
		}
	case cdr.TypeIVREnded:
		base.Kind = cdr.KindIVR
		base.ID = "teams:ivr:" + base.CallID
		r := &cdr.IVR{
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
		r.DataValues = make([]string, cdr.DataValueCount)
		for i := range r.DataValues {
			r.DataValues[i] = d.str(d.f(pDataValue01 + prop(i)))
		}
		rec = r
	}
	if d.bad {
		return end
	}
	at := start
	if base.EndedAt != nil {
		at = *base.EndedAt
	}
	d.events = append(d.events, cdr.NewEvent(typ, at, d.src, rec))
	return end
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
	out := make([]cdr.IVRInput, 0, 4)
	it := newArrIter(f.val, 0)
	for n := 0; ; n++ {
		start, ok := it.nextStart()
		if !ok {
			break
		}
		if f.val[start] != '{' {
			end, _, _ := scanValue(f.val, start)
			it.skipTo(end)
			if el := f.val[start:end]; el != "null" {
				d.fail(field{parent: f.name, elem: n}, "", "is a JSON "+jsonKind(el)+", not an object")
			}
			continue
		}
		var in cdr.IVRInput
		oi := newObjIter(f.val, start)
		for {
			m, ok := oi.next()
			if !ok {
				break
			}
			key := unquotePlain(m.key, m.keyPlain)
			pf := field{name: key, val: m.val, plain: m.valPlain, parent: f.name, elem: n}
			switch {
			case strings.EqualFold(key, "ID"):
				in.ID = d.str(pf)
			case strings.EqualFold(key, "InputDateTime"):
				if t, ok := d.time(pf); ok && !t.IsZero() {
					in.At = &t
				} else {
					in.At = nil
				}
			case strings.EqualFold(key, "BlockName"):
				in.Block = d.str(pf)
			case strings.EqualFold(key, "BlockType"):
				in.BlockType = d.str(pf)
			case strings.EqualFold(key, "ParameterName"):
				in.Parameter = d.str(pf)
			case strings.EqualFold(key, "ParameterValue"):
				in.Value = d.str(pf)
			}
		}
		it.skipTo(oi.end())
		out = append(out, in)
	}
	return out
}
