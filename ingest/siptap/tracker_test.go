package siptap

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// Addresses of a proxied call: caller -> proxy -> callee.
var (
	addrCaller = netip.MustParseAddrPort("198.51.100.10:5060")
	addrProxy  = netip.MustParseAddrPort("10.0.0.1:5060")
	addrCallee = netip.MustParseAddrPort("10.0.0.20:5060")
	base       = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
)

func at(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

// call builds the messages of one Call-ID.
type callB struct{ id string }

func (c callB) invite(ms int, src, dst netip.AddrPort, vias int) Message {
	return Message{Time: at(ms), Src: src, Dst: dst, Request: true, Method: "INVITE", CallID: c.id, FromTag: "ft", CSeq: 1, CSeqMethod: "INVITE", Vias: vias,
		From: Address{Name: "Alice", User: "100", Host: "caller.example"}, To: Address{Name: "Bob", User: "200", Host: "pbx.example"},
		RequestURI: Address{User: "200", Host: "pbx.example"}}
}

func (c callB) resp(ms int, src, dst netip.AddrPort, code int, method string, cseq uint32) Message {
	return Message{Time: at(ms), Src: src, Dst: dst, StatusCode: code, CallID: c.id, FromTag: "ft", ToTag: "tt", CSeq: cseq, CSeqMethod: method, Vias: 1}
}

func (c callB) req(ms int, src, dst netip.AddrPort, method string, fromCaller bool, cseq uint32) Message {
	m := Message{Time: at(ms), Src: src, Dst: dst, Request: true, Method: method, CallID: c.id, FromTag: "ft", ToTag: "tt", CSeq: cseq, CSeqMethod: method, Vias: 1}
	if !fromCaller {
		m.FromTag, m.ToTag = "tt", "ft"
	}
	if method == "CANCEL" {
		m.ToTag = ""
	}
	return m
}

// both returns m on the caller's leg and a copy on the callee's leg.
func both(m Message, callerFirst bool) []Message {
	a, b := m, m
	if m.Src == addrCaller || m.Dst == addrCaller {
		b.Src, b.Dst = proxySide(m.Src), proxySide(m.Dst)
	}
	b.Time = m.Time.Add(300 * time.Microsecond)
	if !callerFirst {
		b.Time = m.Time.Add(-300 * time.Microsecond)
		return []Message{b, a}
	}
	return []Message{a, b}
}

// proxySide maps the caller's leg to the callee's leg.
func proxySide(a netip.AddrPort) netip.AddrPort {
	switch a {
	case addrCaller:
		return addrProxy
	case addrProxy:
		return addrCallee
	}
	return a
}

type wantCall struct {
	types      []cdr.Type
	disp       cdr.Disposition
	code       int
	initiator  cdr.Initiator
	answered   int // ms, -1 for none
	ended      int // ms
	cause      int
	incomplete string
}

func TestTracker(t *testing.T) {
	t.Parallel()
	c := callB{"call-1@example"}
	inv := func(ms int) []Message {
		m := c.invite(ms, addrCaller, addrProxy, 1)
		fwd := c.invite(ms+1, addrProxy, addrCallee, 2)
		return []Message{m, fwd}
	}
	started, answered, ended := cdr.TypeCallStarted, cdr.TypeCallAnswered, cdr.TypeCallEnded
	withReason := func(m Message, cause int) Message { m.Q850Cause = cause; return m }
	withSE := func(m Message, se time.Duration) Message { m.SessionExpires = se; return m }
	cat := func(ms ...[]Message) []Message { return slices.Concat(ms...) }
	one := func(m ...Message) []Message { return m }

	tests := []struct {
		name  string
		msgs  []Message
		flush time.Time // Flush after the messages when not zero
		opts  Options
		want  wantCall
	}{
		{name: "answered caller bye with reason",
			msgs: cat(inv(0), one(c.resp(100, addrProxy, addrCaller, 180, "INVITE", 1)),
				both(c.resp(2000, addrProxy, addrCaller, 200, "INVITE", 1), false),
				one(c.req(2001, addrCaller, addrProxy, "ACK", true, 1)),
				both(withReason(c.req(62500, addrCaller, addrProxy, "BYE", true, 2), 16), true),
				both(c.resp(62510, addrProxy, addrCaller, 200, "BYE", 2), false)),
			want: wantCall{types: []cdr.Type{started, answered, ended}, disp: cdr.DispositionAnswered, code: 200, initiator: cdr.InitiatorCaller, answered: 2000, ended: 62500, cause: 16}},
		{name: "callee bye arrives on the callee leg first",
			msgs: cat(inv(0), both(c.resp(1000, addrProxy, addrCaller, 200, "INVITE", 1), false),
				both(c.req(5000, addrProxy, addrCaller, "BYE", false, 1), false)),
			want: wantCall{types: []cdr.Type{started, answered, ended}, disp: cdr.DispositionAnswered, code: 200, initiator: cdr.InitiatorCallee, answered: 1000, ended: 5000}},
		{name: "busy 486", msgs: cat(inv(0), both(c.resp(700, addrProxy, addrCaller, 486, "INVITE", 1), false)),
			want: wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionBusy, code: 486, initiator: cdr.InitiatorCallee, answered: -1, ended: 700}},
		{name: "decline 603", msgs: cat(inv(0), both(c.resp(700, addrProxy, addrCaller, 603, "INVITE", 1), false)),
			want: wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionBusy, code: 603, initiator: cdr.InitiatorCallee, answered: -1, ended: 700}},
		{name: "canceled", msgs: cat(inv(0), both(c.req(3000, addrCaller, addrProxy, "CANCEL", true, 1), true),
			both(c.resp(3005, addrProxy, addrCaller, 487, "INVITE", 1), false)),
			want: wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionCanceled, code: 487, initiator: cdr.InitiatorCaller, answered: -1, ended: 3005}},
		{name: "487 without cancel", msgs: cat(inv(0), both(c.resp(3005, addrProxy, addrCaller, 487, "INVITE", 1), false)),
			want: wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionNoAnswer, code: 487, initiator: cdr.InitiatorCallee, answered: -1, ended: 3005}},
		{name: "480", msgs: cat(inv(0), both(c.resp(9000, addrProxy, addrCaller, 480, "INVITE", 1), false)),
			want: wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionNoAnswer, code: 480, initiator: cdr.InitiatorCallee, answered: -1, ended: 9000}},
		{name: "408", msgs: cat(inv(0), one(c.resp(32000, addrProxy, addrCaller, 408, "INVITE", 1))),
			want: wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionNoAnswer, code: 408, initiator: cdr.InitiatorCallee, answered: -1, ended: 32000}},
		{name: "legs disagree: caller saw 500, callee sent 503",
			msgs: cat(inv(0), one(withReason(c.resp(50, addrCallee, addrProxy, 503, "INVITE", 1), 41)), one(c.resp(51, addrProxy, addrCaller, 500, "INVITE", 1))),
			want: wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionFailed, code: 500, initiator: cdr.InitiatorCallee, answered: -1, ended: 51, cause: 41}},
		{name: "caller leg final lost: the other leg's code after linger",
			msgs:  cat(inv(0), one(c.resp(50, addrCallee, addrProxy, 503, "INVITE", 1))),
			flush: at(50).Add(Linger),
			want:  wantCall{types: []cdr.Type{started, ended}, disp: cdr.DispositionFailed, code: 503, initiator: cdr.InitiatorCallee, answered: -1, ended: 50}},
		{name: "retransmissions and re-invite do not move times",
			msgs: cat(inv(0), inv(500), both(c.resp(1000, addrProxy, addrCaller, 200, "INVITE", 1), false),
				one(c.resp(1500, addrProxy, addrCaller, 200, "INVITE", 1)),
				both(c.req(10000, addrCaller, addrProxy, "INVITE", true, 2), true),
				both(c.resp(10010, addrProxy, addrCaller, 200, "INVITE", 2), false),
				both(c.req(20000, addrCaller, addrProxy, "BYE", true, 3), true),
				both(c.req(20500, addrCaller, addrProxy, "BYE", true, 3), true)),
			want: wantCall{types: []cdr.Type{started, answered, ended}, disp: cdr.DispositionAnswered, code: 200, initiator: cdr.InitiatorCaller, answered: 1000, ended: 20000}},
		{name: "session expires lapse",
			msgs:  cat(inv(0), one(withSE(c.resp(1000, addrProxy, addrCaller, 200, "INVITE", 1), 90*time.Second))),
			flush: at(1000).Add(91 * time.Second),
			want:  wantCall{types: []cdr.Type{started, answered, ended}, disp: cdr.DispositionAnswered, code: 200, initiator: cdr.InitiatorSystem, answered: 1000, ended: 91000, incomplete: "session_expired"}},
		{name: "refresh postpones session expiry",
			msgs: cat(inv(0), one(withSE(c.resp(1000, addrProxy, addrCaller, 200, "INVITE", 1), 90*time.Second)),
				one(c.req(60000, addrCaller, addrProxy, "UPDATE", true, 2))),
			flush: at(1000).Add(91 * time.Second),
			want:  wantCall{types: []cdr.Type{started, answered}, answered: 1000},
		},
		{name: "max call duration",
			msgs:  cat(inv(0), one(c.resp(1000, addrProxy, addrCaller, 200, "INVITE", 1))),
			opts:  Options{MaxCallDuration: time.Hour},
			flush: at(0).Add(time.Hour),
			want:  wantCall{types: []cdr.Type{started, answered, ended}, disp: cdr.DispositionAnswered, code: 200, initiator: cdr.InitiatorSystem, answered: 1000, ended: 1000, incomplete: "max_call_duration"}},
		{name: "in-dialog messages of an unknown call are ignored",
			msgs: one(c.req(0, addrCaller, addrProxy, "BYE", true, 2), c.resp(1, addrProxy, addrCaller, 200, "INVITE", 1)),
			want: wantCall{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(tc.opts)
			var evs []cdr.Event
			for _, m := range tc.msgs {
				evs = append(evs, tr.Handle(m)...)
			}
			if !tc.flush.IsZero() {
				evs = append(evs, tr.Flush(tc.flush)...)
			}
			var types []cdr.Type
			for _, e := range evs {
				types = append(types, e.Type)
				if err := e.Validate(); err != nil {
					t.Fatalf("%s: %v", e.Type, err)
				}
			}
			if !slices.Equal(types, tc.want.types) {
				t.Fatalf("types = %v, want %v", types, tc.want.types)
			}
			if len(evs) == 0 || evs[len(evs)-1].Type != cdr.TypeCallEnded {
				return
			}
			got := evs[len(evs)-1].Record.(*cdr.Call)
			w := tc.want
			check := func(field string, g, w any) {
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("%s = %v, want %v", field, g, w)
				}
			}
			check("disposition", got.Disposition, w.disp)
			check("sip_code", got.Hangup.SIPCode, w.code)
			check("initiator", got.Hangup.Initiator, w.initiator)
			check("cause", got.Hangup.Cause, w.cause)
			check("ended_at", *got.EndedAt, at(w.ended))
			check("custom.incomplete_reason", got.Custom["incomplete_reason"], w.incomplete)
			if w.answered < 0 {
				if got.AnsweredAt != nil {
					t.Errorf("answered_at = %v, want null", got.AnsweredAt)
				}
			} else if got.AnsweredAt == nil || !got.AnsweredAt.Equal(at(w.answered)) {
				t.Errorf("answered_at = %v, want %v", got.AnsweredAt, at(w.answered))
			}
			check("started_at", got.StartedAt, at(0))
			check("caller", got.Caller, cdr.Party{Number: "100", Name: "Alice"})
			check("callee", got.Callee, cdr.Party{Number: "200", Name: "Bob"})
			check("duration", got.Duration, seconds(got.EndedAt.Sub(got.StartedAt)))
			if tr.Stats().OpenCalls != 0 {
				t.Errorf("%d dialogs still open", tr.Stats().OpenCalls)
			}
		})
	}
}

