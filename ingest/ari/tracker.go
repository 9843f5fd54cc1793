package ari

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// DefaultMaxCallDuration is the max_call_duration used when Options leaves it zero.
const DefaultMaxCallDuration = 4 * time.Hour

// DefaultIVRApps are the dialplan applications that mean "in an IVR" when
// Options.IVRApps is nil.
var DefaultIVRApps = []string{"Read", "Background", "WaitExten"}

// startHold is how long, in event time, a call whose grouping is not yet
// certain waits before call.started is raised. It applies only when the
// channels carry no linkedid (ari.conf without channelvars =
// CHANNEL(linkedid)), where a dialed channel is joined to its caller by a
// Dial or bridge event that arrives just after the channel is created.
const startHold = time.Second

// tombstoneCap bounds the set of ended channel ids remembered to ignore
// late and duplicate events.
const tombstoneCap = 16384

// Options configures a Tracker.
type Options struct {
	// System is the Asterisk system name or entity id used in record ids
	// (ari:<system>:<linkedid>). Empty means the event's asterisk_id.
	System string
	// Source names the source in events and records; Kind defaults to "ari".
	Source cdr.SourceRef
	// IVRContexts are glob patterns (path.Match) of dialplan contexts that
	// are IVRs.
	IVRContexts []string
	// IVRApps are dialplan applications that are IVRs; nil means
	// DefaultIVRApps, an empty non-nil slice means none.
	IVRApps []string
	// IVRVariables are channel variables whose values become IVR inputs and,
	// in order, the IVR record's data_values.
	IVRVariables []string
	// KeepVariables are channel variables copied into every record's custom map.
	KeepVariables []string
	// MaxCallDuration ends a call that lasts longer (Flush); zero means
	// DefaultMaxCallDuration.
	MaxCallDuration time.Duration
}

func (o Options) withDefaults() Options {
	if o.Source.Kind == "" {
		o.Source.Kind = "ari"
	}
	if o.IVRApps == nil {
		o.IVRApps = DefaultIVRApps
	}
	if o.MaxCallDuration <= 0 {
		o.MaxCallDuration = DefaultMaxCallDuration
	}
	return o
}

// Tracker is a pure state machine turning ARI events into cdrgw events: no
// I/O, no clock (time comes from event timestamps and Flush's argument).
// It is not safe for concurrent use.
type Tracker struct {
	o          Options
	ivrApps    map[string]bool
	ivrVars    map[string]int // name → data_values index
	keep       map[string]bool
	channels   map[string]*channel
	calls      map[string]*call
	unstarted  []*call
	bridges    map[string]*call // bridge id → call (grouping without linkedid)
	tomb       map[string]struct{}
	tombFIFO   []string
	now        time.Time
	asteriskID string
	closing    []*channel // channels with a queue or IVR visit closing
	out        []cdr.Event
}

type channel struct {
	id, name    string
	call        *call
	created     time.Time
	answered    time.Time
	ended       time.Time
	destroyed   bool
	sawApp      bool
	outgoing    bool // first dialplan app was AppDial, AppDial2 or AppQueue
	caller      CallerID
	accountCode string
	exten       string
	context     string
	cause       int
	causeText   string
	reqCause    int // last non-soft, non-zero ChannelHangupRequest cause
	dialedBy    *channel
	dialed      bool // made a Dial as caller
	dialStatus  string
	dialAnswer  bool
	queue       *queueVisit
	queueSeq    int
	ivr         *ivrVisit
	ivrSeq      int
	closingQ    *queueVisit
	closingIVR  *ivrVisit
	last        step      // the latest ChannelDialplan step, to drop stale ones
	steps       [8]uint64 // FNV-1a hashes of recent steps with their times, to drop duplicates
	stepN       int
}

type call struct {
	linkedID   string
	linked     bool // grouping is by linkedid
	channels   []*channel
	first      time.Time
	started    bool
	answered   bool
	custom     map[string]string
	hangupBy   *channel
	hangupSoft bool
	incomplete string // why the call was ended without ChannelDestroyed
}

// step is what the stale check needs of a channel's latest dialplan step:
// its time, a hash of its context and extension, and its priority.
type step struct {
	at       time.Time
	priority int64
	loc      uint64
}

// FNV-1a, 64 bits. Recent steps are remembered as hashes, not strings: 8
// full steps (80 bytes each) a channel were most of a live call's memory.
// A new step is mistaken for a duplicate of one of its channel's last 8
// (and dropped) with probability about 2^-61.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return (h ^ 0xff) * fnvPrime // a separator (0xff is no byte of UTF-8)
}

