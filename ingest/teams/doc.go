// Package teams decodes the CDR webhooks of the Microsoft Teams contact
// center (App.QueueWebhook, App.IvrWebhook and App.TestWebhook) into cdrgw
// events. Decode is the whole API; the HTTP endpoint lives elsewhere.
//
// # Bodies
//
// A body is one record object or a JSON array of them. Decode returns the
// events of every good record and, when some are bad, a *DecodeError whose
// Records list every problem as a *RecordError naming the record's index in
// the body (0 for a single object), the property as spelled in the input and
// the offending value:
//
//	record 3: StartDateTime: "yesterday" is not an ISO 8601 time
//
// A record may have several problems; all are listed, in a fixed property
// order. A body that is not JSON, or whose top level is neither an object nor
// an array, is a single plain error and gives no events.
//
// # Records and events
//
//   - App.QueueWebhook gives a queue.ended event with a queue record,
//     id teams:queue:<CallId>.
//   - App.IvrWebhook gives an ivr.ended event with an IVR record,
//     id teams:ivr:<CallId>.
//   - App.TestWebhook gives a test event with a queue record,
//     id teams:test:<CallId>.
//
// The event id is cdr.EventID of the type and the record id, so a record
// sent twice gives the same event. The event time is EndDateTime, or
// StartDateTime when there is no end. The source passed to Decode is the
// source of every event and record; an empty Kind is taken as "teams".
// CallId and StartDateTime are required.
//
// # Kind of a record
//
// The first of the properties EventType, WebhookType and Type that has a
// value decides: App.QueueWebhook, App.IvrWebhook and App.TestWebhook, or
// cdrgw's own names queue.ended, ivr.ended and test (all ignoring case). Any
// other value is an error. Without one, a record with QueueId or QueueName is
// a queue record and one with IvrId, IvrName or IvrInputs is an IVR record;
// a record with both or neither is an error.
//
// # Properties
//
// Property names match ignoring case (OUPath, OuPath and oupath are the
// same); when a name appears twice the last wins. Unknown properties are
// ignored. Every property goes where its name suggests:
//
//	CallId → call_id                 ScenarioId → scenario_id
//	CallDirection → direction        CallerName, CallerAdId, CallerUpn, CallerNumber → caller.{name,user_id,upn,number}
//	StartDateTime → started_at       EndDateTime → ended_at
//	CallLength → call_length         WaitTime → wait, TalkTime → talk (queue)
//	QueueId, QueueName → queue.{id,name}
//	IvrId, IvrName → ivr.{id,name}
//	AgentName, AgentUpn, AgentId, AgentAdId → agent.{name,upn,id,user_id}
//	MetServiceLevel → met_service_level
//	LeaveReason → leave_reason       CallbackRequestId → callback_request_id
//	From → from                      ParentId → parent_id
//	OUPath → ou_path                 ResourceAccountObjectId → resource_account_object_id
//	TransferType, TransferToId, TransferToName → transfer.{type,to_id,to_name}
//	IvrInputs[] {ID, InputDateTime, BlockName, BlockType, ParameterName, ParameterValue}
//	         → inputs[] {id, at, block, block_type, parameter, value}
//	DataValue01 … DataValue20 → data_values[0] … data_values[19]
//
// Teams spells the IVR's transfer target TrasnferToId; it is accepted as
// well as TransferToId, which wins when both have a value. Queue properties
// on an IVR record, and IVR properties on a queue record, are ignored. The
// custom map is always empty. IVR records always carry exactly 20 data
// values ("" for the absent ones) and a non-null inputs list.
//
// # Values
//
//   - Absent: a missing property, JSON null, the string "Null" in any case
//     (Teams' placeholder) and "" all mean "no value".
//   - Strings: a number or boolean where a string is expected is kept as its
//     JSON text (IDs sent as numbers keep every digit). An object or array
//     is an error.
//   - Times: ISO 8601 / RFC 3339 date-times, YYYY-MM-DDThh:mm:ss, with
//     T, t or a space between date and time, an optional fraction of any
//     length (. or ,; digits beyond nanoseconds are truncated) and an
//     optional Z, ±hh:mm, ±hhmm or ±hh offset. A time without an offset is
//     UTC, as Teams sends it. Times are stored in UTC. The .NET minimum
//     0001-01-01T00:00:00 means "no value". EndDateTime before StartDateTime
//     is an error.
//   - Durations: whole seconds. A JSON number or numeric string of seconds
//     (65, 65.5, "65"; rounded to the nearest second), or a .NET TimeSpan
//     [-][d.]hh:mm:ss[.fffffff] ("00:01:05", "1.02:03:04.5") or
//     [-][d:]h:mm:ss[.fffffff]; fractions round to the nearest second.
//     Negative durations are errors; so are hours over 23, minutes or
//     seconds over 59, and anything over 2^31-1 seconds.
//   - Booleans (MetServiceLevel): JSON true/false or the strings "true" and
//     "false" in any case ("True", "False"); no value gives null.
//   - CallDirection: Inbound, Outbound, Internal (any case) or Unknown; no
//     value gives unknown.
//
// Strings with invalid UTF-8 are repaired with U+FFFD, as encoding/json
// does.
//
// # Performance
//
// Decode checks the JSON syntax (as strictly as json.Valid) while it walks
// the body once, without reflection; strings that need no unescaping are
// substrings of one copy of the body. BenchmarkDecode reports records/s.
package teams
