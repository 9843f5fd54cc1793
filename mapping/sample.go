package mapping

import (
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// sampleStart is the fixed start time of every sample record.
var sampleStart = time.Date(2025, time.March, 14, 9, 26, 53, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := sampleStart.Add(d)
	return &t
}

// SampleEvent returns a realistic, valid sample event of type t, the same on
// every call (fixed ids and times). It is used for test sends, previews and
// the CLI. For an unknown type it returns an event without a record.
func SampleEvent(t cdr.Type) cdr.Event {
	var rec cdr.Record
	var src cdr.SourceRef
	when := sampleStart
	switch t.Kind() {
	case cdr.KindCall:
		src = cdr.SourceRef{Kind: "ari", Name: "pbx1"}
		rec, when = sampleCall(t, src)
	case cdr.KindQueue:
		src = cdr.SourceRef{Kind: "teams", Name: "teams"}
		rec, when = sampleQueue(src), *at(125 * time.Second)
	case cdr.KindIVR:
		src = cdr.SourceRef{Kind: "teams", Name: "teams"}
		rec, when = sampleIVR(src), *at(48 * time.Second)
	case cdr.KindSource:
		src = cdr.SourceRef{Kind: "ari", Name: "pbx1"}
		s := &cdr.SourceStatus{ID: "source:pbx1", Kind: cdr.KindSource, Source: src, Status: "connected", At: sampleStart}
		if t == cdr.TypeSourceDisconnected {
			s.Status, s.Error = "disconnected", "websocket: close 1006 (abnormal closure): unexpected EOF"
		}
		rec = s
	case cdr.KindWebhook:
		src = cdr.SourceRef{Kind: "cdrgw", Name: "cdrgw"}
		rec = &cdr.WebhookStatus{ID: "webhook:crm", Kind: cdr.KindWebhook, Webhook: "crm", At: sampleStart,
			ConsecutiveFailures: 5, LastStatus: 503, LastError: "503 Service Unavailable"}
	default:
		return cdr.Event{ID: cdr.EventID(t, "sample"), Type: t, Time: sampleStart, Source: cdr.SourceRef{Kind: "cdrgw", Name: "sample"}}
	}
	return cdr.NewEvent(t, when, src, rec)
}

func sampleCall(t cdr.Type, src cdr.SourceRef) (*cdr.Call, time.Time) {
	c := &cdr.Call{
		Base: cdr.Base{
			ID: "ari:pbx1:1710408413.42", Kind: cdr.KindCall, Source: src, CallID: "1710408413.42",
			Direction: cdr.DirectionInbound,
			Caller:    cdr.Party{Number: "+380441234567", Name: "Olena Kovalenko"},
			StartedAt: sampleStart,
			Custom:    map[string]string{"Manager": "Taras", "campaign": "spring-2025"},
		},
		Callee: cdr.Party{Number: "201", Name: "Sales Desk"},
		Legs:   []cdr.Leg{{Channel: "PJSIP/trunk-00000021", UniqueID: "1710408413.42", StartedAt: sampleStart}},
	}
	switch t {
	case cdr.TypeCallStarted:
		return c, sampleStart
	case cdr.TypeCallAnswered:
		c.AnsweredAt = at(7 * time.Second)
		c.Legs[0].AnsweredAt = c.AnsweredAt
		c.Legs = append(c.Legs, cdr.Leg{Channel: "PJSIP/201-00000022", UniqueID: "1710408414.43", StartedAt: sampleStart.Add(time.Second), AnsweredAt: c.AnsweredAt})
		return c, *c.AnsweredAt
	}
	c.AnsweredAt = at(7 * time.Second)
	c.EndedAt = at(192 * time.Second)
	c.Duration, c.Billsec = 192, 185
	c.Disposition = cdr.DispositionAnswered
	c.Hangup = cdr.Hangup{Cause: 16, CauseText: cdr.CauseText(16), SIPCode: 200, Initiator: cdr.InitiatorCaller}
	c.AccountCode = "sales"
	c.UserField = "lead=8812"
	c.Legs[0].AnsweredAt, c.Legs[0].EndedAt = c.AnsweredAt, c.EndedAt
	c.Legs = append(c.Legs, cdr.Leg{Channel: "PJSIP/201-00000022", UniqueID: "1710408414.43", StartedAt: sampleStart.Add(time.Second), AnsweredAt: c.AnsweredAt, EndedAt: c.EndedAt})
	return c, *c.EndedAt
}

func sampleQueue(src cdr.SourceRef) *cdr.Queue {
	met := true
	return &cdr.Queue{
		Base: cdr.Base{
			ID: "teams:queue:3f2a9c1e-8d4b-4a67-9e0f-5b1c2d3e4f50", Kind: cdr.KindQueue, Source: src,
			CallID: "3f2a9c1e-8d4b-4a67-9e0f-5b1c2d3e4f50", Direction: cdr.DirectionInbound,
			Caller:    cdr.Party{Number: "+380441234567", Name: "Olena Kovalenko", UserID: "", UPN: ""},
			StartedAt: sampleStart,
			EndedAt:   at(125 * time.Second),
			Custom:    map[string]string{"Manager": "Taras", "Priority": "high"},
		},
		ScenarioID:              "b7e4d2c1-0a9f-4e3b-8c6d-2f1a0b9c8d7e",
		Queue:                   cdr.Named{ID: "q-sales-01", Name: "Sales"},
		Agent:                   cdr.Agent{Name: "Iryna Shevchenko", ID: "agent-117", UserID: "6d1f0c2b-7a8e-4f3d-9b5c-1e2a3b4c5d6e", UPN: "iryna@example.com"},
		CallLength:              125,
		Wait:                    42,
		Talk:                    83,
		MetServiceLevel:         &met,
		LeaveReason:             "answered",
		From:                    "+380441234567",
		OUPath:                  "/Contoso/Sales",
		Transfer:                cdr.Transfer{},
		ResourceAccountObjectID: "ra-4c5d6e7f",
	}
}

func sampleIVR(src cdr.SourceRef) *cdr.IVR {
	values := make([]string, cdr.DataValueCount)
	values[0], values[6] = "UA", "priority"
	return &cdr.IVR{
		Base: cdr.Base{
			ID: "teams:ivr:9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", Kind: cdr.KindIVR, Source: src,
			CallID: "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", Direction: cdr.DirectionInbound,
			Caller:    cdr.Party{Number: "+380441234567", Name: "Olena Kovalenko"},
			StartedAt: sampleStart,
			EndedAt:   at(48 * time.Second),
			Custom:    map[string]string{},
		},
		ScenarioID: "b7e4d2c1-0a9f-4e3b-8c6d-2f1a0b9c8d7e",
		IVR:        cdr.Named{ID: "ivr-main", Name: "Main menu"},
		CallLength: 48,
		From:       "+380441234567",
		OUPath:     "/Contoso",
		Transfer:   cdr.Transfer{Type: "queue", ToID: "q-sales-01", ToName: "Sales"},
		Inputs: []cdr.IVRInput{
			{ID: "in-1", At: at(12 * time.Second), Block: "Language", BlockType: "Menu", Parameter: "lang", Value: "2"},
			{ID: "in-2", At: at(31 * time.Second), Block: "Department", BlockType: "Menu", Parameter: "dept", Value: "1"},
		},
		DataValues:              values,
		ResourceAccountObjectID: "ra-4c5d6e7f",
	}
}