func fnvInt(h uint64, n int64) uint64 {
	for i := 0; i < 8; i++ {
		h = (h ^ uint64(byte(n>>(8*i)))) * fnvPrime
	}
	return h
}

// reorderWindow is how far out of timestamp order ARI events may arrive
// (the recording shows up to 3 ms). A queue or IVR visit that ends still
// takes its variables for this long (in event time) before it is emitted.
const reorderWindow = 10 * time.Millisecond

type queueVisit struct {
	end        time.Time // set when closing
	name       string
	entered    time.Time
	connected  time.Time
	completed  time.Time
	agentName  string
	agentIface string
	holdtime   int // QEHOLDTIME, -1 when unknown
	wait       int // QUEUEWAIT, -1 when unknown
	abandoned  bool
	status     string
}

type ivrVisit struct {
	end     time.Time // set when closing
	start   time.Time
	context string
	exten   string
	app     string
	inputs  []cdr.IVRInput
	values  []string
	setAt   []time.Time
}

// NewTracker returns a tracker with the given options.
func NewTracker(o Options) *Tracker {
	o = o.withDefaults()
	t := &Tracker{
		o:        o,
		ivrApps:  make(map[string]bool),
		ivrVars:  make(map[string]int),
		keep:     make(map[string]bool),
		channels: make(map[string]*channel),
		calls:    make(map[string]*call),
		bridges:  make(map[string]*call),
		tomb:     make(map[string]struct{}),
	}
	for _, a := range o.IVRApps {
		t.ivrApps[strings.ToLower(a)] = true
	}
	for i, v := range o.IVRVariables {
		if _, dup := t.ivrVars[v]; !dup {
			t.ivrVars[v] = i
		}
	}
	for _, v := range o.KeepVariables {
		t.keep[v] = true
	}
	return t
}

// HandleJSON decodes one raw ARI event and handles it.
func (t *Tracker) HandleJSON(data []byte) ([]cdr.Event, error) {
	ev, err := DecodeEvent(data)
	if err != nil {
		return nil, err
	}
	return t.Handle(ev), nil
}

// Live reports the number of calls in progress.
func (t *Tracker) Live() int { return len(t.calls) }

// Handle feeds one decoded event (its At must be set, as DecodeEvent does)
// and returns the cdrgw events it completes, in order. The returned slice
// is reused by the next call.
func (t *Tracker) Handle(ev *Event) []cdr.Event {
	t.out = t.out[:0]
	if ev == nil || ev.At.IsZero() {
		return nil
	}
	if ev.At.After(t.now) {
		t.now = ev.At
	}
	if t.asteriskID == "" {
		t.asteriskID = ev.AsteriskID
	}
	t.releaseHeld()
	t.releaseClosing()
	switch ev.Type {
	case "Dial":
		t.dial(ev)
	case "BridgeDestroyed":
		if ev.Bridge != nil {
			delete(t.bridges, ev.Bridge.ID)
		}
	}
	if ev.Channel == nil || ev.Channel.ID == "" {
		return t.out
	}
	ch := t.touch(ev.Channel, ev)
	if ch == nil {
		return t.out
	}
	switch ev.Type {
	case "ChannelStateChange":
		if ev.Channel.State == "Up" {
			t.answer(ch, ev.At)
		}
	case "ChannelDialplan":
		t.dialplan(ch, ev)
	case "ChannelVarset":
		t.varset(ch, ev)
	case "ChannelDtmfReceived":
		v := ch.ivr
		if v == nil && ch.closingIVR != nil && !ev.At.After(ch.closingIVR.end) {
			v = ch.closingIVR
		}
		if v != nil {
			v.input(ev.At, "dtmf", "", ev.Digit)
		}
	case "ChannelHangupRequest":
		c := ch.call
		if c.hangupBy == nil {
			c.hangupBy, c.hangupSoft = ch, ev.Soft
		}
		if !ev.Soft && ev.Cause > 0 {
			ch.reqCause = ev.Cause
		}
	case "ChannelEnteredBridge":
		if ev.Bridge != nil {
			t.enterBridge(ch, ev.Bridge.ID, ev.At)
		}
	case "ChannelLeftBridge":
		if q := ch.queue; q != nil && !q.connected.IsZero() && q.completed.IsZero() {
			q.completed = ev.At
		}
	case "ChannelDestroyed":
		t.destroy(ch, ev.At, ev.Cause, ev.CauseText)
	}
	return t.out
}

