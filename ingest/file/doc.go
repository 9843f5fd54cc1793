// Package file reads recorded CDR files for replay: Asterisk cdr_csv
// Master.csv, Teams contact-center JSON and cdrgw's own JSON lines. Read
// turns a file into cdr.Events, reporting each bad line or record as a
// *LineError and going on with the rest.
//
// # Formats
//
// Options.Format picks the reader; when it is empty, Detect looks at the
// first 4 KiB: JSON whose first object has both "type" and "record" keys is
// cdrgw JSON lines, other JSON is Teams, anything else is csv. A UTF-8 byte
// order mark is skipped in every format.
//
//   - csv: Asterisk cdr_csv (Master.csv), described below.
//   - jsonl: one cdr.Event per line as json.Marshal prints it (what
//     `cdrgw normalize` writes). Blank lines are skipped, lines may be of any
//     length, and every event must pass Event.Validate. A JSON array of events
//     is read too; its errors name the element's 0-based index.
//   - teams: one Teams record object or an array of them, decoded by
//     ingest/teams. Errors name the record's 0-based index in the body, as
//     ingest/teams does.
//
// # Master.csv
//
// cdr_csv (cdr_csv.c) writes one CDR per row with these columns, quoting
// strings and doubling quotes inside them; numbers may be quoted or not:
//
//	 1 accountcode   -> account_code
//	 2 src           -> caller.number
//	 3 dst           -> callee.number
//	 4 dcontext      -> custom.dcontext
//	 5 clid          -> caller.name (the name in `"Alice" <+15550001001>`)
//	 6 channel       -> legs[0].channel
//	 7 dstchannel    -> legs[1].channel (no second leg when empty)
//	 8 lastapp       -> custom.lastapp
//	 9 lastdata      -> custom.lastdata
//	10 start         -> started_at, legs[*].started_at
//	11 answer        -> answered_at, legs[*].answered_at (null when empty: never answered)
//	12 end           -> ended_at, legs[*].ended_at, and the event time
//	13 duration      -> duration, as written (not recomputed)
//	14 billsec       -> billsec, as written
//	15 disposition   -> disposition: ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION
//	                    become answered, no_answer, busy, failed, congestion
//	16 amaflags      -> custom.amaflags
//	17 uniqueid      -> call_id, legs[0].unique_id, the record id (loguniqueid=yes)
//	18 userfield     -> user_field (loguserfield=yes)
//
// So a row has 16, 17 (uniqueid only) or 18 columns; any other count is an
// error. Times are `2006-01-02 15:04:05` in Options.Location (the --tz flag;
// time.Local when nil) and are stored in UTC; Asterisk writes UTC when cdr.conf
// has usegmtime=yes. A local time that falls in a DST gap or overlap is
// resolved as time.Date does. Empty custom values are left out. Direction and
// hangup initiator are "unknown", and the hangup cause is 0, because
// Master.csv does not record them. The second leg, when there is one, has the
// row's times and no unique id. A first row whose accountcode and disposition
// columns hold those names is taken as a header and skipped.
//
// Every row becomes a call.ended event from source {kind: "csv", name:
// Options.Name or "csv"}. The record id is `csv:<uniqueid>`. When the row has
// no uniqueid, it is `csv:` plus the first 16 hex digits of the SHA-256 of the
// row's fields joined with NUL bytes, and that hash is the call_id too.
// Asterisk writes several CDRs with the same uniqueid when a channel runs
// more than one application (a failed Dial, then Hangup): the real Master.csv
// in testdata has two such pairs. So that the store does not drop the later
// ones as duplicates, a row whose uniqueid was recently seen on a different
// row gets `csv:<uniqueid>:<row hash>`. Its call_id stays the uniqueid. An
// identical row gets the same id again. "Recently" means a table of 2048
// slots indexed by a fixed hash of the uniqueid; Asterisk writes a channel's
// CDRs together, so that is plenty, and which uniqueids the table still holds
// depends only on the file's contents.
//
// A row is rejected, with an error naming the column and the value, when a
// time or number does not parse, the disposition is not one of Asterisk's,
// or end or answer is before start:
//
//	calls.csv:3: billsec: "x" is not a whole number
//	calls.csv:12: start: "2026-13-01 00:00:00" is not a time (2006-01-02 15:04:05)
//	calls.csv:3: 12 columns, want 16, 17 or 18
//
// Line numbers count physical lines, so a quoted field that spans lines moves
// the numbers of later rows. A broken quote is reported by encoding/csv's
// message and position. A quote that is never closed takes the rest of the
// file with it.
package file
