package cdr_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/schemas"
)

var update = flag.Bool("update", false, "rewrite ../testdata/golden from the Go sample events")

// goldenDir holds the shared golden events, one indented JSON file per event.
const goldenDir = "../testdata/golden"

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func tp(s string) *time.Time {
	t := ts(s)
	return &t
}

func bp(b bool) *bool { return &b }

func dataValues(set map[int]string) []string {
	dv := make([]string, cdr.DataValueCount)
	for i, v := range set {
		dv[i] = v
	}
	return dv
}

var (
	ari   = cdr.SourceRef{Kind: "ari", Name: "pbx1"}
	teams = cdr.SourceRef{Kind: "teams", Name: "teams"}
)

func answeredCall() *cdr.Call {
	return &cdr.Call{
		Base: cdr.Base{
			ID: "ari:pbx1:1700000000.1", Kind: cdr.KindCall, Source: ari, CallID: "1700000000.1",
			Direction: cdr.DirectionInbound,
			Caller:    cdr.Party{Number: "+380441234567", Name: "Olena Petrenko"},
			StartedAt: ts("2024-03-01T09:15:00Z"), EndedAt: tp("2024-03-01T09:17:05Z"),
			Custom: map[string]string{"Manager": "Taras", "crm_ticket": "T-1001"},
		},
		Callee:     cdr.Party{Number: "201", Name: "Sales desk", UserID: "u-201"},
		AnsweredAt: tp("2024-03-01T09:15:07Z"), Duration: 125, Billsec: 118,
		Disposition: cdr.DispositionAnswered,
		Hangup:      cdr.Hangup{Cause: 16, CauseText: cdr.CauseText(16), Initiator: cdr.InitiatorCaller},
		AccountCode: "sales", UserField: "campaign=spring",
		Legs: []cdr.Leg{
			{Channel: "PJSIP/trunk-00000001", UniqueID: "1700000000.1", StartedAt: ts("2024-03-01T09:15:00Z"), AnsweredAt: tp("2024-03-01T09:15:07Z"), EndedAt: tp("2024-03-01T09:17:05Z")},
			{Channel: "PJSIP/201-00000002", UniqueID: "1700000000.2", StartedAt: ts("2024-03-01T09:15:01Z"), AnsweredAt: tp("2024-03-01T09:15:07Z"), EndedAt: tp("2024-03-01T09:17:05Z")},
		},
	}
}

// goldenEvent is one shared golden event and the file it lives in.
type goldenEvent struct {
	file  string
	event cdr.Event
}