// touch returns the tracked channel for snap, creating it (and its call)
// when unknown, and refreshes its caller id. It returns nil for a channel
// of a call that has already ended.
func (t *Tracker) touch(snap *Channel, ev *Event) *channel {
	if ch := t.channels[snap.ID]; ch != nil {
		if snap.Caller != (CallerID{}) {
			ch.caller = snap.Caller
		}
		if snap.AccountCode != "" {
			ch.accountCode = snap.AccountCode
		}
		return ch
	}
	if _, dead := t.tomb[snap.ID]; dead {
		return nil
	}
	ch := &channel{id: snap.ID, name: snap.Name, caller: snap.Caller, accountCode: snap.AccountCode,
		exten: snap.Dialplan.Exten, context: snap.Dialplan.Context}
	ch.created = ev.At
	if ct, err := ParseTime(snap.CreationTime); err == nil {
		ch.created = ct
	}
	t.channels[snap.ID] = ch
	vars := snap.Vars()
	linked := vars[LinkedIDVar]
	var c *call
	switch {
	case linked != "":
		c = t.calls[linked]
		if c == nil {
			c = t.newCall(linked, true, ch.created)
		}
	default:
		if p := t.localPartner(ch); p != nil {
			c = p.call
		} else {
			c = t.newCall(ch.id, false, ch.created)
		}
	}
	ch.call = c
	c.channels = append(c.channels, ch)
	if ch.created.Before(c.first) {
		c.first = ch.created
	}
	for k, v := range vars {
		if v != "" && t.keep[k] {
			c.setCustom(k, v)
		}
	}
	return ch
}

func (t *Tracker) newCall(id string, linked bool, first time.Time) *call {
	c := &call{linkedID: id, linked: linked, first: first}
	t.calls[id] = c
	t.unstarted = append(t.unstarted, c)
	return c
}

func (c *call) setCustom(k, v string) {
	if c.custom == nil {
		c.custom = make(map[string]string)
	}
	c.custom[k] = v
}

// localPartner returns the live other half of a Local channel pair
// (Local/x@ctx-N;1 and ;2), or nil.
func (t *Tracker) localPartner(ch *channel) *channel {
	n := ch.name
	if !strings.HasPrefix(n, "Local/") || len(n) < 3 || n[len(n)-2] != ';' {
		return nil
	}
	other := "1"
	if n[len(n)-1] == '1' {
		other = "2"
	}
	want := n[:len(n)-1] + other
	for _, c := range t.calls {
		for _, p := range c.channels {
			if p.name == want && !p.destroyed {
				return p
			}
		}
	}
	return nil
}

// isPartner reports whether a and b are the two halves of one Local channel.
func isPartner(a, b *channel) bool {
	if !strings.HasPrefix(a.name, "Local/") || len(a.name) < 3 || len(a.name) != len(b.name) {
		return false
	}
	n := len(a.name)
	return a.name[:n-1] == b.name[:n-1] && a.name[n-2] == ';' && a.name[n-1] != b.name[n-1]
}

// merge joins call b into a when grouping without linkedid.
func (t *Tracker) merge(a, b *call) {
	if a == nil || b == nil || a == b || a.linked || b.linked {
		return
	}
	if b.first.Before(a.first) {
		a, b = b, a
	}
	for _, ch := range b.channels {
		ch.call = a
	}
	a.channels = append(a.channels, b.channels...)
	slices.SortStableFunc(a.channels, func(x, y *channel) int { return x.created.Compare(y.created) })
	for k, v := range b.custom {
		a.setCustom(k, v)
	}
	a.started = a.started || b.started
	a.answered = a.answered || b.answered
	if a.hangupBy == nil {
		a.hangupBy, a.hangupSoft = b.hangupBy, b.hangupSoft
	}
	delete(t.calls, b.linkedID)
	t.unstarted = slices.DeleteFunc(t.unstarted, func(c *call) bool { return c == b })
	for id, c := range t.bridges {
		if c == b {
			t.bridges[id] = a
		}
	}
}

