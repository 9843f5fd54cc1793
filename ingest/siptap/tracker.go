package siptap

import (
	"cmp"
	"container/list"
	"net/netip"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// Defaults of Options.
const (
	DefaultMaxCallDuration = 4 * time.Hour
	DefaultMaxDialogs      = 200_000
	// Linger is how long the tracker waits, in capture time, for the
	// caller's-leg copy of a message it has seen on another leg (and keeps an
	// ended Call-ID so late copies and retransmissions start nothing): 64×T1.
	Linger = 32 * time.Second
)

// Options configure a Tracker.
type Options struct {
	// Source names the source in records and events.
	Source cdr.SourceRef
	// LocalNetworks are the addresses of the operator's own endpoints:
	// a caller whose INVITE comes from one, or a callee reached at one, is
	// local. They decide the call direction with LocalDomains.
	LocalNetworks []netip.Prefix
	// LocalDomains are the operator's SIP domains (From/To/Request-URI hosts).
	LocalDomains []string
	// MaxCallDuration ends a dialog that never sees a BYE (default 4 h).
	MaxCallDuration time.Duration
	// MaxDialogs bounds the dialogs held at once (default 200,000); beyond
	// it the oldest is ended as incomplete.
	MaxDialogs int
}

func (o Options) withDefaults() Options {
	o.MaxCallDuration = cmp.Or(o.MaxCallDuration, DefaultMaxCallDuration)
	o.MaxDialogs = cmp.Or(o.MaxDialogs, DefaultMaxDialogs)
	if o.Source.Kind == "" {
		o.Source.Kind = "sip"
	}
	return o
}

// Stats are the tracker's counters.
type Stats struct {
	Messages  uint64 // messages handled
	Started   uint64 // dialogs started
	Ended     uint64 // call.ended events emitted
	Evicted   uint64 // dialogs ended early because MaxDialogs was reached
	Timedout  uint64 // dialogs ended by MaxCallDuration or a Session-Expires lapse
	Orphans   uint64 // in-dialog messages of unknown Call-IDs, ignored
	OpenCalls int    // dialogs held now
}

// Tracker turns SIP messages into call moments and call records. It is a
// pure state machine: time comes from the messages and from Flush's
// argument, never from the clock. It is not safe for concurrent use.
type Tracker struct {
	o       Options
	dialogs map[string]*dialog
	order   *list.List // *dialog, oldest first, for eviction
	ended   map[string]time.Time
	endedQ  []tomb // ended Call-IDs in end order, for pruning; endedQ[head:] are live
	head    int
	stats   Stats
	domains map[string]bool
}

type tomb struct {
	callID string
	at     time.Time
}

// dialog is the state of one call (one Call-ID).
type dialog struct {
	elem        *list.Element
	callID      string
	fromTag     string
	inviteCSeq  uint32
	callerVias  int            // Via count of the caller's INVITE: responses with this count reach the caller
	callerAddr  netip.AddrPort // source of the caller's INVITE
	calleeAddr  netip.AddrPort // destination of the INVITE's last hop
	calleeVias  int
	started     time.Time
	lastSeen    time.Time
	caller      cdr.Party
	callee      cdr.Party
	callerHost  string
	calleeHost  string // Request-URI host of the INVITE's last hop
	toHost      string
	answered    time.Time // answer on the caller's leg
	answerOther time.Time // answer seen on another leg only
	otherFinal  int       // final non-2xx seen on another leg only
	otherAt     time.Time
	canceled    bool
	bye         time.Time // BYE seen on another leg only
	byeCaller   bool      // that BYE came from the caller's side
	cause       int
	causeText   string
	sessExp     time.Duration
	refreshed   time.Time
	// Without transport addresses (a mirrored tap), the endpoints'
	// addresses as the messages state them (Message.Origin): the caller's
	// from its INVITE; the callee's from the Request-URI of the INVITE's last
	// hop when an IP (calleeRank 1), else from the first 1xx/2xx to it
	// (calleeRank 2).
	callerOrigin netip.Addr
	calleeOrigin netip.Addr
	calleeRank   uint8
}

// NewTracker returns a tracker configured by o.
func NewTracker(o Options) *Tracker {
	o = o.withDefaults()
	t := &Tracker{o: o, dialogs: make(map[string]*dialog), order: list.New(), ended: make(map[string]time.Time), domains: make(map[string]bool)}
	for _, d := range o.LocalDomains {
		t.domains[strings.ToLower(strings.TrimSpace(d))] = true
	}
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.OpenCalls = len(t.dialogs)
	return s
}

// Handle feeds one message to the tracker and returns the events it causes:
// call.started, call.answered and call.ended, in order.
func (t *Tracker) Handle(m Message) []cdr.Event {
	t.stats.Messages++
	if m.CallID == "" {
		return nil
	}
	d := t.dialogs[m.CallID]
	if d == nil {
		if !m.Request || m.Method != "INVITE" || m.ToTag != "" {
			if _, ok := t.ended[m.CallID]; !ok {
				t.stats.Orphans++
			}
			return nil
		}
		if _, ok := t.ended[m.CallID]; ok {
			return nil // a late copy or retransmission of a finished call
		}
		return t.start(m)
	}
	if m.Time.After(d.lastSeen) {
		d.lastSeen = m.Time
	}
	if m.Request {
		return t.request(d, m)
	}
	return t.response(d, m)
}

func (t *Tracker) start(m Message) []cdr.Event {
	var out []cdr.Event
	if len(t.dialogs) >= t.o.MaxDialogs {
		if e := t.order.Front(); e != nil {
			old := e.Value.(*dialog)
			t.stats.Evicted++
			out = append(out, t.end(old, old.lastSeen, endIncomplete, "max_dialogs"))
		}
	}
	d := &dialog{
		callID: m.CallID, fromTag: m.FromTag, inviteCSeq: m.CSeq,
		callerVias: m.Vias, calleeVias: m.Vias, callerAddr: m.Src, calleeAddr: m.Dst,
		started: m.Time, lastSeen: m.Time, refreshed: m.Time, sessExp: m.SessionExpires,
		callerHost: strings.ToLower(m.From.Host), calleeHost: strings.ToLower(m.RequestURI.Host), toHost: strings.ToLower(m.To.Host),
	}
	if !m.Src.IsValid() && !m.Dst.IsValid() {
		d.callerOrigin = m.Origin
		d.setCalleeOrigin(ipOf(m.RequestURI.Host), 1)
	}
	d.caller = cdr.Party{Number: m.From.User, Name: m.From.Name}
	if m.PAI.User != "" {
		d.caller = cdr.Party{Number: m.PAI.User, Name: cmp.Or(m.PAI.Name, m.From.Name)}
	}
	d.callee = cdr.Party{Number: m.To.User, Name: m.To.Name}
	d.elem = t.order.PushBack(d)
	t.dialogs[m.CallID] = d
	t.stats.Started++
	return append(out, t.event(cdr.TypeCallStarted, d, d.started))
}

// onCallerLeg reports whether a message travelled to or from the caller
// (addresses unknown count as the caller's leg).
func (d *dialog) onCallerLeg(m Message) bool {
	if !d.callerAddr.IsValid() || (!m.Src.IsValid() && !m.Dst.IsValid()) {
		return true
	}
	return m.Src == d.callerAddr || m.Dst == d.callerAddr
}

// toCaller reports whether a response went to the caller: by address when
// the addresses are known (Via counts are not reliable: some agents answer
// with fewer Vias than they received), else by having no more Vias than the
// caller's INVITE.
func (d *dialog) toCaller(m Message) bool {
	if d.callerAddr.IsValid() && m.Dst.IsValid() {
		return m.Dst == d.callerAddr
	}
	return m.Vias <= d.callerVias
}

func (t *Tracker) request(d *dialog, m Message) []cdr.Event {
	switch m.Method {
	case "INVITE":
		if m.ToTag == "" {
			if m.CSeq == d.inviteCSeq && m.Vias < d.callerVias {
				// A copy nearer the caller than the first one seen.
				d.callerVias, d.callerAddr = m.Vias, m.Src
				if m.Time.Before(d.started) {
					d.started = m.Time
				}
			}
			if m.CSeq == d.inviteCSeq && m.Vias >= d.calleeVias {
				d.calleeVias, d.calleeAddr = m.Vias, m.Dst
				if h := m.RequestURI.Host; h != "" {
					d.calleeHost = strings.ToLower(h)
				}
				if !m.Src.IsValid() && !m.Dst.IsValid() {
					if ip := ipOf(m.RequestURI.Host); ip.IsValid() {
						d.calleeOrigin, d.calleeRank = ip, 1
					}
				}
			}
			return nil
		}
		d.refresh(m) // re-INVITE
	case "UPDATE":
		d.refresh(m)
	case "CANCEL":
		if d.answered.IsZero() {
			d.canceled = true
			d.reason(m)
		}
	case "ACK":
		if !d.answerOther.IsZero() && d.answered.IsZero() && m.CSeq == d.inviteCSeq && m.Src == d.callerAddr {
			return t.answer(d, d.answerOther)
		}
	case "BYE":
		var out []cdr.Event
		if d.answered.IsZero() {
			if d.answerOther.IsZero() {
				return nil // BYE without an answer: nothing to end yet
			}
			out = t.answer(d, d.answerOther)
		}
		d.reason(m)
		fromCaller := m.FromTag == d.fromTag
		if d.onCallerLeg(m) {
			return append(out, t.end(d, m.Time, initiatorOf(fromCaller), ""))
		}
		if d.bye.IsZero() {
			d.bye, d.byeCaller = m.Time, fromCaller
		}
		return out
	}
	return nil
}

func initiatorOf(fromCaller bool) cdr.Initiator {
	if fromCaller {
		return cdr.InitiatorCaller
	}
	return cdr.InitiatorCallee
}

func (d *dialog) refresh(m Message) {
	if m.Time.After(d.refreshed) {
		d.refreshed = m.Time
	}
	if m.SessionExpires > 0 {
		d.sessExp = m.SessionExpires
	}
}

func (d *dialog) reason(m Message) {
	if m.Q850Cause > 0 && d.cause == 0 {
		d.cause, d.causeText = m.Q850Cause, m.Q850Text
	}
}

// setCalleeOrigin keeps ip as the callee's stated address unless one of a
// better rank (lower, non-zero) is known.
func (d *dialog) setCalleeOrigin(ip netip.Addr, rank uint8) {
	if ip.IsValid() && (d.calleeRank == 0 || rank < d.calleeRank) {
		d.calleeOrigin, d.calleeRank = ip, rank
	}
}

func (t *Tracker) response(d *dialog, m Message) []cdr.Event {
	if m.Origin.IsValid() && m.ToTag != "" && m.CSeq == d.inviteCSeq && m.CSeqMethod == "INVITE" {
		d.setCalleeOrigin(m.Origin, 2)
	}
	if m.StatusCode < 200 {
		return nil
	}
	switch m.CSeqMethod {
	case "INVITE":
		if m.CSeq != d.inviteCSeq {
			if m.StatusCode < 300 {
				d.refresh(m) // 2xx to a re-INVITE
			}
			return nil
		}
		if !d.answered.IsZero() {
			return nil // retransmitted 2xx, or the other leg's copy
		}
		callerLeg := d.toCaller(m)
		if m.StatusCode < 300 {
			if m.SessionExpires > 0 {
				d.sessExp = m.SessionExpires
			}
			if callerLeg {
				return t.answer(d, m.Time)
			}
			if d.answerOther.IsZero() {
				d.answerOther = m.Time
			}
			return nil
		}
		d.reason(m)
		if callerLeg {
			return []cdr.Event{t.finalFailure(d, m.StatusCode, m.Time)}
		}
		if d.otherFinal == 0 {
			d.otherFinal, d.otherAt = m.StatusCode, m.Time
		}
	case "BYE":
		if !d.bye.IsZero() {
			return []cdr.Event{t.end(d, d.bye, initiatorOf(d.byeCaller), "")}
		}
	}
	return nil
}

func (t *Tracker) answer(d *dialog, at time.Time) []cdr.Event {
	if at.Before(d.started) {
		at = d.started
	}
	d.answered, d.refreshed = at, at
	return []cdr.Event{t.event(cdr.TypeCallAnswered, d, at)}
}

// endIncomplete marks an end the tracker inferred rather than saw.
const endIncomplete cdr.Initiator = "incomplete"

func (t *Tracker) finalFailure(d *dialog, code int, at time.Time) cdr.Event {
	c := t.call(d)
	end := at
	c.EndedAt = &end
	c.Hangup.SIPCode = code
	c.Hangup.Initiator = cdr.InitiatorCallee
	switch {
	case code == 487 && d.canceled:
		c.Disposition, c.Hangup.Initiator = cdr.DispositionCanceled, cdr.InitiatorCaller
	case code == 486 || code == 600 || code == 603:
		c.Disposition = cdr.DispositionBusy
	case code == 408 || code == 480 || code == 487:
		c.Disposition = cdr.DispositionNoAnswer
	default:
		c.Disposition = cdr.DispositionFailed
	}
	return t.finish(d, c)
}

// end ends an answered (or, for incomplete ends, any) dialog at time at.
func (t *Tracker) end(d *dialog, at time.Time, who cdr.Initiator, why string) cdr.Event {
	c := t.call(d)
	if at.Before(d.started) {
		at = d.started
	}
	end := at
	c.EndedAt = &end
	if who == endIncomplete {
		c.Custom["incomplete"] = "true"
		c.Custom["incomplete_reason"] = why
		c.Hangup.Initiator = cdr.InitiatorSystem
		if d.answered.IsZero() {
			c.Disposition = cdr.DispositionNoAnswer
			if d.otherFinal != 0 {
				c.Disposition = cdr.DispositionFailed
			}
		} else {
			c.Disposition = cdr.DispositionAnswered
			c.Hangup.SIPCode = 200
		}
	} else {
		c.Disposition = cdr.DispositionAnswered
		c.Hangup.SIPCode = 200
		c.Hangup.Initiator = who
	}
	return t.finish(d, c)
}

func (t *Tracker) finish(d *dialog, c *cdr.Call) cdr.Event {
	// Capture clocks of different agents may disagree: never end before the
	// start or the answer.
	if c.EndedAt.Before(c.StartedAt) {
		*c.EndedAt = c.StartedAt
	}
	if c.AnsweredAt != nil && c.EndedAt.Before(*c.AnsweredAt) {
		*c.EndedAt = *c.AnsweredAt
	}
	if c.AnsweredAt != nil {
		c.Billsec = seconds(c.EndedAt.Sub(*c.AnsweredAt))
	}
	c.Duration = seconds(c.EndedAt.Sub(c.StartedAt))
	t.order.Remove(d.elem)
	delete(t.dialogs, d.callID)
	t.ended[d.callID] = *c.EndedAt
	t.endedQ = append(t.endedQ, tomb{d.callID, *c.EndedAt})
	if len(t.endedQ)-t.head > t.o.MaxDialogs {
		t.prune(time.Time{})
	}
	t.stats.Ended++
	return cdr.NewEvent(cdr.TypeCallEnded, *c.EndedAt, t.o.Source, c)
}

// seconds rounds a duration to whole seconds as Asterisk's CDR does.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second/2) / time.Second)
}

