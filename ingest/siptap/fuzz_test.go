package siptap

import (
	"fmt"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// fuzzMessage turns two bytes into one message of one of three calls: any
// method or response, on either leg, from either side, with small time steps
// (forwards and backwards).
func fuzzMessage(op, arg byte, now time.Time) Message {
	c := callB{fmt.Sprintf("f%d", arg%3)}
	src, dst := addrCaller, addrProxy
	if arg&4 != 0 {
		src, dst = proxySide(src), proxySide(dst)
	}
	if arg&8 != 0 {
		src, dst = dst, src
	}
	codes := []int{100, 180, 183, 200, 202, 408, 480, 486, 487, 500, 503, 600, 603}
	var m Message
	switch op % 10 {
	case 0:
		m = c.invite(0, src, dst, 1+int(arg>>4&1))
	case 1:
		m = c.resp(0, src, dst, codes[int(arg>>4)%len(codes)], "INVITE", 1)
	case 2:
		m = c.req(0, src, dst, "CANCEL", true, 1)
	case 3:
		m = c.req(0, src, dst, "ACK", true, 1)
	case 4:
		m = c.req(0, src, dst, "BYE", arg&16 == 0, 2)
	case 5:
		m = c.resp(0, src, dst, 200, "BYE", 2)
	case 6:
		m = c.req(0, src, dst, "INVITE", arg&16 == 0, 3) // re-INVITE
	case 7:
		m = c.resp(0, src, dst, 200, "INVITE", 3)
		m.SessionExpires = time.Duration(arg>>4) * time.Second
	case 8:
		m = c.req(0, src, dst, "UPDATE", true, 4)
		m.SessionExpires = time.Duration(arg>>4) * time.Second
	default:
		m = c.req(0, src, dst, "OPTIONS", true, 5)
		m.ToTag = ""
	}
	m.Q850Cause = int(op>>4) * 8
	m.Time = now
	return m
}

// FuzzTracker feeds any order of SIP messages to the tracker: it must not
// panic, hold more than MaxDialogs, emit invalid records, end a call twice,
// or leave a dialog open after a Flush far in the future.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 0, 0, 4, 1, 16 * 3, 1, 16*3 + 4, 3, 0, 4, 0, 5, 4})
	f.Add([]byte{0, 1, 1, 16 * 9, 2, 1, 1, 16*8 + 1})
	f.Add([]byte{0, 2, 7, 16*5 + 2, 1, 16*3 + 2, 8, 2, 4, 2 + 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxDialogs = 2
		tr := NewTracker(Options{MaxDialogs: maxDialogs, MaxCallDuration: time.Minute})
		now := base
		open := map[string]bool{}
		check := func(evs []cdr.Event) {
			for _, e := range evs {
				if err := e.Validate(); err != nil {
					t.Fatalf("%s: %v", e.Type, err)
				}
				id := e.Record.(*cdr.Call).CallID
				switch e.Type {
				case cdr.TypeCallStarted:
					if open[id] {
						t.Fatalf("%s started twice", id)
					}
					open[id] = true
				case cdr.TypeCallAnswered, cdr.TypeCallEnded:
					if !open[id] {
						t.Fatalf("%s %s without call.started", id, e.Type)
					}
					if e.Type == cdr.TypeCallEnded {
						delete(open, id)
					}
				}
			}
			if n := tr.Stats().OpenCalls; n > maxDialogs || n != len(open) {
				t.Fatalf("%d dialogs open (%d started, not ended), bound %d", n, len(open), maxDialogs)
			}
		}
		for i := 0; i+1 < len(b); i += 2 {
			now = now.Add(time.Duration(int(b[i+1]>>5)-2) * 700 * time.Millisecond)
			check(tr.Handle(fuzzMessage(b[i], b[i+1], now)))
			if b[i]%16 == 15 {
				check(tr.Flush(now))
			}
		}
		far := now.Add(25 * time.Hour)
		check(tr.Flush(far))
		check(tr.Flush(far))
		if len(open) != 0 {
			t.Fatalf("%d dialogs still open after Flush: %v", len(open), open)
		}
	})
}