func (t *Tracker) dial(ev *Event) {
	if ev.Peer == nil || ev.Peer.ID == "" {
		return
	}
	peer := t.touch(ev.Peer, ev)
	if peer == nil {
		return
	}
	var caller *channel
	if ev.Caller != nil && ev.Caller.ID != "" {
		caller = t.touch(ev.Caller, ev)
	}
	if caller != nil {
		t.merge(caller.call, peer.call)
		if peer.dialedBy == nil {
			peer.dialedBy = caller
		}
		caller.dialed = true
	}
	switch ev.DialStatus {
	case "", "RINGING", "PROGRESS", "PROCEEDING":
		return
	case "ANSWER":
		t.answer(peer, ev.At)
		if caller != nil {
			caller.dialAnswer = true
			caller.dialStatus = "ANSWER"
			t.answer(caller, ev.At)
			if q := caller.queue; q != nil && q.connected.IsZero() {
				q.connected = ev.At
			}
		}
	default:
		if caller != nil {
			caller.dialStatus = ev.DialStatus
		}
	}
}

func (t *Tracker) answer(ch *channel, at time.Time) {
	if !ch.answered.IsZero() && !at.Before(ch.answered) {
		return
	}
	ch.answered = at
	c := ch.call
	if c.answered || c.primary() != ch {
		return
	}
	if !c.linked && !c.started && t.now.Sub(c.first) < startHold {
		// Grouping may still change; the hold releases both moments.
		return
	}
	t.start(c)
	c.answered = true
	t.emit(cdr.TypeCallAnswered, at, t.callRecord(c, false))
}

var pseudoApps = map[string]bool{"AppDial": true, "AppDial2": true, "AppQueue": true}

func (t *Tracker) dialplan(ch *channel, ev *Event) {
	app := ev.DialplanApp
	if app == "" {
		app = ev.Channel.Dialplan.AppName
	}
	data := ev.DialplanAppData
	if data == "" {
		data = ev.Channel.Dialplan.AppData
	}
	dp := ev.Channel.Dialplan
	at := ev.At
	loc := fnvString(fnvString(fnvOffset, dp.Context), dp.Exten)
	if ch.stepN > 0 {
		last := ch.last
		if at.Before(last.at) || at.Equal(last.at) && loc == last.loc && dp.Priority < last.priority {
			return // stale: arrived after a later step
		}
	}
	h := fnvInt(fnvInt(fnvInt(fnvString(fnvString(loc, app), data), dp.Priority), at.Unix()), int64(at.Nanosecond()))
	for i := range min(ch.stepN, len(ch.steps)) {
		if ch.steps[i] == h {
			return // duplicate
		}
	}
	ch.steps[ch.stepN%len(ch.steps)] = h
	ch.stepN++
	ch.last = step{at: at, priority: dp.Priority, loc: loc}
	if dp.Exten != "" && dp.Exten != "h" && !pseudoApps[app] {
		ch.exten, ch.context = dp.Exten, dp.Context
	}
	if !ch.sawApp && app != "" {
		ch.sawApp = true
		ch.outgoing = pseudoApps[app]
		if !ch.outgoing && ch.call.linked && ch.call.primary() == ch {
			t.start(ch.call)
		}
	}
	if q := ch.queue; q != nil {
		t.endQueue(ch, ev.At)
	}
	if app == "Queue" {
		name, _, _ := strings.Cut(data, ",")
		ch.queue = &queueVisit{name: strings.TrimSpace(name), entered: ev.At, holdtime: -1, wait: -1}
	}
	inIVR := !pseudoApps[app] && (t.ivrApps[strings.ToLower(app)] || t.ivrContext(ev.Channel.Dialplan.Context))
	switch {
	case inIVR && ch.ivr == nil:
		ch.ivr = &ivrVisit{start: ev.At, context: ev.Channel.Dialplan.Context, exten: ev.Channel.Dialplan.Exten, app: app}
		if len(t.o.IVRVariables) > 0 {
			ch.ivr.values = make([]string, len(t.o.IVRVariables))
			ch.ivr.setAt = make([]time.Time, len(t.o.IVRVariables))
		}
	case inIVR:
		ch.ivr.app = app
	case !inIVR && ch.ivr != nil:
		t.endIVR(ch, ev.At)
	}
}

func (t *Tracker) ivrContext(ctx string) bool {
	for _, p := range t.o.IVRContexts {
		if ok, _ := path.Match(p, ctx); ok {
			return true
		}
	}
	return false
}