func TestTrackerPAIAndDirection(t *testing.T) {
	t.Parallel()
	opts := Options{LocalDomains: []string{"pbx.example"}, LocalNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name     string
		fromHost string
		src      netip.AddrPort
		toHost   string
		dst      netip.AddrPort
		want     cdr.Direction
	}{
		{"inbound", "carrier.example", addrCaller, "pbx.example", addrProxy, cdr.DirectionInbound},
		{"outbound", "pbx.example", addrProxy, "carrier.example", addrCaller, cdr.DirectionOutbound},
		{"internal by network", "a.example", netip.MustParseAddrPort("10.1.1.1:5060"), "b.example", addrCallee, cdr.DirectionInternal},
		{"unknown", "a.example", addrCaller, "b.example", netip.MustParseAddrPort("203.0.113.5:5060"), cdr.DirectionUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := callB{"d"}.invite(0, tc.src, tc.dst, 1)
			m.From.Host, m.To.Host, m.RequestURI.Host = tc.fromHost, tc.toHost, tc.toHost
			m.PAI = Address{Name: "Real Alice", User: "+15550100"}
			evs := NewTracker(opts).Handle(m)
			c := evs[0].Record.(*cdr.Call)
			if c.Direction != tc.want {
				t.Errorf("direction = %s, want %s", c.Direction, tc.want)
			}
			if c.Caller.Number != "+15550100" || c.Caller.Name != "Real Alice" {
				t.Errorf("caller = %+v, want the P-Asserted-Identity", c.Caller)
			}
		})
	}
	if d := NewTracker(Options{}).Handle(callB{"x"}.invite(0, addrCaller, addrProxy, 1))[0].Record.(*cdr.Call).Direction; d != cdr.DirectionUnknown {
		t.Errorf("without local config direction = %s, want unknown", d)
	}
}