// goldenEvents are the Go values behind testdata/golden: every event type and
// record kind, plus the null and empty cases the schemas must accept.
func goldenEvents() []goldenEvent {
	started := answeredCall()
	started.EndedAt, started.AnsweredAt, started.Duration, started.Billsec = nil, nil, 0, 0
	started.Disposition, started.Hangup = "", cdr.Hangup{}
	started.Custom = nil
	started.Legs = []cdr.Leg{{Channel: "PJSIP/trunk-00000001", UniqueID: "1700000000.1", StartedAt: ts("2024-03-01T09:15:00Z")}}

	answering := answeredCall()
	answering.EndedAt, answering.Duration, answering.Billsec = nil, 0, 0
	answering.Disposition, answering.Hangup = "", cdr.Hangup{}
	for i := range answering.Legs {
		answering.Legs[i].EndedAt = nil
	}

	unanswered := &cdr.Call{
		Base: cdr.Base{
			ID: "sip:a84b4c76e66710@pc33.example.com", Kind: cdr.KindCall, Source: cdr.SourceRef{Kind: "hep", Name: "sbc"},
			CallID: "a84b4c76e66710@pc33.example.com", Direction: cdr.DirectionOutbound,
			Caller:    cdr.Party{Number: "105"},
			StartedAt: ts("2024-03-01T10:00:00.25Z"), EndedAt: tp("2024-03-01T10:00:30.5Z"),
		},
		Callee:      cdr.Party{Number: "+442071234567"},
		Duration:    30,
		Disposition: cdr.DispositionCanceled,
		Hangup:      cdr.Hangup{Cause: 19, CauseText: cdr.CauseText(19), SIPCode: 487, Initiator: cdr.InitiatorCaller},
	}

	queue := func(id string, met *bool) *cdr.Queue {
		return &cdr.Queue{
			Base: cdr.Base{
				ID: "teams:queue:" + id, Kind: cdr.KindQueue, Source: teams, CallID: id, Direction: cdr.DirectionInbound,
				Caller:    cdr.Party{Number: "+380501112233", Name: "Iryna", UserID: "", UPN: ""},
				StartedAt: ts("2024-03-01T11:00:00Z"), EndedAt: tp("2024-03-01T11:04:10Z"),
				Custom: map[string]string{"Manager": "Oksana"},
			},
			ScenarioID: "scn-1", Queue: cdr.Named{ID: "q-1", Name: "Support"},
			Agent:      cdr.Agent{Name: "Andrii", ID: "ag-7", UserID: "8f0c2d6e-0000-4000-8000-000000000007", UPN: "andrii@example.com"},
			CallLength: 250, Wait: 35, Talk: 215, MetServiceLevel: met,
			LeaveReason: "Answered", From: "+380501112233", ParentID: "", OUPath: "/Kyiv/Support",
			Transfer:                cdr.Transfer{Type: "Agent", ToID: "ag-7", ToName: "Andrii"},
			ResourceAccountObjectID: "ra-0001",
		}
	}
	missed := queue("c-missed", bp(false))
	missed.Agent, missed.Talk, missed.Wait, missed.LeaveReason, missed.Transfer = cdr.Agent{}, 0, 250, "Abandoned", cdr.Transfer{}
	missed.CallbackRequestID = "cb-42"
	unknownSL := queue("c-unknown", nil)
	unknownSL.Custom = nil
	unknownSL.Direction = cdr.DirectionUnknown

	ivr := &cdr.IVR{
		Base: cdr.Base{
			ID: "teams:ivr:c-ivr", Kind: cdr.KindIVR, Source: teams, CallID: "c-ivr", Direction: cdr.DirectionInbound,
			Caller:    cdr.Party{Number: "+380671234567", Name: "Petro"},
			StartedAt: ts("2024-03-01T12:00:00Z"), EndedAt: tp("2024-03-01T12:01:30Z"),
			Custom: map[string]string{},
		},
		ScenarioID: "scn-2", IVR: cdr.Named{ID: "ivr-1", Name: "Main menu"}, CallLength: 90,
		From: "+380671234567", ParentID: "p-1", OUPath: "/Kyiv",
		Transfer: cdr.Transfer{Type: "Queue", ToID: "q-1", ToName: "Support"},
		Inputs: []cdr.IVRInput{
			{ID: "in-1", At: tp("2024-03-01T12:00:10.123Z"), Block: "Language", BlockType: "Menu", Parameter: "lang", Value: "2"},
			{ID: "in-2", At: nil, Block: "Account", BlockType: "Input", Parameter: "account", Value: "123456"},
		},
		DataValues:              dataValues(map[int]string{0: "uk", 6: "vip", 19: "last"}),
		ResourceAccountObjectID: "ra-0002",
	}
	ivrEmpty := &cdr.IVR{
		Base: cdr.Base{
			ID: "teams:ivr:c-ivr-empty", Kind: cdr.KindIVR, Source: teams, CallID: "c-ivr-empty", Direction: cdr.DirectionUnknown,
			StartedAt: ts("2024-03-01T12:05:00Z"),
		},
		DataValues: dataValues(nil),
	}

	testRec := queue("test", nil)
	testRec.ID = "teams:queue:test"

	connected := &cdr.SourceStatus{ID: "pbx1:connected:2024-03-01T08:00:00Z", Kind: cdr.KindSource, Source: ari, Status: "connected", At: ts("2024-03-01T08:00:00Z")}
	disconnected := &cdr.SourceStatus{ID: "pbx1:disconnected:2024-03-01T08:30:00Z", Kind: cdr.KindSource, Source: ari, Status: "disconnected", At: ts("2024-03-01T08:30:00Z"), Error: "websocket: close 1006 (abnormal closure): unexpected EOF"}
	failing := &cdr.WebhookStatus{ID: "crm:failing:2024-03-01T13:00:00Z", Kind: cdr.KindWebhook, Webhook: "crm", At: ts("2024-03-01T13:00:00Z"), ConsecutiveFailures: 5, LastStatus: 503, LastError: "503 Service Unavailable", Paused: true}
	failingNet := &cdr.WebhookStatus{ID: "erp:failing:2024-03-01T13:05:00Z", Kind: cdr.KindWebhook, Webhook: "erp", At: ts("2024-03-01T13:05:00Z"), ConsecutiveFailures: 3, LastError: "dial tcp 203.0.113.9:443: i/o timeout"}

	ev := func(file string, t cdr.Type, at string, src cdr.SourceRef, r cdr.Record) goldenEvent {
		return goldenEvent{file: file, event: cdr.NewEvent(t, ts(at), src, r)}
	}
	return []goldenEvent{
		ev("call.started.json", cdr.TypeCallStarted, "2024-03-01T09:15:00Z", ari, started),
		ev("call.answered.json", cdr.TypeCallAnswered, "2024-03-01T09:15:07Z", ari, answering),
		ev("call.ended-answered.json", cdr.TypeCallEnded, "2024-03-01T09:17:05Z", ari, answeredCall()),
		ev("call.ended-unanswered.json", cdr.TypeCallEnded, "2024-03-01T10:00:30.5Z", unanswered.Source, unanswered),
		ev("queue.ended-met.json", cdr.TypeQueueEnded, "2024-03-01T11:04:10Z", teams, queue("c-met", bp(true))),
		ev("queue.ended-missed.json", cdr.TypeQueueEnded, "2024-03-01T11:04:10Z", teams, missed),
		ev("queue.ended-sl-null.json", cdr.TypeQueueEnded, "2024-03-01T11:04:10Z", teams, unknownSL),
		ev("ivr.ended.json", cdr.TypeIVREnded, "2024-03-01T12:01:30Z", teams, ivr),
		ev("ivr.ended-empty.json", cdr.TypeIVREnded, "2024-03-01T12:05:00Z", teams, ivrEmpty),
		ev("source.connected.json", cdr.TypeSourceConnected, "2024-03-01T08:00:00Z", ari, connected),
		ev("source.disconnected.json", cdr.TypeSourceDisconnected, "2024-03-01T08:30:00Z", ari, disconnected),
		ev("webhook.failing.json", cdr.TypeWebhookFailing, "2024-03-01T13:00:00Z", cdr.SourceRef{Kind: "cdrgw", Name: "cdrgw"}, failing),
		ev("webhook.failing-network.json", cdr.TypeWebhookFailing, "2024-03-01T13:05:00Z", cdr.SourceRef{Kind: "cdrgw", Name: "cdrgw"}, failingNet),
		ev("test.json", cdr.TypeTest, "2024-03-01T14:00:00Z", teams, testRec),
	}
}