func (t *Tracker) varset(ch *channel, ev *Event) {
	name := strings.TrimLeft(ev.Variable, "_")
	c := ch.call
	if t.keep[name] && ev.Value != "" {
		c.setCustom(name, ev.Value)
	}
	v := ch.ivr
	if v == nil && ch.closingIVR != nil && !ev.At.After(ch.closingIVR.end) {
		v = ch.closingIVR
	}
	if v != nil {
		if i, ok := t.ivrVars[name]; ok {
			v.input(ev.At, "variable", name, ev.Value)
			if i < len(v.values) && !ev.At.Before(v.setAt[i]) {
				v.values[i], v.setAt[i] = ev.Value, ev.At
			}
		}
	}
	q := ch.queue
	if q == nil && ch.closingQ != nil && !ev.At.After(ch.closingQ.end.Add(reorderWindow)) {
		q = ch.closingQ
	}
	if q == nil {
		return
	}
	switch name {
	case "MEMBERNAME":
		q.agentName = ev.Value
	case "MEMBERINTERFACE":
		q.agentIface = ev.Value
		if q.connected.IsZero() {
			q.connected = ev.At
		}
	case "QEHOLDTIME":
		if n, err := strconv.Atoi(ev.Value); err == nil && n >= 0 {
			q.holdtime = n
		}
	case "QUEUEWAIT":
		if n, err := strconv.Atoi(ev.Value); err == nil && n >= 0 {
			q.wait = n
		}
	case "ABANDONED":
		q.abandoned = strings.EqualFold(ev.Value, "TRUE")
	case "QUEUESTATUS":
		q.status = ev.Value
	}
}

func (t *Tracker) enterBridge(ch *channel, id string, at time.Time) {
	if b := t.bridges[id]; b != nil {
		t.merge(b, ch.call)
	} else {
		t.bridges[id] = ch.call
	}
	if q := ch.queue; q != nil && q.connected.IsZero() && q.agentIface != "" {
		q.connected = at
	}
}

func (t *Tracker) destroy(ch *channel, at time.Time, cause int, causeText string) {
	if ch.destroyed {
		return
	}
	ch.destroyed = true
	ch.ended = at
	ch.cause, ch.causeText = cause, causeText
	t.endQueue(ch, at)
	t.endIVR(ch, at)
	c := ch.call
	for _, o := range c.channels {
		if !o.destroyed {
			return
		}
	}
	t.finish(c)
}

// finish emits call.ended for c and forgets its state.
func (t *Tracker) finish(c *call) {
	for _, ch := range c.channels {
		if !ch.destroyed {
			ch.destroyed = true
			ch.ended = t.now
		}
		t.endQueue(ch, ch.ended)
		t.endIVR(ch, ch.ended)
	}
	t.start(c)
	for _, ch := range c.channels {
		t.flushClosing(ch)
	}
	rec := t.callRecord(c, true)
	t.emit(cdr.TypeCallEnded, *rec.EndedAt, rec)
	delete(t.calls, c.linkedID)
	t.unstarted = slices.DeleteFunc(t.unstarted, func(x *call) bool { return x == c })
	for _, ch := range c.channels {
		delete(t.channels, ch.id)
		t.bury(ch.id)
	}
	for id, b := range t.bridges {
		if b == c {
			delete(t.bridges, id)
		}
	}
}

func (t *Tracker) bury(id string) {
	if _, ok := t.tomb[id]; ok {
		return
	}
	t.tomb[id] = struct{}{}
	t.tombFIFO = append(t.tombFIFO, id)
	if len(t.tombFIFO) > tombstoneCap {
		n := len(t.tombFIFO) - tombstoneCap
		for _, old := range t.tombFIFO[:n] {
			delete(t.tomb, old)
		}
		t.tombFIFO = append(t.tombFIFO[:0], t.tombFIFO[n:]...)
	}
}

// start emits call.started once.
func (t *Tracker) start(c *call) {
	if c.started {
		return
	}
	c.started = true
	t.unstarted = slices.DeleteFunc(t.unstarted, func(x *call) bool { return x == c })
	rec := t.callRecord(c, false)
	t.emit(cdr.TypeCallStarted, rec.StartedAt, rec)
}

// releaseHeld raises call.started (and call.answered) for calls held past
// startHold.
func (t *Tracker) releaseHeld() {
	for i := 0; i < len(t.unstarted); {
		c := t.unstarted[i]
		if t.now.Sub(c.first) < startHold {
			i++
			continue
		}
		t.start(c) // removes c from t.unstarted
		if p := c.primary(); !c.answered && !p.answered.IsZero() {
			c.answered = true
			t.emit(cdr.TypeCallAnswered, p.answered, t.callRecord(c, false))
		}
	}
}

