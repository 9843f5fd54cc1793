// Package ari turns Asterisk ARI events into cdrgw call, queue and IVR
// records whose numbers equal Asterisk's own Master.csv and queue_log.
//
// # Tracker
//
// Tracker is a pure state machine: ARI WebSocket events in (raw JSON via
// HandleJSON or decoded via DecodeEvent and Handle), cdr.Events out, no I/O
// and no clock. It emits call.started, call.answered and call.ended (with
// the final record), queue.ended and ivr.ended. ReadRecording replays a
// JSON-lines recording through it (cdrgw normalize --input-format ari).
//
// # Recommended Asterisk setting
//
// ARI channel objects carry the linkedid only when ari.conf lists it:
//
//	[general]
//	channelvars = CHANNEL(linkedid)
//
// (add any variables to keep, e.g. channelvars = CHANNEL(linkedid),CUSTOMER_ID).
// With it, channels are grouped into calls by linkedid and call.started is
// raised as soon as the party A channel runs its first dialplan step.
// Without it, calls are still grouped correctly, through Local channel
// pairs (;1/;2), Dial caller/peer and shared bridges; because a dialed
// channel is created just before the Dial event that links it,
// call.started then waits up to one second of event time.
//
// # Which Master.csv row a call record matches
//
// Asterisk writes one CDR row per channel ("party A"), and sometimes a
// second row after a failed Dial. The call record matches the first row of
// the party A channel: the first channel of the call that runs real
// dialplan, i.e. not an outgoing channel whose first application is the
// pseudo-app AppDial2 (originate), AppDial (Dial) or AppQueue (queue
// member). For a SIP trunk call that is the inbound channel; for a call
// originated as Local/x@ctx it is the ;2 half. Every channel of the call,
// party A included, is listed in legs.
//
//   - started_at is the channel's creationtime, answered_at its first
//     ChannelStateChange to Up (or Dial ANSWER), ended_at its
//     ChannelDestroyed; duration and billsec are whole seconds, truncated,
//     as cdr.c computes them from millisecond times.
//   - disposition follows cdr.c: the Dial status when the channel dialed
//     (ANSWER → answered, BUSY → busy, NOANSWER and CANCEL → no_answer,
//     CONGESTION → congestion, others → failed), else answered when it
//     was answered, else its hangup cause (17 busy, 34/42 congestion,
//     16/18/19/31 no_answer, others failed). So a queue caller that was
//     answered by the dialplan but abandoned has disposition no_answer and
//     billsec > 0, exactly as Master.csv shows.
//   - caller is the channel's caller id; callee.number is its dialplan
//     extension (Master.csv dst), the last one before the h extension.
//   - hangup.cause is ChannelDestroyed's Q.850 cause; a 0 is not trusted:
//     the last non-soft ChannelHangupRequest cause, then the dialed or
//     bridged peer's cause, are used. A soft HangupRequest's cause is an
//     AST_SOFTHANGUP flag and is never used as a cause. hangup.initiator
//     comes from the first ChannelHangupRequest of the call: the party A
//     channel itself (soft: system, e.g. Hangup() in the dialplan; not
//     soft: caller), its Local partner or an earlier channel (caller), any
//     later channel (callee).
//
// # Queues and IVRs
//
// ARI has no queue events. A queue visit starts at ChannelDialplan Queue
// (the queue name is the first argument), connects at the Dial ANSWER to
// the member (agent from MEMBERNAME, id from MEMBERINTERFACE), completes
// when the channel leaves the agent's bridge and ends at the channel's
// next dialplan step or hangup. wait is QEHOLDTIME (queue_log CONNECT
// holdtime) or, unanswered, QUEUEWAIT (ABANDON waittime); talk is the
// difference of whole Unix seconds from connect to completion (queue_log
// COMPLETE* calltime). leave_reason is answered, abandoned
// (ABANDONED=TRUE), or QUEUESTATUS in lower case (timeout, full, ...).
// Record ids are <call id>:queue:<uniqueid>[:n].
//
// A channel is in an IVR while it runs a dialplan context matching
// Options.IVRContexts (path.Match globs) or an application in
// Options.IVRApps (default Read, Background, WaitExten). DTMF digits and
// Options.IVRVariables become inputs; the variables, in order, also fill
// data_values. Record ids are <call id>:ivr:<uniqueid>[:n].
//
// # Ordering
//
// Events are handled in arrival order; ARI delivers some a few ms out of
// timestamp order. Times are taken from timestamps (answer is the
// earliest Up), stale or duplicate dialplan steps are dropped, duplicate
// IVR inputs are dropped, late events of ended calls are ignored, and a
// queue or IVR visit takes variables for 10 ms of event time after it
// ends before it is emitted. Calls whose ChannelDestroyed never comes end
// at Flush after Options.MaxCallDuration (custom.incomplete = "true").
// After a reconnect, Reconcile ends the calls whose channels vanished.
// # Live source
//
// Source (NewSource, Run) connects to one Asterisk: GET /ari/asterisk/info
// to check the URL and credentials, then the /ari/events WebSocket with
// app=<App>&subscribeAll=true (basic auth, ws:// or wss://), then GET
// /ari/channels. One goroutine reads the socket into a bounded queue
// (SourceConfig.Buffer); the Run goroutine owns the Tracker, feeds it,
// hands what it produces to the sink (batching what is already queued) and
// calls Flush every FlushInterval. A failed connect or a lost socket is
// logged with the source name and URL (never the password) and retried
// with capped exponential backoff (SourceConfig.Backoff). After a
// reconnect, the channel list is passed to Tracker.Reconcile with the time
// the loss was noticed. source.connected and source.disconnected
// (cdr.SourceStatus, id source:<name>:<status>:<unixnano>) are raised only
// once a state has lasted SourceConfig.HoldStatus; a shorter flap raises
// nothing and the latest state wins (so the first connection raises
// source.connected after the hold). SourceConfig.Status (an
// ingest.Reporter, e.g. an ingest.Board's) is told at once, without the
// hold: Connected when the event WebSocket is open, Disconnected with the
// reason when it is lost and after every failed connect attempt.
//
// The WebSocket is read by this package with golang.org/x/net/websocket,
// the library github.com/CyCoreSystems/ari/v5 v5.3.1's native client uses,
// and decoded with this package's DecodeEvent, rather than through that
// client. Reading its source and testing it against internal/arisim
// decided this: its Connect blocks until the first successful connection
// (forever, with no context, on a wrong password or a bad URL), its
// reconnect loop sleeps a fixed second and writes its connected flag from
// two goroutines (a data race -race reports), its stdbus drops events when
// a subscriber's 100-slot buffer is full and drops events without keys
// (global ChannelVarset) altogether, and it re-decodes every event into
// typed structs the tracker would have to re-encode. Reading the socket
// directly back-pressures it instead: the reader blocks while the queue
// is full, so a 10,000-event burst loses nothing
// (cdrgw_ari_events_dropped_total stays 0; it counts only an event read
// when the source is stopping). internal/arisim is tested with the native
// client too, so the server stays faithful to it.
package ari
