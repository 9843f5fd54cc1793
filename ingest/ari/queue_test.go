package ari

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

// queueLogVisit is what queue_log says about one queue visit.
type queueLogVisit struct {
	queue, agent, leave string
	wait, talk          int
}

// readQueueLog reads app_queue's queue_log: ENTERQUEUE, then CONNECT
// (holdtime) and COMPLETEAGENT/COMPLETECALLER (holdtime|calltime), or
// ABANDON (position|origposition|waittime) or EXITWITHTIMEOUT. It is keyed
// by callid, the uniqueid of the channel that ran Queue().
func readQueueLog(t *testing.T) map[string]*queueLogVisit {
	t.Helper()
	data, err := os.ReadFile("testdata/queue_log")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*queueLogVisit{}
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("queue_log: number %q", s)
		}
		return n
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, "|")
		for len(f) < 8 {
			f = append(f, "")
		}
		callid, queue, agent, event := f[1], f[2], f[3], f[4]
		v := out[callid]
		switch event {
		case "ENTERQUEUE":
			out[callid] = &queueLogVisit{queue: queue}
		case "CONNECT":
			v.agent, v.wait, v.leave = agent, atoi(f[5]), "answered"
		case "COMPLETEAGENT", "COMPLETECALLER":
			v.talk = atoi(f[6])
		case "ABANDON":
			v.wait, v.leave = atoi(f[7]), "abandoned"
		case "EXITWITHTIMEOUT":
			v.wait, v.leave = atoi(f[7]), "timeout"
		}
	}
	return out
}

func TestFidelityQueueLog(t *testing.T) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := readQueueLog(t)
	if len(want) != 4 {
		t.Fatalf("queue_log has %d visits, want 4 (S4c, S5, S6, S8)", len(want))
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{{"linkedid", data}, {"no-channelvars", stripChannelVars(t, data)}} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]*cdr.Queue{}
			for _, e := range replay(t, tc.data, testOptions(t)) {
				q, ok := e.Record.(*cdr.Queue)
				if !ok {
					continue
				}
				uid := q.ID[strings.LastIndex(q.ID, ":")+1:]
				if got[uid] != nil {
					t.Errorf("queue visit %s reported twice", uid)
				}
				got[uid] = q
			}
			if len(got) != len(want) {
				t.Errorf("got %d queue records, want %d", len(got), len(want))
			}
			for callid, w := range want {
				q := got[callid]
				if q == nil {
					t.Errorf("queue_log callid %s: no queue.ended", callid)
					continue
				}
				agent := w.agent // ABANDON rows name no agent (NONE): ""
				g := [5]any{q.Queue.Name, q.Agent.Name, q.Wait, q.Talk, q.LeaveReason}
				e := [5]any{w.queue, agent, w.wait, w.talk, w.leave}
				if g != e {
					t.Errorf("callid %s: got queue,agent,wait,talk,leave = %v, want %v", callid, g, e)
				}
			}
		})
	}
}

func TestFidelityIVR(t *testing.T) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	rows := readCDR(t)
	// The IVR runs on the channel whose CDR row carries ivr_choice (set by
	// Set(CDR(ivr_choice)=...) after Read()). S4b timed out: no digit.
	wantChoice := map[string]string{}
	for _, r := range rows {
		if r.ivrChoice != "" {
			wantChoice[r.uniqueID] = r.ivrChoice
		}
	}
	if len(wantChoice) != 3 {
		t.Fatalf("cdr_full.csv has %d ivr_choice rows, want 3 (S4a, S4c, S8)", len(wantChoice))
	}
	o := testOptions(t)
	got := map[string]*cdr.IVR{}
	for _, e := range replay(t, data, o) {
		if r, ok := e.Record.(*cdr.IVR); ok {
			got[r.ID[strings.LastIndex(r.ID, ":")+1:]] = r
		}
	}
	// Read() ran on S4a, S4b, S4c and S8.
	if len(got) != 4 {
		t.Errorf("got %d IVR records, want 4", len(got))
	}
	for uid, choice := range wantChoice {
		r := got[uid]
		if r == nil {
			t.Errorf("channel %s: no ivr.ended", uid)
			continue
		}
		var digits string
		for _, in := range r.Inputs {
			if in.BlockType == "dtmf" {
				digits += in.Value
				if in.Block != "Read" || in.At == nil {
					t.Errorf("channel %s: dtmf input %+v", uid, in)
				}
			}
		}
		if digits != choice || r.DataValues[0] != choice || r.DataValues[1] != "OK" {
			t.Errorf("channel %s: digits %q, data_values %q; want %q and READSTATUS OK", uid, digits, r.DataValues[:2], choice)
		}
	}
	if r := got["1795415485.21"]; r == nil || r.DataValues[1] != "TIMEOUT" || r.CallLength != 8 {
		t.Errorf("S4b: want READSTATUS=TIMEOUT after the 8 s Read, got %+v", r)
	}
}

func TestIVRContexts(t *testing.T) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(t)
	o.IVRApps = []string{} // contexts only
	o.IVRContexts = []string{"ag*"}
	var n int
	for _, e := range replay(t, data, o) {
		if r, ok := e.Record.(*cdr.IVR); ok {
			n++
			if r.IVR.Name != "agents" {
				t.Errorf("ivr %s: name %q, want agents", r.ID, r.IVR.Name)
			}
		}
	}
	// The agent leg ;2 runs [agents] in S4c, S5, S6 and S8.
	if n != 4 {
		t.Errorf("got %d IVR records for context ag*, want 4", n)
	}
}