// Flush ends every call that started more than MaxCallDuration before now,
// with ended_at = now and custom.incomplete = "true", and returns the events.
func (t *Tracker) Flush(now time.Time) []cdr.Event {
	t.out = t.out[:0]
	if now.After(t.now) {
		t.now = now
	}
	t.releaseHeld()
	var old []*call
	for _, c := range t.calls {
		if now.Sub(c.first) > t.o.MaxCallDuration {
			old = append(old, c)
		}
	}
	t.endCalls(old, now, "call exceeded max_call_duration "+t.o.MaxCallDuration.String())
	return t.out
}

// EndAll ends every call in progress at time at, giving reason as the
// hangup cause text and custom.incomplete = "true". ReadRecording uses it
// at the end of a recording.
func (t *Tracker) EndAll(at time.Time, reason string) []cdr.Event {
	t.out = t.out[:0]
	if at.After(t.now) {
		t.now = at
	}
	t.releaseHeld()
	calls := make([]*call, 0, len(t.calls))
	for _, c := range t.calls {
		calls = append(calls, c)
	}
	t.endCalls(calls, at, reason)
	return t.out
}

// Reconcile compares the tracked channels with the channel ids Asterisk
// reports as alive (GET /ari/channels after a reconnect). Channels that
// vanished are ended at noticed, the time the connection loss was
// noticed; calls left without channels end with custom.incomplete = "true".
// Calls still up continue.
func (t *Tracker) Reconcile(noticed time.Time, alive []string) []cdr.Event {
	t.out = t.out[:0]
	live := make(map[string]bool, len(alive))
	for _, id := range alive {
		live[id] = true
	}
	var gone []*call
	for _, c := range t.calls {
		up := false
		for _, ch := range c.channels {
			if !ch.destroyed && !live[ch.id] {
				ch.destroyed, ch.ended = true, noticed
				t.endQueue(ch, noticed)
				t.endIVR(ch, noticed)
			}
			up = up || !ch.destroyed
		}
		if !up {
			gone = append(gone, c)
		}
	}
	slices.SortFunc(gone, func(a, b *call) int { return cmp.Compare(a.linkedID, b.linkedID) })
	for _, c := range gone {
		c.incomplete = "channels vanished while the ARI connection was down"
		t.finish(c)
	}
	return t.out
}

func (t *Tracker) endCalls(calls []*call, at time.Time, reason string) {
	slices.SortFunc(calls, func(a, b *call) int {
		return cmp.Or(a.first.Compare(b.first), cmp.Compare(a.linkedID, b.linkedID))
	})
	for _, c := range calls {
		c.incomplete = reason
		for _, ch := range c.channels {
			if !ch.destroyed {
				ch.destroyed, ch.ended = true, at
			}
		}
		t.finish(c)
	}
}

func (t *Tracker) emit(typ cdr.Type, at time.Time, r cdr.Record) {
	t.out = append(t.out, cdr.NewEvent(typ, at, t.o.Source, r))
}

// primary is the channel whose Master.csv row the call record matches: the
// first channel that runs real dialplan (not an outgoing AppDial, AppDial2
// or AppQueue channel), else the first channel.
func (c *call) primary() *channel {
	for _, ch := range c.channels {
		if ch.sawApp && !ch.outgoing {
			return ch
		}
	}
	return c.channels[0]
}

func (t *Tracker) system() string {
	if t.o.System != "" {
		return t.o.System
	}
	if t.asteriskID != "" {
		return t.asteriskID
	}
	return "asterisk"
}

func (t *Tracker) base(c *call, kind cdr.Kind, id string, ch *channel, start time.Time) cdr.Base {
	b := cdr.Base{
		ID: id, Kind: kind, Source: t.o.Source, CallID: c.linkedID, Direction: cdr.DirectionUnknown,
		Caller: cdr.Party{Number: ch.caller.Number, Name: ch.caller.Name}, StartedAt: start,
		Custom: make(map[string]string, len(c.custom)+1),
	}
	for k, v := range c.custom {
		b.Custom[k] = v
	}
	if c.incomplete != "" {
		b.Custom["incomplete"] = "true"
	}
	return b
}

func (t *Tracker) callID(c *call) string { return "ari:" + t.system() + ":" + c.linkedID }

// seconds is Asterisk's CDR duration: whole seconds, truncated.
func seconds(from, to time.Time) int {
	if to.Before(from) {
		return 0
	}
	return int(to.Sub(from) / time.Second)
}

