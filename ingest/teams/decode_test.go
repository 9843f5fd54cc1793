package teams

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// record returns a JSON record object built from base with the properties in
// kv (name, raw JSON value pairs) set; a value of "-" removes the property.
func record(base [][2]string, kv ...string) string {
	props := append([][2]string(nil), base...)
next:
	for i := 0; i+1 < len(kv); i += 2 {
		for j := range props {
			if props[j][0] == kv[i] {
				props[j][1] = kv[i+1]
				continue next
			}
		}
		props = append(props, [2]string{kv[i], kv[i+1]})
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, p := range props {
		if p[1] == "-" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + p[0] + `":` + p[1])
	}
	b.WriteByte('}')
	return b.String()
}

var (
	queueBase = [][2]string{{"CallId", `"c1"`}, {"StartDateTime", `"2025-01-01T00:00:00Z"`}, {"QueueId", `"q1"`}}
	ivrBase   = [][2]string{{"CallId", `"c1"`}, {"StartDateTime", `"2025-01-01T00:00:00Z"`}, {"IvrId", `"i1"`}}
)

// decodeOne decodes body, which must hold exactly one valid record.
func decodeOne(t *testing.T, body string) cdr.Event {
	t.Helper()
	events, err := Decode([]byte(body), testSource)
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	if len(events) != 1 {
		t.Fatalf("Decode(%s) gave %d events, want 1", body, len(events))
	}
	if err := events[0].Validate(); err != nil {
		t.Fatalf("event does not validate: %v", err)
	}
	return events[0]
}