// TestTrackerMaxDialogs fills the tracker past MaxDialogs: the oldest dialog
// ends as incomplete, the count stays bounded, and the eviction is counted.
func TestTrackerMaxDialogs(t *testing.T) {
	t.Parallel()
	const max = 100
	tr := NewTracker(Options{MaxDialogs: max})
	var ended []*cdr.Call
	for i := range max + 10 {
		for _, e := range tr.Handle(callB{fmt.Sprintf("c%d", i)}.invite(i, addrCaller, addrProxy, 1)) {
			if e.Type == cdr.TypeCallEnded {
				ended = append(ended, e.Record.(*cdr.Call))
			}
		}
		if n := tr.Stats().OpenCalls; n > max {
			t.Fatalf("%d dialogs open, bound is %d", n, max)
		}
	}
	if len(ended) != 10 || tr.Stats().Evicted != 10 {
		t.Fatalf("ended %d, evicted %d, want 10 and 10", len(ended), tr.Stats().Evicted)
	}
	for i, c := range ended {
		if c.CallID != fmt.Sprintf("c%d", i) || c.Custom["incomplete"] != "true" || c.Custom["incomplete_reason"] != "max_dialogs" || c.Hangup.Initiator != cdr.InitiatorSystem {
			t.Errorf("evicted %d: %s %v %s, want c%d incomplete max_dialogs system", i, c.CallID, c.Custom, c.Hangup.Initiator, i)
		}
	}
	// A late message of an evicted call starts nothing.
	if evs := tr.Handle(callB{"c0"}.invite(5, addrCaller, addrProxy, 1)); len(evs) != 0 {
		t.Errorf("late INVITE of an ended call gave %d events", len(evs))
	}
	if evs := tr.Drain("shutdown"); len(evs) != max || tr.Stats().OpenCalls != 0 {
		t.Errorf("drain ended %d, %d open", len(evs), tr.Stats().OpenCalls)
	}
}