func (t *Tracker) event(typ cdr.Type, d *dialog, at time.Time) cdr.Event {
	return cdr.NewEvent(typ, at, t.o.Source, t.call(d))
}

// call builds the dialog's record as it stands.
func (t *Tracker) call(d *dialog) *cdr.Call {
	c := &cdr.Call{
		Base: cdr.Base{
			ID: "sip:" + d.callID, Kind: cdr.KindCall, Source: t.o.Source, CallID: d.callID,
			Direction: t.direction(d), Caller: d.caller, StartedAt: d.started,
			Custom: map[string]string{},
		},
		Callee: d.callee,
		Legs:   []cdr.Leg{},
	}
	if !d.answered.IsZero() {
		a := d.answered
		c.AnsweredAt = &a
	}
	if d.cause > 0 {
		c.Hangup.Cause = d.cause
		c.Hangup.CauseText = cmp.Or(cdr.CauseText(d.cause), d.causeText)
	}
	return c
}

func (t *Tracker) direction(d *dialog) cdr.Direction {
	if len(t.domains) == 0 && len(t.o.LocalNetworks) == 0 {
		return cdr.DirectionUnknown
	}
	from := t.domains[d.callerHost] || t.local(d.callerAddr) || t.localIP(d.callerOrigin)
	to := t.domains[d.calleeHost] || t.domains[d.toHost] || t.local(d.calleeAddr) || t.localIP(d.calleeOrigin)
	switch {
	case from && to:
		return cdr.DirectionInternal
	case from:
		return cdr.DirectionOutbound
	case to:
		return cdr.DirectionInbound
	}
	return cdr.DirectionUnknown
}