// callRecord builds the call record; final adds the end, disposition and hangup.
func (t *Tracker) callRecord(c *call, final bool) *cdr.Call {
	p := c.primary()
	rec := &cdr.Call{Base: t.base(c, cdr.KindCall, t.callID(c), p, p.created)}
	rec.Callee = cdr.Party{Number: p.exten}
	rec.AccountCode = p.accountCode
	if !p.answered.IsZero() {
		at := p.answered
		rec.AnsweredAt = &at
	}
	rec.Legs = make([]cdr.Leg, 0, len(c.channels))
	for _, ch := range c.channels {
		leg := cdr.Leg{Channel: ch.name, UniqueID: ch.id, StartedAt: ch.created}
		if !ch.answered.IsZero() {
			a := ch.answered
			leg.AnsweredAt = &a
		}
		if ch.destroyed {
			e := ch.ended
			leg.EndedAt = &e
		}
		rec.Legs = append(rec.Legs, leg)
	}
	if !final {
		return rec
	}
	end := p.ended
	if end.Before(rec.StartedAt) {
		end = rec.StartedAt
	}
	rec.EndedAt = &end
	rec.Duration = seconds(rec.StartedAt, end)
	if rec.AnsweredAt != nil {
		if rec.AnsweredAt.After(end) {
			rec.AnsweredAt = &end
		}
		rec.Billsec = seconds(*rec.AnsweredAt, end)
	}
	rec.Hangup = t.hangup(c, p)
	rec.Disposition = disposition(p, rec.Hangup.Cause)
	return rec
}

// disposition follows Asterisk's cdr.c: the Dial status of the party A
// channel when it dialed, else answered, else its hangup cause.
func disposition(p *channel, cause int) cdr.Disposition {
	if p.dialed && p.dialStatus != "" {
		if p.dialAnswer {
			return cdr.DispositionAnswered
		}
		switch p.dialStatus {
		case "ANSWER":
			return cdr.DispositionAnswered
		case "BUSY":
			return cdr.DispositionBusy
		case "NOANSWER", "CANCEL":
			return cdr.DispositionNoAnswer
		case "CONGESTION":
			return cdr.DispositionCongestion
		default: // CHANUNAVAIL, DONTCALL, TORTURE, INVALIDARGS
			return cdr.DispositionFailed
		}
	}
	if !p.answered.IsZero() {
		return cdr.DispositionAnswered
	}
	switch cause {
	case 17:
		return cdr.DispositionBusy
	case 34, 42:
		return cdr.DispositionCongestion
	case 16, 18, 19, 31:
		return cdr.DispositionNoAnswer
	}
	return cdr.DispositionFailed
}

// hangup picks the Q.850 cause (ChannelDestroyed of the primary; when 0, a
// non-soft ChannelHangupRequest, then the dialed or bridged peer's) and who
// hung up first.
func (t *Tracker) hangup(c *call, p *channel) cdr.Hangup {
	h := cdr.Hangup{Initiator: cdr.InitiatorUnknown}
	switch {
	case p.cause > 0:
		h.Cause, h.CauseText = p.cause, p.causeText
	case p.reqCause > 0:
		h.Cause = p.reqCause
	default:
		for _, ch := range c.channels { // peers dialed by p first
			if ch.dialedBy == p && ch.cause > 0 {
				h.Cause = ch.cause
				break
			}
		}
		if h.Cause == 0 {
			for _, ch := range c.channels {
				if ch != p && ch.cause > 0 {
					h.Cause = ch.cause
					break
				}
			}
		}
	}
	if h.CauseText == "" {
		h.CauseText = cdr.CauseText(h.Cause)
	}
	if c.incomplete != "" {
		h.CauseText = c.incomplete
	}
	if by := c.hangupBy; by != nil {
		switch {
		case by == p && c.hangupSoft:
			h.Initiator = cdr.InitiatorSystem
		case by == p, isPartner(by, p), by.created.Before(p.created):
			h.Initiator = cdr.InitiatorCaller
		default:
			h.Initiator = cdr.InitiatorCallee
		}
	}
	return h
}

// endQueue closes the channel's queue visit at time at; it is emitted once
// the reorder window has passed (or the call ends).
func (t *Tracker) endQueue(ch *channel, at time.Time) {
	q := ch.queue
	if q == nil {
		return
	}
	ch.queue = nil
	t.flushClosing(ch) // a previous visit still closing
	q.end = at
	ch.closingQ = q
	t.closing = append(t.closing, ch)
}

// endIVR closes the channel's IVR visit, as endQueue does.
func (t *Tracker) endIVR(ch *channel, at time.Time) {
	v := ch.ivr
	if v == nil {
		return
	}
	ch.ivr = nil
	t.flushClosing(ch)
	v.end = at
	ch.closingIVR = v
	t.closing = append(t.closing, ch)
}