func q(ev cdr.Event) *cdr.Queue { return ev.Record.(*cdr.Queue) }
func ivr(ev cdr.Event) *cdr.IVR { return ev.Record.(*cdr.IVR) }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDecodeConversions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		get  func(cdr.Event) any
		want any
	}{
		// Event envelope.
		{"queue id", record(queueBase), func(e cdr.Event) any { return e.Record.RecordID() }, "teams:queue:c1"},
		{"queue type", record(queueBase), func(e cdr.Event) any { return e.Type }, cdr.TypeQueueEnded},
		{"ivr id", record(ivrBase), func(e cdr.Event) any { return e.Record.RecordID() }, "teams:ivr:c1"},
		{"test id", record(queueBase, "EventType", `"App.TestWebhook"`), func(e cdr.Event) any { return e.Record.RecordID() }, "teams:test:c1"},
		{"test type", record(queueBase, "EventType", `"App.TestWebhook"`), func(e cdr.Event) any { return e.Type }, cdr.TypeTest},
		{"test kind", record(ivrBase, "EventType", `"App.TestWebhook"`), func(e cdr.Event) any { return e.Record.RecordKind() }, cdr.KindQueue},
		{"event id", record(queueBase), func(e cdr.Event) any { return e.ID }, cdr.EventID(cdr.TypeQueueEnded, "teams:queue:c1")},
		{"event time is end", record(queueBase, "EndDateTime", `"2025-01-01T00:01:00Z"`), func(e cdr.Event) any { return e.Time }, ts("2025-01-01T00:01:00Z")},
		{"event time falls back to start", record(queueBase), func(e cdr.Event) any { return e.Time }, ts("2025-01-01T00:00:00Z")},
		{"source", record(queueBase), func(e cdr.Event) any { return q(e).Source }, testSource},
		{"custom is empty not nil", record(queueBase), func(e cdr.Event) any { return q(e).Custom != nil && len(q(e).Custom) == 0 }, true},

		// Event type: explicit or inferred.
		{"EventType ivr alias", record(queueBase, "EventType", `"App.IvrWebhook"`), func(e cdr.Event) any { return e.Type }, cdr.TypeIVREnded},
		{"WebhookType", record(ivrBase, "WebhookType", `"App.QueueWebhook"`), func(e cdr.Event) any { return e.Type }, cdr.TypeQueueEnded},
		{"Type cdr name", record(queueBase, "Type", `"ivr.ended"`), func(e cdr.Event) any { return e.Type }, cdr.TypeIVREnded},
		{"Type test", record(queueBase, "Type", `"test"`), func(e cdr.Event) any { return e.Type }, cdr.TypeTest},
		{"type any case", record(queueBase, "eventTYPE", `"app.ivrWEBHOOK"`), func(e cdr.Event) any { return e.Type }, cdr.TypeIVREnded},
		{"EventType beats Type", record(queueBase, "Type", `"ivr.ended"`, "EventType", `"App.QueueWebhook"`), func(e cdr.Event) any { return e.Type }, cdr.TypeQueueEnded},
		{"null type is inferred", record(ivrBase, "EventType", `null`, "Type", `"Null"`), func(e cdr.Event) any { return e.Type }, cdr.TypeIVREnded},
		{"inferred from QueueName", record(queueBase, "QueueId", "-", "QueueName", `"Sales"`), func(e cdr.Event) any { return e.Type }, cdr.TypeQueueEnded},
		{"inferred from IvrName", record(ivrBase, "IvrId", "-", "IvrName", `"Menu"`), func(e cdr.Event) any { return e.Type }, cdr.TypeIVREnded},
		{"inferred from IvrInputs", record(ivrBase, "IvrId", "-", "IvrInputs", `[]`), func(e cdr.Event) any { return e.Type }, cdr.TypeIVREnded},
		{"Null QueueId does not count", record(ivrBase, "QueueId", `"Null"`), func(e cdr.Event) any { return e.Type }, cdr.TypeIVREnded},

		// Common fields.
		{"CallId number", record(queueBase, "CallId", `12345678901234567890`), func(e cdr.Event) any { return q(e).CallID }, "12345678901234567890"},
		{"ScenarioId", record(queueBase, "ScenarioId", `"s-1"`), func(e cdr.Event) any { return q(e).ScenarioID }, "s-1"},
		{"Inbound", record(queueBase, "CallDirection", `"Inbound"`), func(e cdr.Event) any { return q(e).Direction }, cdr.DirectionInbound},
		{"Outbound", record(queueBase, "CallDirection", `"outbound"`), func(e cdr.Event) any { return q(e).Direction }, cdr.DirectionOutbound},
		{"Internal", record(queueBase, "CallDirection", `"INTERNAL"`), func(e cdr.Event) any { return q(e).Direction }, cdr.DirectionInternal},
		{"direction missing", record(queueBase), func(e cdr.Event) any { return q(e).Direction }, cdr.DirectionUnknown},
		{"direction Null", record(queueBase, "CallDirection", `"Null"`), func(e cdr.Event) any { return q(e).Direction }, cdr.DirectionUnknown},
		{"direction null", record(queueBase, "CallDirection", `null`), func(e cdr.Event) any { return q(e).Direction }, cdr.DirectionUnknown},
		{"caller", record(queueBase, "CallerName", `"Ann"`, "CallerAdId", `"ad-1"`, "CallerUpn", `"ann@x"`, "CallerNumber", `"+1555"`),
			func(e cdr.Event) any { return q(e).Caller }, cdr.Party{Name: "Ann", UserID: "ad-1", UPN: "ann@x", Number: "+1555"}},
		{"caller number as number", record(queueBase, "CallerNumber", `15551234567`), func(e cdr.Event) any { return q(e).Caller.Number }, "15551234567"},
		{"Null string is empty", record(queueBase, "CallerName", `"NULL"`), func(e cdr.Event) any { return q(e).Caller.Name }, ""},
		{"escaped string", record(queueBase, "CallerName", `"O\u0027Brien \"Jr\"\n"`), func(e cdr.Event) any { return q(e).Caller.Name }, "O'Brien \"Jr\"\n"},
		{"boolean in string field", record(queueBase, "LeaveReason", `true`), func(e cdr.Event) any { return q(e).LeaveReason }, "true"},
		{"escaped key", record(queueBase, `Caller\u004eame`, `"Esc"`), func(e cdr.Event) any { return q(e).Caller.Name }, "Esc"},
		{"StartDateTime", record(queueBase), func(e cdr.Event) any { return q(e).StartedAt }, ts("2025-01-01T00:00:00Z")},
		{"StartDateTime offset to UTC", record(queueBase, "StartDateTime", `"2025-01-01T03:00:00+03:00"`), func(e cdr.Event) any { return q(e).StartedAt.Location() }, time.UTC},
		{"EndDateTime", record(queueBase, "EndDateTime", `"2025-01-01T00:00:09.5Z"`), func(e cdr.Event) any { return *q(e).EndedAt }, ts("2025-01-01T00:00:09.5Z")},
		{"EndDateTime equal to start", record(queueBase, "EndDateTime", `"2025-01-01T00:00:00Z"`), func(e cdr.Event) any { return *q(e).EndedAt }, ts("2025-01-01T00:00:00Z")},
		{"EndDateTime Null", record(queueBase, "EndDateTime", `"Null"`), func(e cdr.Event) any { return q(e).EndedAt == nil }, true},
		{"EndDateTime blank", record(queueBase, "EndDateTime", `"  "`), func(e cdr.Event) any { return q(e).EndedAt == nil }, true},
		{"EndDateTime MinValue", record(queueBase, "EndDateTime", `"0001-01-01T00:00:00"`), func(e cdr.Event) any { return q(e).EndedAt == nil }, true},
		{"ResourceAccountObjectId Null", record(queueBase, "ResourceAccountObjectId", `"Null"`), func(e cdr.Event) any { return q(e).ResourceAccountObjectID }, ""},
		{"ResourceAccountObjectId", record(queueBase, "ResourceAccountObjectId", `"ra-1"`), func(e cdr.Event) any { return q(e).ResourceAccountObjectID }, "ra-1"},
		{"OUPath", record(queueBase, "OUPath", `"/a/b"`), func(e cdr.Event) any { return q(e).OUPath }, "/a/b"},
		{"OuPath", record(queueBase, "OuPath", `"/a/c"`), func(e cdr.Event) any { return q(e).OUPath }, "/a/c"},
		{"ParentId", record(queueBase, "ParentId", `"p-1"`), func(e cdr.Event) any { return q(e).ParentID }, "p-1"},
		{"From", record(queueBase, "From", `"Main IVR"`), func(e cdr.Event) any { return q(e).From }, "Main IVR"},
		{"unknown property ignored", record(queueBase, "Whatever", `{"a":[1,{"b":"}"}]}`), func(e cdr.Event) any { return q(e).CallID }, "c1"},
		{"duplicate key last wins", record(queueBase, "callid", `"c2"`), func(e cdr.Event) any { return q(e).CallID }, "c2"},

		// Durations.
		{"seconds int", record(queueBase, "CallLength", `65`), func(e cdr.Event) any { return q(e).CallLength }, 65},
		{"seconds float rounds up", record(queueBase, "WaitTime", `2.5`), func(e cdr.Event) any { return q(e).Wait }, 3},
		{"seconds float rounds down", record(queueBase, "WaitTime", `2.49`), func(e cdr.Event) any { return q(e).Wait }, 2},
		{"seconds exponent", record(queueBase, "TalkTime", `1.2e2`), func(e cdr.Event) any { return q(e).Talk }, 120},
		{"seconds string", record(queueBase, "TalkTime", `"65"`), func(e cdr.Event) any { return q(e).Talk }, 65},
		{"TimeSpan", record(queueBase, "TalkTime", `"00:01:05"`), func(e cdr.Event) any { return q(e).Talk }, 65},
		{"TimeSpan days and fraction", record(queueBase, "CallLength", `"1.02:03:04.5"`), func(e cdr.Event) any { return q(e).CallLength }, 93785},
		{"TimeSpan general days", record(queueBase, "CallLength", `"1:02:03:04"`), func(e cdr.Event) any { return q(e).CallLength }, 93784},
		{"TimeSpan fraction below half", record(queueBase, "CallLength", `"00:00:01.4999999"`), func(e cdr.Event) any { return q(e).CallLength }, 1},
		{"duration null", record(queueBase, "WaitTime", `null`), func(e cdr.Event) any { return q(e).Wait }, 0},
		{"duration Null", record(queueBase, "WaitTime", `"Null"`), func(e cdr.Event) any { return q(e).Wait }, 0},
		{"ivr CallLength", record(ivrBase, "CallLength", `"00:00:30"`), func(e cdr.Event) any { return ivr(e).CallLength }, 30},

		// Queue fields.
		{"QueueId QueueName", record(queueBase, "QueueName", `"Sales"`), func(e cdr.Event) any { return q(e).Queue }, cdr.Named{ID: "q1", Name: "Sales"}},
		{"MetServiceLevel true", record(queueBase, "MetServiceLevel", `true`), func(e cdr.Event) any { return *q(e).MetServiceLevel }, true},
		{"MetServiceLevel False", record(queueBase, "MetServiceLevel", `"False"`), func(e cdr.Event) any { return *q(e).MetServiceLevel }, false},
		{"MetServiceLevel TRUE", record(queueBase, "MetServiceLevel", `"TRUE"`), func(e cdr.Event) any { return *q(e).MetServiceLevel }, true},
		{"MetServiceLevel absent", record(queueBase), func(e cdr.Event) any { return q(e).MetServiceLevel == nil }, true},
		{"MetServiceLevel Null", record(queueBase, "MetServiceLevel", `"Null"`), func(e cdr.Event) any { return q(e).MetServiceLevel == nil }, true},
		{"agent", record(queueBase, "AgentName", `"Bo"`, "AgentUpn", `"bo@x"`, "AgentId", `7`, "AgentAdId", `"ad-7"`),
			func(e cdr.Event) any { return q(e).Agent }, cdr.Agent{Name: "Bo", UPN: "bo@x", ID: "7", UserID: "ad-7"}},
		{"CallbackRequestId", record(queueBase, "CallbackRequestId", `"cb-1"`), func(e cdr.Event) any { return q(e).CallbackRequestID }, "cb-1"},
		{"LeaveReason", record(queueBase, "LeaveReason", `"Timeout"`), func(e cdr.Event) any { return q(e).LeaveReason }, "Timeout"},
		{"transfer", record(queueBase, "TransferType", `"Overflow"`, "TransferToId", `"t-1"`, "TransferToName", `"Voicemail"`),
			func(e cdr.Event) any { return q(e).Transfer }, cdr.Transfer{Type: "Overflow", ToID: "t-1", ToName: "Voicemail"}},
		{"TrasnferToId", record(queueBase, "TrasnferToId", `"t-2"`), func(e cdr.Event) any { return q(e).Transfer.ToID }, "t-2"},
		{"TransferToId wins over TrasnferToId", record(queueBase, "TrasnferToId", `"t-2"`, "TransferToId", `"t-1"`), func(e cdr.Event) any { return q(e).Transfer.ToID }, "t-1"},
		{"TrasnferToId used when TransferToId Null", record(queueBase, "TransferToId", `"Null"`, "TrasnferToId", `"t-2"`), func(e cdr.Event) any { return q(e).Transfer.ToID }, "t-2"},

		// IVR fields.
		{"IvrId IvrName", record(ivrBase, "IvrName", `"Menu"`), func(e cdr.Event) any { return ivr(e).IVR }, cdr.Named{ID: "i1", Name: "Menu"}},
		{"ivr transfer misspelt", record(ivrBase, "TrasnferToId", `"q9"`), func(e cdr.Event) any { return ivr(e).Transfer.ToID }, "q9"},
		{"data values always 20", record(ivrBase), func(e cdr.Event) any { return len(ivr(e).DataValues) }, cdr.DataValueCount},
		{"DataValue01", record(ivrBase, "DataValue01", `"first"`), func(e cdr.Event) any { return ivr(e).DataValues[0] }, "first"},
		{"DataValue07", record(ivrBase, "datavalue07", `7`), func(e cdr.Event) any { return ivr(e).DataValues[6] }, "7"},
		{"DataValue20", record(ivrBase, "DataValue20", `"last"`), func(e cdr.Event) any { return ivr(e).DataValues[19] }, "last"},
		{"DataValue21 ignored", record(ivrBase, "DataValue21", `"x"`), func(e cdr.Event) any { return strings.Join(ivr(e).DataValues, "") }, ""},
		{"inputs absent is empty", record(ivrBase), func(e cdr.Event) any { return ivr(e).Inputs != nil && len(ivr(e).Inputs) == 0 }, true},
		{"inputs", record(ivrBase, "IvrInputs", `[{"ID":"1","InputDateTime":"2025-01-01T00:00:05.25","BlockName":"Lang","BlockType":"Menu","ParameterName":"lang","ParameterValue":"en"}]`),
			func(e cdr.Event) any {
				return ivr(e).Inputs[0].Block + "|" + ivr(e).Inputs[0].BlockType + "|" + ivr(e).Inputs[0].Parameter + "|" + ivr(e).Inputs[0].Value + "|" + ivr(e).Inputs[0].ID
			},
			"Lang|Menu|lang|en|1"},
		{"input at", record(ivrBase, "IvrInputs", `[{"InputDateTime":"2025-01-01T00:00:05.25"}]`), func(e cdr.Event) any { return *ivr(e).Inputs[0].At }, ts("2025-01-01T00:00:05.25Z")},
		{"input at Null", record(ivrBase, "IvrInputs", `[{"InputDateTime":"Null"}]`), func(e cdr.Event) any { return ivr(e).Inputs[0].At == nil }, true},
		{"input keys any case, numbers", record(ivrBase, "IvrInputs", `[{"id":5,"parametervalue":42}]`), func(e cdr.Event) any { return ivr(e).Inputs[0].ID + "/" + ivr(e).Inputs[0].Value }, "5/42"},
		{"null input skipped", record(ivrBase, "IvrInputs", `[null,{"ID":"2"}]`), func(e cdr.Event) any { return len(ivr(e).Inputs) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := decodeOne(t, tt.body)
			got := tt.get(ev)
			switch w := tt.want.(type) {
			case time.Time:
				if g, ok := got.(time.Time); !ok || !g.Equal(w) || g.Location() != time.UTC {
					t.Fatalf("got %v, want %v (UTC)", got, w)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"bad start", `[{},{},{},` + record(queueBase, "StartDateTime", `"yesterday"`) + `]`,
			`record 0: cannot tell queue from IVR record: no QueueId, QueueName, IvrId or IvrName; record 0: CallId: is required; record 0: StartDateTime: is required; ` +
				`record 1: cannot tell queue from IVR record: no QueueId, QueueName, IvrId or IvrName; record 1: CallId: is required; record 1: StartDateTime: is required; ` +
				`record 2: cannot tell queue from IVR record: no QueueId, QueueName, IvrId or IvrName; record 2: CallId: is required; record 2: StartDateTime: is required; ` +
				`record 3: StartDateTime: "yesterday" is not an ISO 8601 time`},
		{"missing CallId", record(queueBase, "CallId", "-"), `record 0: CallId: is required`},
		{"empty CallId", record(queueBase, "CallId", `""`), `record 0: CallId: is required`},
		{"Null CallId", record(queueBase, "CallId", `"Null"`), `record 0: CallId: is required`},
		{"null CallId", record(queueBase, "CallId", `null`), `record 0: CallId: is required`},
		{"object CallId", record(queueBase, "CallId", `{"a":1}`), `record 0: CallId: is a JSON object, not a string`},
		{"missing start", record(queueBase, "StartDateTime", "-"), `record 0: StartDateTime: is required`},
		{"MinValue start", record(queueBase, "StartDateTime", `"0001-01-01T00:00:00"`), `record 0: StartDateTime: is required`},
		{"blank start", record(queueBase, "StartDateTime", `" "`), `record 0: StartDateTime: is required`},
		{"number start", record(queueBase, "StartDateTime", `1735689600`), `record 0: StartDateTime: "1735689600" is not an ISO 8601 time`},
		{"array start", record(queueBase, "StartDateTime", `[]`), `record 0: StartDateTime: is a JSON array, not an ISO 8601 time`},
		{"start month 13", record(queueBase, "StartDateTime", `"2025-13-01T00:00:00Z"`), `record 0: StartDateTime: "2025-13-01T00:00:00Z" is an ISO 8601 time out of range`},
		{"start Feb 29 2025", record(queueBase, "StartDateTime", `"2025-02-29T00:00:00Z"`), `record 0: StartDateTime: "2025-02-29T00:00:00Z" is an ISO 8601 time out of range`},
		{"start trailing dot", record(queueBase, "StartDateTime", `"2025-01-01T00:00:00.Z"`), `record 0: StartDateTime: "2025-01-01T00:00:00.Z" is not an ISO 8601 time`},
		{"start year underflow", record(queueBase, "StartDateTime", `"0000-01-01T00:00:00+01:00"`), `record 0: StartDateTime: "0000-01-01T00:00:00+01:00" is an ISO 8601 time out of range`},
		{"property spelled as input", record(queueBase, "StartDateTime", "-", "startdatetime", `"soon"`), `record 0: startdatetime: "soon" is not an ISO 8601 time`},
		{"end before start", record(queueBase, "EndDateTime", `"2024-12-31T23:59:59.9Z"`), `record 0: EndDateTime: "2024-12-31T23:59:59.9Z" is before StartDateTime`},
		{"bad end", record(queueBase, "EndDateTime", `"2025-01-01"`), `record 0: EndDateTime: "2025-01-01" is not an ISO 8601 time`},
		{"bad direction", record(queueBase, "CallDirection", `"Sideways"`), `record 0: CallDirection: "Sideways" is not Inbound, Outbound or Internal`},
		{"number direction", record(queueBase, "CallDirection", `1`), `record 0: CallDirection: "1" is not Inbound, Outbound or Internal`},
		{"negative seconds", record(queueBase, "WaitTime", `-5`), `record 0: WaitTime: "-5" is a negative duration`},
		{"negative string seconds", record(queueBase, "WaitTime", `"-0.6"`), `record 0: WaitTime: "-0.6" is a negative duration`},
		{"negative TimeSpan", record(queueBase, "TalkTime", `"-00:00:01"`), `record 0: TalkTime: "-00:00:01" is a negative duration`},
		{"bad duration", record(queueBase, "CallLength", `"1 minute"`), `record 0: CallLength: "1 minute" is not a number of seconds or a TimeSpan ([-][d.]hh:mm:ss[.fffffff])`},
		{"bool duration", record(queueBase, "CallLength", `true`), `record 0: CallLength: "true" is not a number of seconds or a TimeSpan ([-][d.]hh:mm:ss[.fffffff])`},
		{"minutes out of range", record(queueBase, "CallLength", `"00:60:00"`), `record 0: CallLength: "00:60:00" is a duration out of range`},
		{"huge seconds", record(queueBase, "CallLength", `1e300`), `record 0: CallLength: "1e300" is a duration out of range`},
		{"object duration", record(queueBase, "CallLength", `{}`), `record 0: CallLength: is a JSON object, not a duration`},
		{"bad MetServiceLevel", record(queueBase, "MetServiceLevel", `"Yes"`), `record 0: MetServiceLevel: "Yes" is not true or false`},
		{"numeric MetServiceLevel", record(queueBase, "MetServiceLevel", `1`), `record 0: MetServiceLevel: "1" is not true or false`},
		{"bad EventType", record(queueBase, "EventType", `"call.ended"`), `record 0: EventType: "call.ended" is not App.QueueWebhook, App.IvrWebhook or App.TestWebhook`},
		{"object Type", record(queueBase, "Type", `{}`), `record 0: Type: is a JSON object, not an event type`},
		{"neither queue nor ivr", record(queueBase, "QueueId", "-"), `record 0: cannot tell queue from IVR record: no QueueId, QueueName, IvrId or IvrName`},
		{"both queue and ivr", record(queueBase, "IvrName", `"Menu"`),
			`record 0: cannot tell queue from IVR record: it has both queue (QueueId, QueueName) and IVR (IvrId, IvrName, IvrInputs) properties`},
		{"IvrInputs not array", record(ivrBase, "IvrInputs", `"x"`), `record 0: IvrInputs: is a JSON string, not an array`},
		{"IvrInputs element not object", record(ivrBase, "IvrInputs", `[{},3]`), `record 0: IvrInputs[1]: is a JSON number, not an object`},
		{"IvrInputs bad time", record(ivrBase, "IvrInputs", `[{"inputDateTime":"later"}]`), `record 0: IvrInputs[0].inputDateTime: "later" is not an ISO 8601 time`},
		{"IvrInputs object value", record(ivrBase, "IvrInputs", `[{"ID":["x"]}]`), `record 0: IvrInputs[0].ID: is a JSON array, not a string`},
		{"DataValue object", record(ivrBase, "DataValue03", `{}`), `record 0: DataValue03: is a JSON object, not a string`},
		{"record not object", `[1, null]`, `record 0: is a JSON number, not a record object; record 1: is a JSON null, not a record object`},
		{"several problems in one record", record(queueBase, "CallId", "-", "WaitTime", `"x"`, "MetServiceLevel", `"x"`),
			`record 0: CallId: is required; record 0: WaitTime: "x" is not a number of seconds or a TimeSpan ([-][d.]hh:mm:ss[.fffffff]); record 0: MetServiceLevel: "x" is not true or false`},
		{"long value clipped", record(queueBase, "StartDateTime", `"`+strings.Repeat("é", 50)+`"`),
			`record 0: StartDateTime: "` + strings.Repeat("é", 40) + `..." is not an ISO 8601 time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, err := Decode([]byte(tt.body), testSource)
			if err == nil {
				t.Fatalf("Decode(%s) = %d events, nil error; want %s", tt.body, len(events), tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Fatalf("Decode(%s) error:\n got %s\nwant %s", tt.body, got, tt.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			if len(events) != 0 {
				t.Fatalf("got %d events from a body with only bad records", len(events))
			}
		})
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"empty", ``, `teams: body is not JSON: unexpected end of JSON input`},
		{"garbage", `hello`, `teams: body is not JSON: invalid character 'h' looking for beginning of value`},
		{"truncated", `[{"CallId":"a"`, `teams: body is not JSON: unexpected end of JSON input`},
		{"trailing", `{} {}`, `teams: body is not JSON: invalid character '{' after top-level value`},
		{"string body", `"App.TestWebhook"`, `teams: body is a JSON string, not a record object or an array of records`},
		{"null body", ` null `, `teams: body is a JSON null, not a record object or an array of records`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, err := Decode([]byte(tt.body), testSource)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Decode(%q) error = %v, want %s", tt.body, err, tt.want)
			}
			var de *DecodeError
			if errors.As(err, &de) {
				t.Fatalf("a body-level error must not be a *DecodeError")
			}
			if events != nil {
				t.Fatalf("got events %v", events)
			}
		})
	}
}

func TestDecodeBatchWithOneBadRecord(t *testing.T) {
	t.Parallel()
	body := `[` + record(queueBase, "CallId", `"a"`) + `,` + record(ivrBase, "CallId", `"b"`) + `,` +
		record(queueBase, "CallId", `"c"`, "StartDateTime", `"yesterday"`) + `,` + record(ivrBase, "CallId", `"d"`) + `]`
	events, err := Decode([]byte(body), testSource)
	var ids []string
	for _, ev := range events {
		ids = append(ids, ev.Record.RecordID())
	}
	if got, want := strings.Join(ids, ","), "teams:queue:a,teams:ivr:b,teams:ivr:d"; got != want {
		t.Fatalf("got records %s, want %s", got, want)
	}
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("error %v does not hold a *RecordError", err)
	}
	if re.Index != 2 || re.Property != "StartDateTime" || re.Value != "yesterday" {
		t.Fatalf("got %+v, want index 2, property StartDateTime, value yesterday", re)
	}
	if want := `record 2: StartDateTime: "yesterday" is not an ISO 8601 time`; err.Error() != want {
		t.Fatalf("error = %s, want %s", err, want)
	}
}

func TestDecodeEmpty(t *testing.T) {
	t.Parallel()
	events, err := Decode([]byte(" [ ] "), testSource)
	if err != nil || len(events) != 0 {
		t.Fatalf("Decode([]) = %v, %v; want no events, nil", events, err)
	}
}

func TestDecodeDefaultsSourceKind(t *testing.T) {
	t.Parallel()
	events, err := Decode([]byte(record(queueBase)), cdr.SourceRef{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := events[0].Source; got != (cdr.SourceRef{Kind: "teams", Name: "x"}) {
		t.Fatalf("source = %+v, want teams/x", got)
	}
	if err := events[0].Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeIsStable(t *testing.T) {
	t.Parallel()
	a := decodeOne(t, record(queueBase, "CallDirection", `"Inbound"`))
	b := decodeOne(t, record(queueBase, "CallerName", `"someone else"`))
	if a.ID != b.ID {
		t.Fatalf("the same CallId gave event ids %s and %s", a.ID, b.ID)
	}
}

func TestRecordErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  RecordError
		want string
	}{
		{RecordError{Index: 3, Property: "StartDateTime", Value: "yesterday", Msg: "is not an ISO 8601 time"}, `record 3: StartDateTime: "yesterday" is not an ISO 8601 time`},
		{RecordError{Index: 0, Property: "CallId", Msg: "is required"}, `record 0: CallId: is required`},
		{RecordError{Index: 7, Msg: "is a JSON number, not a record object"}, `record 7: is a JSON number, not a record object`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
	de := &DecodeError{Records: []*RecordError{&tests[0].err, &tests[1].err}}
	if got, want := de.Error(), tests[0].want+"; "+tests[1].want; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if errs := de.Unwrap(); len(errs) != 2 || errs[1] != error(&tests[1].err) {
		t.Fatalf("Unwrap = %v", errs)
	}
}
