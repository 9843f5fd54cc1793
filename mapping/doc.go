// Package mapping turns a webhook's parameter map (DESIGN.md §4) into HTTP
// requests: it compiles the webhook's expressions with
// github.com/expr-lang/expr once per subscribed event type and renders one
// request per event.
//
// # Environment
//
// Every expression sees three names: event (id, type, time, source.kind,
// source.name), record (the typed record of the event type: a call, queue,
// IVR, source-status or webhook-status record, by its JSON names, e.g.
// record.caller.number, record.started_at) and webhook (name). Unknown names
// and type errors are compile errors with a line and a column, reported for
// the first subscribed event type they occur in; all errors of a Spec are
// returned together (errors.Join of *CompileError). Values of named string
// types (record.disposition, record.direction, ...) behave as plain strings.
// record.custom is a map: record.custom.Manager is nil when the key is
// missing, so record.custom.Manager ?? "" gives "".
//
// # Functions
//
//   - date(t) and date(t, format) format a time (time, pointer to time or an
//     RFC 3339 string; null and "" give "") in the webhook's time zone. The
//     format is the webhook's date_format, or format: a strftime format (any
//     format holding %: %Y %m %d %H %M %S %y %b %B %a %A %j %z %Z %p %I %e,
//     %f microseconds, %L milliseconds, %s unix seconds, %F, %T, %%), unix,
//     unix_ms, rfc3339, or a Go layout (2006-01-02 15:04). A literal format
//     is checked at compile time; an unknown directive is a compile error.
//   - cause(x) looks fmt.Sprint(x) up in the webhook's hangup_causes and
//     returns x itself when it is not mapped.
//   - env("NAME") reads the process environment (Spec.Env in tests).
//   - expr's builtins, with the limits below.
//
// # Requests
//
// The URL may hold {{ expression }} parts; their values are query-escaped
// (url.QueryEscape, so a space becomes +) and the result must be an absolute
// http or https URL. Params are rendered in config order:
//
//   - query appends name=value pairs to the URL query (after any query the URL
//     already has), with any method and no body;
//   - form is an application/x-www-form-urlencoded body; with GET, form
//     behaves as query;
//   - json is an application/json object, keys in config order, dotted names
//     nesting (caller.number → {"caller":{"number":...}});
//   - xml is an application/xml document <?xml ...?><root><name>value</name></root>,
//     dotted names nesting, text escaped; names must be XML names;
//   - jsonrpc is a JSON-RPC 2.0 request {"jsonrpc":"2.0","method":...,
//     "params":{...},"id":<delivery id>}, the id always a string.
//
// A name that is both a value and a group (a and a.b) is a compile error.
// Null values are left out of query, form and xml (an XML group with nothing
// left in it is left out too) and kept as null in json and jsonrpc. Times use
// the webhook's date format and zone everywhere; with unix or unix_ms they are
// numbers in json. Numbers stay numbers and booleans booleans in json; NaN and
// infinities are render errors. Arrays, maps and structs are nested JSON in
// json and jsonrpc and a JSON string in query, form and xml (times nested in
// them are RFC 3339). Header values are expressions rendered as text; a null
// value leaves the header out and a value holding CR, LF or another control
// character is a *RenderError, never sent. Content-Type is set for bodies; a
// header of the map may override it.
//
// # Limits
//
// A config is trusted to name its targets but not to be well behaved, so an
// expression cannot hang or exhaust the gateway:
//
//   - an expression has at most MaxNodes syntax-tree nodes;
//   - one run may create at most MemoryBudget range elements, loop
//     iterations and array elements (expr's memory budget), which bounds every
//     loop (map, filter, reduce, ...), since expr has no other way to loop;
//   - strings built with +, join, replace, repeat, toBase64, toJSON and
//     string are at most MaxStringBytes long;
//   - builtins that walk nested values (min, max, mean, median, flatten,
//     uniq, toJSON, string, join) and every value encoded into a request
//     first check that the value holds at most MaxValueNodes elements and
//     MaxValueBytes string bytes, aborting the walk once over;
//   - a panic inside an expression or an encoder becomes a *RenderError.
//
// So one run does at most a few million simple steps and allocates at most
// a few hundred megabytes in the worst case (MemoryBudget results of
// MaxStringBytes each), and typically microseconds and a few hundred bytes.
//
// # Speed
//
// Most params are plain member paths (record.caller.number, event.id),
// date(path) or cause(path). Compile recognises these in expr's compiled
// program and Render evaluates them without expr's VM, reading the field in
// place and writing it straight into the body; everything else runs on a
// pooled VM. The results are the same either way (TestFastPathMatchesVM
// compares them over every field of every record kind).
//
// A compiled *Webhook is immutable and safe for concurrent use.
package mapping