// flushClosing emits the channel's closing visits.
func (t *Tracker) flushClosing(ch *channel) {
	if v := ch.closingIVR; v != nil {
		ch.closingIVR = nil
		t.emitIVR(ch, v)
	}
	if q := ch.closingQ; q != nil {
		ch.closingQ = nil
		t.emitQueue(ch, q)
	}
	t.closing = slices.DeleteFunc(t.closing, func(c *channel) bool { return c == ch })
}

// releaseClosing emits visits whose reorder window has passed.
func (t *Tracker) releaseClosing() {
	for i := 0; i < len(t.closing); {
		ch := t.closing[i]
		var end time.Time
		if ch.closingQ != nil {
			end = ch.closingQ.end
		}
		if ch.closingIVR != nil && ch.closingIVR.end.After(end) {
			end = ch.closingIVR.end
		}
		if t.now.Sub(end) <= reorderWindow {
			i++
			continue
		}
		t.flushClosing(ch) // removes ch from t.closing
	}
}

func (t *Tracker) emitQueue(ch *channel, q *queueVisit) {
	at := q.end
	ch.queueSeq++
	c := ch.call
	id := fmt.Sprintf("%s:queue:%s", t.callID(c), ch.id)
	if ch.queueSeq > 1 {
		id += ":" + strconv.Itoa(ch.queueSeq)
	}
	rec := &cdr.Queue{Base: t.base(c, cdr.KindQueue, id, ch, q.entered)}
	end := at
	if end.Before(q.entered) {
		end = q.entered
	}
	rec.EndedAt = &end
	rec.Queue = cdr.Named{ID: q.name, Name: q.name}
	rec.Agent = cdr.Agent{Name: q.agentName, ID: q.agentIface}
	rec.CallLength = seconds(q.entered, end)
	// queue_log works in whole time_t seconds: holdtime and calltime are
	// differences of truncated Unix times.
	unixDiff := func(a, b time.Time) int { return max(0, int(b.Unix()-a.Unix())) }
	switch {
	case !q.connected.IsZero():
		rec.LeaveReason = "answered"
		rec.Wait = q.holdtime
		if rec.Wait < 0 {
			rec.Wait = unixDiff(q.entered, q.connected)
		}
		done := q.completed
		if done.IsZero() || done.After(end) {
			done = end
		}
		rec.Talk = unixDiff(q.connected, done)
	default:
		rec.Wait = q.wait
		if rec.Wait < 0 {
			rec.Wait = unixDiff(q.entered, end)
		}
		switch {
		case q.abandoned:
			rec.LeaveReason = "abandoned"
		case q.status != "":
			rec.LeaveReason = strings.ToLower(q.status)
		case ch.destroyed:
			rec.LeaveReason = "abandoned"
		default:
			rec.LeaveReason = "unknown"
		}
	}
	t.emit(cdr.TypeQueueEnded, end, rec)
}

func (t *Tracker) emitIVR(ch *channel, v *ivrVisit) {
	at := v.end
	ch.ivrSeq++
	c := ch.call
	id := fmt.Sprintf("%s:ivr:%s", t.callID(c), ch.id)
	if ch.ivrSeq > 1 {
		id += ":" + strconv.Itoa(ch.ivrSeq)
	}
	rec := &cdr.IVR{Base: t.base(c, cdr.KindIVR, id, ch, v.start)}
	end := at
	if end.Before(v.start) {
		end = v.start
	}
	rec.EndedAt = &end
	rec.IVR = cdr.Named{ID: v.exten + "@" + v.context, Name: v.context}
	rec.CallLength = seconds(v.start, end)
	rec.Inputs = v.inputs
	if rec.Inputs == nil {
		rec.Inputs = []cdr.IVRInput{}
	}
	rec.DataValues = make([]string, cdr.DataValueCount)
	copy(rec.DataValues, v.values)
	t.emit(cdr.TypeIVREnded, end, rec)
}

// input appends an IVR input, dropping an exact duplicate of the last one
// (a duplicated ARI event).
func (v *ivrVisit) input(at time.Time, typ, param, value string) {
	if n := len(v.inputs); n > 0 {
		l := v.inputs[n-1]
		if l.At.Equal(at) && l.BlockType == typ && l.Parameter == param && l.Value == value {
			return
		}
	}
	v.inputs = append(v.inputs, cdr.IVRInput{
		ID: strconv.Itoa(len(v.inputs) + 1), At: &at, Block: v.app,
		BlockType: typ, Parameter: param, Value: value,
	})
}
