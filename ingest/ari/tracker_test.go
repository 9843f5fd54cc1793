package ari

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" means an error
	}{
		{"2026-11-23T06:30:25.465+0000", "2026-11-23T06:30:25.465Z"},
		{"2026-11-23T08:30:25.465+0200", "2026-11-23T06:30:25.465Z"},
		{"2026-11-23T01:30:25.465-0500", "2026-11-23T06:30:25.465Z"},
		{"2026-11-23T06:30:25.465+00:00", "2026-11-23T06:30:25.465Z"},
		{"2026-11-23T06:30:25Z", "2026-11-23T06:30:25Z"},
		{"2026-11-23T06:30:25.123456789Z", "2026-11-23T06:30:25.123456789Z"},
		{"2026-11-23T06:30:25.465", ""},
		{"2026-11-23 06:30:25", ""},
		{"2026-02-31T06:30:25.465+0000", ""},
		{"2026-11-23T24:30:25.465+0000", ""},
		{"2026-11-23T06:30:25.+0000", ""},
		{"2026-11-23T06:30:25.465+000", ""},
		{"", ""},
	} {
		got, err := ParseTime(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseTime(%q) = %v, want an error", tc.in, got)
		case tc.want != "" && err != nil:
			t.Errorf("ParseTime(%q): %v", tc.in, err)
		case tc.want != "" && got.Format(time.RFC3339Nano) != tc.want:
			t.Errorf("ParseTime(%q) = %s, want %s", tc.in, got.Format(time.RFC3339Nano), tc.want)
		}
	}
}

// summary is what the fidelity tests compare for each record.
func summary(events []cdr.Event) map[string]string {
	out := map[string]string{}
	for _, e := range events {
		switch r := e.Record.(type) {
		case *cdr.Call:
			if e.Type == cdr.TypeCallEnded {
				out[r.ID] = fmt.Sprint(r.Disposition, r.Duration, r.Billsec, r.Caller.Number, r.Callee.Number, r.Hangup.Cause, len(r.Legs))
			}
		case *cdr.Queue:
			out[r.ID] = fmt.Sprint(r.Queue.Name, r.Agent.Name, r.Wait, r.Talk, r.LeaveReason)
		case *cdr.IVR:
			out[r.ID] = fmt.Sprint(r.DataValues[:2])
		}
	}
	return out
}

