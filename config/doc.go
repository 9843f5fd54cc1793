// Package config loads cdrgw's YAML config file (cdrgw.yaml): it expands
// environment variables, applies defaults, checks every value and compiles
// every webhook's expressions, and reports every problem it finds at once,
// each with the file, line and column and the YAML path of the value.
//
// # The file
//
//	store: sqlite://cdrgw.db            # or postgres://user@127.0.0.1:5432/cdrgw
//	listen: 127.0.0.1:8080              # admin API, web UI, HTTP ingest
//	admin_token: ${CDRGW_ADMIN_TOKEN}   # required unless listen is loopback
//	allow_private_targets: false        # true lets webhooks reach loopback/private addresses
//	sources:
//	  - {name: teams, type: teams, token: ${TEAMS_TOKEN}}          # POST /ingest/teams
//	  - {name: pbx1, type: ari, url: http://127.0.0.1:8088, username: gw, password: ${ARI_PASSWORD}, app: cdrgw}
//	  - {name: sbc, type: hep, listen: 127.0.0.1:9060}
//	webhooks:
//	  - name: crm
//	    url: https://crm.example.com/api/calls
//	    events: [queue.ended]
//	    when: record.wait > 30 || record.agent.name == ""
//	    method: POST
//	    encoding: json
//	    date_format: "%Y-%m-%d %H:%M:%S"
//	    timezone: Europe/Kyiv
//	    hangup_causes: {busy: Busy, no_answer: "No Answer"}
//	    params:
//	      uniqueid: record.call_id
//	      start_at: date(record.started_at)
//	      status: cause(record.leave_reason)
//	    headers:
//	      X-Manager: record.custom.Manager ?? ""
//	    retry: {attempts: 3, schedule: exponential, interval: 30s, max_interval: 10m}
//	    timeout: 10s
//	    secrets: ["${CRM_SECRET}"]
//
// Unknown keys are rejected everywhere (with a "did you mean" hint for
// typos). The file is also checked against schemas/config.schema.json
// (JSON Schema draft 2020-12), which describes the same shape and is
// published with the other schemas. Durations are Go durations with a unit
// ("500ms", "30s", "10m", "1h30m"); a bare number such as 30 is rejected,
// because it does not say whether it means seconds or milliseconds.
//
// # Top-level keys
//
//   - store (string, default sqlite://cdrgw.db): where events, deliveries
//     and the attempt log live: sqlite://FILE (embedded, no server needed)
//     or postgres://USER:PASSWORD@HOST:PORT/DB (postgresql:// also accepted).
//   - listen (host:port, default 127.0.0.1:8080): the admin API, web UI,
//     HTTP ingest (POST /ingest/<source name>), /metrics, /healthz, /readyz.
//   - admin_token (string): the bearer token of the admin API and web UI.
//     Required unless listen's host is loopback (127.0.0.0/8, ::1 or
//     localhost); an empty host (":8080") listens everywhere and needs it.
//   - allow_private_targets (bool, default false): let webhooks reach
//     loopback, private (RFC 1918, fc00::/7) and link-local addresses.
//   - shutdown_timeout (duration, default 30s): how long a graceful stop may
//     take before in-flight attempts are released.
//   - max_body (bytes, default 1MiB): the largest HTTP ingest body: an
//     integer number of bytes or a string with a unit: B, KiB/K, MiB/M,
//     GiB/G (powers of 1024) or KB, MB, GB (powers of 1000), e.g. "512KiB".
//   - webhook_env (list of strings, default none): the environment
//     variables that webhooks created at run time (admin API, web console;
//     see ParseRuntimeWebhook) may read through ${NAME} and env("NAME"):
//     names, or patterns in which * stands for any run of characters and ?
//     for one ("CRM_*"). The webhooks of this file may read any variable.
//   - sources (list): the inputs, below.
//   - webhooks (list): the outputs, below.
//
// # Sources
//
// Every source has a name (unique among sources, letters, digits, '_', '.'
// and '-'; events carry it as source.name) and a type. Each type accepts
// only its own keys:
//
//   - type: teams — Teams contact-center CDR JSON, posted to
//     POST /ingest/<name>. token (optional): the bearer token the poster must
//     send ("Authorization: Bearer <token>"); without one any caller is
//     accepted, so set one when listen is reachable from other hosts.
//   - type: ari — Asterisk ARI. url (required): the base http(s) URL of
//     Asterisk's HTTP server, e.g. http://127.0.0.1:8088; username
//     (required) and password: the ARI user; app (required): the Stasis
//     application name.
//     ivr_contexts (dialplan contexts, glob patterns, in which a call is in
//     an IVR), ivr_apps (applications during which a call is in an IVR;
//     default Read, Background, WaitExten), ivr_variables (channel variables
//     that become IVR inputs), keep_variables (channel variables kept in
//     record.custom), max_call_duration (default 4h: a call with no end is
//     ended as incomplete after this long).
//   - type: hep — HEPv3 (and v2) from an SBC or proxy. listen (required):
//     the host:port to receive on, UDP and TCP (an empty host means every
//     interface); password: the HEP authentication key (chunk 14) packets
//     must carry; capture_ids: accept only these capture ids; local_networks
//     (IP prefixes or addresses) and local_domains (SIP domains) of the local
//     side, for call direction; max_call_duration (default 4h);
//     max_dialogs (default 200000: open dialogs held at most, the oldest
//     ended as incomplete).
//   - type: sip — mirrored plain SIP. listen (required), local_networks,
//     local_domains, max_call_duration and max_dialogs, as for hep.
//
// # Webhooks
//
//   - name (required): unique among webhooks, letters, digits, '_', '.' and
//     '-'; expressions see it as webhook.name.
//   - url (required): an absolute http:// or https:// URL. It may hold
//     {{ expression }} parts, rendered and query-escaped per event.
//   - events (required, at least one): the event types delivered: call.started,
//     call.answered, call.ended, queue.ended, ivr.ended, source.connected,
//     source.disconnected, webhook.failing, test. App.QueueWebhook,
//     App.IvrWebhook and App.TestWebhook are accepted as aliases of
//     queue.ended, ivr.ended and test. A type may be listed once.
//   - when: a filter expression that must give a bool; events for which it
//     is false are skipped.
//   - method: GET, POST, PUT or DELETE (default POST).
//   - encoding: query, form, json, xml or jsonrpc (default json); see
//     package mapping.
//   - date_format: how date() and times are written: strftime
//     ("%Y-%m-%d %H:%M:%S"), a Go layout ("2006-01-02 15:04"), unix,
//     unix_ms or rfc3339 (default rfc3339).
//   - timezone: the IANA time zone of date() (default UTC), e.g.
//     Europe/Kyiv.
//   - hangup_causes: the map cause(x) applies (values not in it pass
//     through unchanged); keys and values are strings (numbers allowed).
//   - params: parameter name → expression, sent in file order. Dotted names
//     nest in json and xml ("caller.number"). A number or boolean value is
//     taken as the expression it spells (5, true).
//   - headers: header name → expression; a value holding CR or LF fails the
//     delivery at render time.
//   - xml: {root: NAME}: the root element for encoding xml (default event).
//   - jsonrpc: {method: NAME}: the method for encoding jsonrpc (required
//     with it).
//   - active (bool, default true): false keeps the webhook but matches no
//     event.
//   - delay (duration, default 0s): wait before the first attempt.
//   - debounce (duration, default 0s = off): within this window a newer event
//     of the same type for the same call (the source name for source.*
//     events) replaces the older one, and the window restarts.
//   - retry: attempts (total attempts including the first, default 3, at
//     least 1); schedule: fixed (every wait is interval) or exponential
//     (interval, 2×, 4×, ..., default); interval (default 30s); max_interval
//     (the longest wait, default 10m, not shorter than interval); jitter (a
//     fraction 0..1 of random spread on each wait, default 0.1).
//     Network errors, timeouts, 408, 429 (honouring Retry-After) and 5xx are
//     retried; other 4xx end the delivery as failed.
//   - retry_on: extra 4xx statuses to retry, e.g. [409, 423].
//   - timeout (duration, default 10s): per-attempt timeout.
//   - secrets: Standard Webhooks signing secrets. whsec_<base64> (the
//     base64 must decode to a non-empty key; the whsec_ prefix is optional,
//     as in the Standard Webhooks reference libraries). Several sign at once during a rotation. Empty entries,
//     as left by an unset variable, are ignored; with none the webhook is
//     not signed.
//   - concurrency (default 4): attempts in flight at once for the webhook.
//   - ordered (bool, default false): deliver one event at a time per call,
//     in event order.
//   - failing_after (default 5): consecutive failed deliveries that raise a
//     webhook.failing event.
//   - pause_on_failing (bool, default false): also pause the webhook then.
//
// Expressions use expr (https://expr-lang.org) over event (id, type, time,
// source), record (the event's record, with the JSON names of package cdr)
// and webhook (name), with the functions date, cause and env. Each is
// compiled at load for every event type the webhook subscribes to; an error
// is reported at its path with the line and column inside the expression,
// and names the event type when it fails for only some of them:
//
//	cdrgw.yaml:14:21: webhooks[2].params.start_at: line 1, column 12: unknown name strat_at (event type ivr.ended)
//
// The file position points at the offending character when the expression
// is a single-line scalar without ${...}, at the start of the value
// otherwise.
//
// # Environment variables
//
// ${NAME} is replaced by the variable NAME; ${NAME:-default} by default
// when NAME is unset or empty. An unset variable without a default gives
// "" (so admin_token: ${CDRGW_ADMIN_TOKEN} is simply empty when unset). $$
// gives a literal $, and a $ not followed by { or $ is kept as is. NAME is
// letters, digits and '_', not starting with a digit; a ${ without its } on
// the same line is an error.
//
// Expansion happens in string values only — never in keys — after the
// YAML is parsed, so a variable's value is never read as YAML: a token
// holding ": " or "#" or "}" stays one string. Before parsing, the braces of
// every ${...} are swapped for two private-use characters (U+E000, U+E001,
// reserved for this and rejected in the file), so `token: ${TEAMS_TOKEN}`
// is one plain scalar even inside a flow mapping {...}, and line and column
// numbers are those of the file. An unquoted value that is only a variable
// takes the type its key needs: allow_private_targets: ${ALLOW} is a bool
// when ALLOW is true or false, concurrency: ${N} a number; quote it to keep a
// string. Expressions are expanded too; their error columns then refer to
// the expanded text. Inside a flow mapping a default must not hold , [ ] { }.
//
// YAML anchors, aliases and merge keys (<<) are supported; a file holds one
// document, and aliases may not expand to more than 100,000 values.
//
// # Errors
//
// Load returns an Errors (errors.As works with Errors and *Errors, and with
// *Error for the first one): every problem found, sorted by position, one per
// line, as `file:line:column: path: message`:
//
//	cdrgw.yaml:2:1: lisen: unknown key (did you mean "listen"?)
//	cdrgw.yaml:11:27: webhooks[0].events[1]: unknown event type "queue.end": want one of ...
//	cdrgw.yaml:15:15: webhooks[0].timezone: unknown time zone "Europe/Kyev": use an IANA name ...
//
// Paths use dots for keys and [i] for list items; a key holding anything but
// letters, digits, '_' and '-' is written ["caller.number"]. A problem is
// reported once: cdrgw's own checks come first, then the schema, then the
// expression compiler, and a later check's error at a path already reported
// is dropped. Tokens, passwords, admin_token and secrets never appear in an
// error, and URLs have any user:password part replaced by xxxxx.
//
// # One webhook
//
// ParseWebhook loads ONE webhook definition, an item of the webhooks list on
// its own, as YAML or JSON (webhooks created through the admin API and the
// console are stored as JSON). It runs the same checks as Load; its errors
// have no file, positions within the text given and paths relative to the
// webhook:
//
//	5:15: params.src: line 1, column 8: type cdr.Call has no field recrd
//	4:1: retyr: unknown key (did you mean "retry"?)
//
// # Webhooks created at run time
//
// A webhook created through the admin API or the console is written by
// whoever holds the admin token, who must not be able to read the gateway's
// own secrets (the store URL, ARI passwords) by naming them in ${NAME} or
// env("NAME") and looking at a preview or a test send. ParseRuntimeWebhook
// (used by internal/webhookset for every stored webhook, and for previews
// and test sends) therefore lets such a definition read only the variables
// of webhook_env. A ${NAME} of any other variable is an error at its path,
// and so is env("NAME") whose argument is a constant string (the pipe form
// "NAME" | env() included), at the expression's line and column:
//
//	4:11: secrets[0]: ${DB_PASSWORD}: not in webhook_env, the variables webhooks created at run time may read
//	4:20: headers.X-Key: line 1, column 5: env("DB_PASSWORD"): not in webhook_env, ...
//
// env() of a name computed at run time (env("DB_" + x)) compiles and returns
// "" for a variable outside webhook_env. A refused variable is never looked
// up. ParseWebhook, for definitions as trusted as the config file, reads any
// variable.
package config