func encodeGolden(t testing.TB, e cdr.Event) []byte {
	t.Helper()
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatalf("marshal %s: %v", e.Type, err)
	}
	return append(b, '\n')
}

// TestGolden checks every golden event: it is valid, its file holds exactly
// what the Go encoder emits, it decodes back to the Go value, and it passes
// the event schema. With -update it rewrites the files first.
func TestGolden(t *testing.T) {
	events := goldenEvents()
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, g := range events {
			if err := os.WriteFile(filepath.Join(goldenDir, g.file), encodeGolden(t, g.event), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range events {
		t.Run(g.file, func(t *testing.T) {
			if err := g.event.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want := encodeGolden(t, g.event)
			got, err := os.ReadFile(filepath.Join(goldenDir, g.file))
			if err != nil {
				t.Fatalf("%v (run go test ./cdr -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from the Go encoder (run with -update):\n got: %s\nwant: %s", g.file, got, want)
			}
			var back cdr.Event
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(back, g.event) {
				t.Fatalf("decoded event differs:\n got: %#v\nwant: %#v", back, g.event)
			}
			if err := schemas.ValidateEventJSON(got); err != nil {
				t.Fatalf("schema: %v", err)
			}
		})
	}
}

// TestGoldenCoverage checks that the golden set covers every event type and
// has no stale files the generator no longer writes.
func TestGoldenCoverage(t *testing.T) {
	events := goldenEvents()
	var files []string
	types := map[cdr.Type]bool{}
	for _, g := range events {
		files = append(files, g.file)
		types[g.event.Type] = true
	}
	for _, typ := range cdr.Types {
		if !types[typ] {
			t.Errorf("no golden event of type %s", typ)
		}
	}
	onDisk, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if !slices.Contains(files, filepath.Base(p)) {
			t.Errorf("stale golden file %s: not generated by goldenEvents", p)
		}
	}
}