func lines(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

func join(ls [][]byte) []byte { return append(bytes.Join(ls, []byte("\n")), '\n') }

var stamps = map[string]time.Time{}

func stamp(t *testing.T, line []byte) time.Time {
	if at, ok := stamps[string(line)]; ok {
		return at
	}
	ev, err := DecodeEvent(line)
	if err != nil {
		t.Fatal(err)
	}
	stamps[string(line)] = ev.At
	return ev.At
}

// TestOrderingQuirks replays the recording with the arrival-order quirks a
// live socket shows and checks every record keeps its numbers.
func TestOrderingQuirks(t *testing.T) {
	ls := lines(t)
	o := testOptions(t)
	want := summary(replay(t, join(ls), o))
	for _, tc := range []struct {
		name   string
		mangle func([][]byte) [][]byte
	}{
		{"every event twice", func(ls [][]byte) [][]byte {
			var out [][]byte
			for _, l := range ls {
				out = append(out, l, l)
			}
			return out
		}},
		{"duplicates replayed 5 events later", func(ls [][]byte) [][]byte {
			var out [][]byte
			for i, l := range ls {
				out = append(out, l)
				if i >= 5 {
					out = append(out, ls[i-5])
				}
			}
			return out
		}},
		{"neighbours within 3 ms swapped", func(ls [][]byte) [][]byte {
			out := append([][]byte(nil), ls...)
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i+1 < len(out); i++ {
				if r.IntN(3) == 0 && stamp(t, out[i+1]).Sub(stamp(t, out[i])).Abs() <= 3*time.Millisecond {
					out[i], out[i+1] = out[i+1], out[i]
					i++
				}
			}
			return out
		}},
		{"neighbours within 3 ms swapped, other seed", func(ls [][]byte) [][]byte {
			out := append([][]byte(nil), ls...)
			r := rand.New(rand.NewPCG(7, 11))
			for i := 0; i+1 < len(out); i++ {
				if r.IntN(2) == 0 && stamp(t, out[i+1]).Sub(stamp(t, out[i])).Abs() <= 3*time.Millisecond {
					out[i], out[i+1] = out[i+1], out[i]
					i++
				}
			}
			return out
		}},
		{"stable sort by timestamp", func(ls [][]byte) [][]byte {
			out := append([][]byte(nil), ls...)
			// insertion sort: stable, and the input is almost sorted
			for i := 1; i < len(out); i++ {
				for j := i; j > 0 && stamp(t, out[j]).Before(stamp(t, out[j-1])); j-- {
					out[j], out[j-1] = out[j-1], out[j]
				}
			}
			return out
		}},
		{"DeviceStateChanged dropped", func(ls [][]byte) [][]byte {
			var out [][]byte
			for _, l := range ls {
				if !bytes.Contains(l, []byte(`"DeviceStateChanged"`)) {
					out = append(out, l)
				}
			}
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(replay(t, join(tc.mangle(ls)), o))
			for id, w := range want {
				if got[id] != w {
					t.Errorf("%s: got %q, want %q", id, got[id], w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("got %d records, want %d", len(got), len(want))
			}
		})
	}
}

// ev builds one ARI event line.
func ev(typ, ts, id, name string, extra string) []byte {
	ch := fmt.Sprintf(`{"id":%q,"name":%q,"state":"Up","caller":{"name":"A","number":"100"},"dialplan":{"context":"in","exten":"200","priority":1},"creationtime":"2026-01-01T00:00:00.000+0000","channelvars":{"CHANNEL(linkedid)":"L1"}}`, id, name)
	if strings.Contains(extra, `"state"`) {
		ch = strings.Replace(ch, `"state":"Up",`, "", 1)
		ch = strings.Replace(ch, "{", "{"+extra+",", 1)
		extra = ""
	}
	s := fmt.Sprintf(`{"type":%q,"timestamp":"2026-01-01T00:%s+0000","channel":%s`, typ, ts, ch)
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

func TestTrackerCases(t *testing.T) {
	const a, b = "Local/200@in-1;1", "SIP/trunk-1"
	created := func(id, name, ts string) []byte { return ev("ChannelCreated", ts, id, name, `"state":"Ring"`) }
	dp := func(id, name, ts, app string) []byte {
		return ev("ChannelDialplan", ts, id, name, fmt.Sprintf(`"dialplan_app":%q,"dialplan_app_data":""`, app))
	}
	up := func(id, name, ts string) []byte { return ev("ChannelStateChange", ts, id, name, `"state":"Up"`) }
	destroyed := func(id, name, ts string, cause int) []byte {
		return ev("ChannelDestroyed", ts, id, name, fmt.Sprintf(`"cause":%d,"cause_txt":"x"`, cause))
	}
	hreq := func(id, name, ts string, cause int, soft bool) []byte {
		return ev("ChannelHangupRequest", ts, id, name, fmt.Sprintf(`"cause":%d,"soft":%v`, cause, soft))
	}
	for _, tc := range []struct {
		name  string
		in    [][]byte
		flush time.Duration // Flush at creation + flush, when > 0
		want  []string      // "type disposition duration billsec cause initiator incomplete"
	}{
		{"answered, caller hangs up", [][]byte{
			created("1.1", b, "00:00.000"), dp("1.1", b, "00:00.001", "Answer"), up("1.1", b, "00:01.500"),
			hreq("1.1", b, "00:09.400", 16, false), destroyed("1.1", b, "00:09.499", 16),
		}, 0, []string{"call.started", "call.answered", "call.ended answered 9 7 16 caller "}},
		{"Up arrives late with an earlier timestamp", [][]byte{
			created("1.1", b, "00:00.000"), dp("1.1", b, "00:00.001", "Answer"),
			dp("1.1", b, "00:01.502", "Wait"), up("1.1", b, "00:01.500"), destroyed("1.1", b, "00:05.400", 16),
		}, 0, []string{"call.started", "call.answered", "call.ended answered 5 3 16 unknown "}},
		{"cause 0 falls back to the non-soft HangupRequest", [][]byte{
			created("1.1", b, "00:00.000"), dp("1.1", b, "00:00.001", "Answer"), up("1.1", b, "00:00.002"),
			hreq("1.1", b, "00:03.000", 16, true), hreq("1.1", b, "00:03.000", 31, false), destroyed("1.1", b, "00:03.001", 0),
		}, 0, []string{"call.started", "call.answered", "call.ended answered 3 2 31 system "}},
		{"unanswered busy by cause", [][]byte{
			created("1.1", b, "00:00.000"), dp("1.1", b, "00:00.001", "Busy"), destroyed("1.1", b, "00:02.000", 17),
		}, 0, []string{"call.started", "call.ended busy 2 0 17 unknown "}},
		{"missing ChannelCreated: first event creates the call", [][]byte{
			dp("1.1", b, "00:00.001", "Answer"), destroyed("1.1", b, "00:01.000", 16),
		}, 0, []string{"call.started", "call.ended no_answer 1 0 16 unknown "}},
		{"late events after the end are ignored", [][]byte{
			created("1.1", b, "00:00.000"), dp("1.1", b, "00:00.001", "Hangup"), destroyed("1.1", b, "00:01.000", 16),
			up("1.1", b, "00:00.999"), destroyed("1.1", b, "00:01.000", 16), dp("1.1", b, "00:00.999", "Wait"),
		}, 0, []string{"call.started", "call.ended no_answer 1 0 16 unknown "}},
		{"global ChannelVarset without channel", [][]byte{
			[]byte(`{"type":"ChannelVarset","timestamp":"2026-01-01T00:00:00.000+0000","variable":"AGENT_RING","value":"30"}`),
		}, 0, nil},
		{"missing ChannelDestroyed ends by max_call_duration", [][]byte{
			created("1.1", b, "00:00.000"), dp("1.1", b, "00:00.001", "Answer"), up("1.1", b, "00:00.500"),
		}, 2 * time.Hour, []string{"call.started", "call.answered", "call.ended answered 7200 7199 0 unknown true"}},
		{"max_call_duration not reached", [][]byte{
			created("1.1", b, "00:00.000"), dp("1.1", b, "00:00.001", "Answer"),
		}, 30 * time.Minute, []string{"call.started"}},
		{"Local pair: outgoing ;1 is not the party A", [][]byte{
			created("1.1", a, "00:00.000"), created("1.2", strings.Replace(a, ";1", ";2", 1), "00:00.001"),
			dp("1.1", a, "00:00.001", "AppDial2"), dp("1.2", strings.Replace(a, ";1", ";2", 1), "00:00.002", "Answer"),
			destroyed("1.1", a, "00:04.000", 16), destroyed("1.2", strings.Replace(a, ";1", ";2", 1), "00:04.003", 16),
		}, 0, []string{"call.started", "call.ended no_answer 4 0 16 unknown "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(Options{System: "pbx", MaxCallDuration: time.Hour})
			var got []string
			collect := func(evs []cdr.Event) {
				for _, e := range evs {
					if err := e.Validate(); err != nil {
						t.Errorf("invalid %s: %v", e.Type, err)
					}
					s := string(e.Type)
					if c, ok := e.Record.(*cdr.Call); ok && e.Type == cdr.TypeCallEnded {
						s += fmt.Sprintf(" %s %d %d %d %s %s", c.Disposition, c.Duration, c.Billsec, c.Hangup.Cause, c.Hangup.Initiator, c.Custom["incomplete"])
						if c.ID != "ari:pbx:L1" {
							t.Errorf("record id %q, want ari:pbx:L1", c.ID)
						}
					}
					got = append(got, s)
				}
			}
			for _, l := range tc.in {
				evs, err := tr.HandleJSON(l)
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				collect(evs)
			}
			if tc.flush > 0 {
				collect(tr.Flush(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(tc.flush)))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestReconcile(t *testing.T) {
	tr := NewTracker(Options{System: "pbx"})
	for _, l := range []string{
		`{"type":"ChannelCreated","timestamp":"2026-01-01T00:00:00.000+0000","channel":{"id":"1.1","name":"SIP/a-1","state":"Up","creationtime":"2026-01-01T00:00:00.000+0000"}}`,
		`{"type":"ChannelCreated","timestamp":"2026-01-01T00:00:01.000+0000","channel":{"id":"2.1","name":"SIP/b-1","state":"Up","creationtime":"2026-01-01T00:00:01.000+0000"}}`,
	} {
		if _, err := tr.HandleJSON([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	noticed := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	evs := tr.Reconcile(noticed, []string{"2.1"})
	var ended []*cdr.Call
	for _, e := range evs {
		if e.Type == cdr.TypeCallEnded {
			ended = append(ended, e.Record.(*cdr.Call))
		}
	}
	if len(ended) != 1 || ended[0].CallID != "1.1" || !ended[0].EndedAt.Equal(noticed) ||
		ended[0].Custom["incomplete"] != "true" || !strings.Contains(ended[0].Hangup.CauseText, "ARI connection") {
		b, _ := json.Marshal(evs)
		t.Fatalf("reconcile: %s", b)
	}
	if tr.Live() != 1 {
		t.Errorf("live calls %d, want 1 (2.1 is still up)", tr.Live())
	}
}