func (t *Tracker) local(a netip.AddrPort) bool {
	if !a.IsValid() {
		return false
	}
	return t.localIP(a.Addr())
}

func (t *Tracker) localIP(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range t.o.LocalNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Flush ends what time has settled by now (capture time, or the clock for
// live sources): messages seen only on another leg for longer than Linger
// are taken as final, answered dialogs whose Session-Expires lapsed and
// dialogs older than MaxCallDuration end as incomplete. It also forgets
// Call-IDs that ended more than Linger ago.
func (t *Tracker) Flush(now time.Time) []cdr.Event {
	var out []cdr.Event
	var due []*dialog
	for e := t.order.Front(); e != nil; e = e.Next() {
		due = append(due, e.Value.(*dialog))
	}
	for _, d := range due {
		if d.answered.IsZero() && !d.answerOther.IsZero() && d.bye.IsZero() && now.Sub(d.answerOther) >= Linger {
			out = append(out, t.answer(d, d.answerOther)...)
		}
		switch {
		case !d.bye.IsZero() && now.Sub(d.bye) >= Linger:
			out = append(out, t.end(d, d.bye, initiatorOf(d.byeCaller), ""))
		case d.answered.IsZero() && d.otherFinal != 0 && now.Sub(d.otherAt) >= Linger:
			out = append(out, t.finalFailure(d, d.otherFinal, d.otherAt))
		case !d.answered.IsZero() && d.sessExp > 0 && now.Sub(d.refreshed) >= d.sessExp:
			t.stats.Timedout++
			out = append(out, t.end(d, d.refreshed.Add(d.sessExp), endIncomplete, "session_expired"))
		case now.Sub(d.started) >= t.o.MaxCallDuration:
			t.stats.Timedout++
			out = append(out, t.end(d, d.lastSeen, endIncomplete, "max_call_duration"))
		}
	}
	t.prune(now)
	return out
}

// prune forgets ended Call-IDs older than Linger (all but the newest
// MaxDialogs when now is zero, or beyond MaxDialogs).
func (t *Tracker) prune(now time.Time) {
	for t.head < len(t.endedQ) {
		tb := t.endedQ[t.head]
		if len(t.endedQ)-t.head <= t.o.MaxDialogs && (now.IsZero() || now.Sub(tb.at) < Linger) {
			break
		}
		if at, ok := t.ended[tb.callID]; ok && at.Equal(tb.at) {
			delete(t.ended, tb.callID)
		}
		t.endedQ[t.head] = tomb{}
		t.head++
	}
	if t.head > 1024 && t.head > len(t.endedQ)/2 {
		t.endedQ = append(t.endedQ[:0], t.endedQ[t.head:]...)
		t.head = 0
	}
}

// Drain ends every dialog still open as incomplete (custom.incomplete_reason
// = reason), oldest first: for the end of an offline input or a shutdown.
// Messages seen only on another leg are taken as final first.
func (t *Tracker) Drain(reason string) []cdr.Event {
	var out []cdr.Event
	for t.order.Len() > 0 {
		d := t.order.Front().Value.(*dialog)
		switch {
		case !d.bye.IsZero():
			out = append(out, t.end(d, d.bye, initiatorOf(d.byeCaller), ""))
		case d.answered.IsZero() && d.otherFinal != 0:
			out = append(out, t.finalFailure(d, d.otherFinal, d.otherAt))
		default:
			if d.answered.IsZero() && !d.answerOther.IsZero() {
				out = append(out, t.answer(d, d.answerOther)...)
			}
			out = append(out, t.end(d, d.lastSeen, endIncomplete, reason))
		}
	}
	return out
}
