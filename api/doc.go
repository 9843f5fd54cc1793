// Package api serves cdrgw's HTTP interface: the ingest endpoints
// (POST /ingest/teams), health (GET /healthz), readiness (GET /readyz, the
// store reachable), Prometheus metrics (GET /metrics), the admin API
// under /api/ and, when Options.Console is set, the web console at every
// other path.
//
// # Admin API
//
// Every /api/ request needs "Authorization: Bearer <admin_token>" (401
// {"error": ...} without it or with a wrong one). When admin_token is empty,
// which the config allows only when listen is a loopback address, the API is
// open to every local process; it then answers only requests whose Host is
// localhost or a loopback IP (421 otherwise, against DNS rebinding) and
// refuses writes a browser marks as cross-site (403). Answers are JSON; errors are
// {"error": "..."} with 400 (a bad parameter, named with its value), 401,
// 403 (editing a webhook of the config file), 404 (unknown delivery, event,
// webhook or path), 409 (a webhook name in use), 413 (a body over 1 MiB),
// 422 (a test send or preview whose record the webhook's filter rejects, or
// an expression failing on it) or 500.
//
//	GET    /api/webhooks                  webhooks with endpoint health, read_only, error
//	GET    /api/webhooks/{name}           the same and its definition ("spec"), created_at, updated_at
//	POST   /api/webhooks                  body: a definition (JSON) -> 201; stored, runs at once
//	PUT    /api/webhooks/{name}           body: its new definition, same name -> 200
//	DELETE /api/webhooks/{name}           -> 204; its deliveries stay in the store
//	POST   /api/webhooks/{name}/test      send a sample record once now; not stored
//	POST   /api/webhooks/{name}/pause     keep its deliveries pending
//	POST   /api/webhooks/{name}/resume
//	POST   /api/preview                   {"spec", "sample", "event_id"} -> the request it renders
//	POST   /api/preview/send              the same body; sends it once now, not stored -> the attempt
//	GET    /api/deliveries                ?webhook=&status=&event_type=&since=&until=&limit=&cursor=
//	GET    /api/deliveries/{id}           with its attempt log
//	POST   /api/deliveries/{id}/resend    one manual attempt, logged, never retried
//	GET    /api/events                    ?caller=&call_id=&type=&source=&since=&until=&limit=&cursor=
//	GET    /api/events/{id}               the stored event
//	GET    /api/sources                   each source: connected, since, last error, events last minute/hour
//
// The webhook, preview, events and sources endpoints exist when the gateway
// gives the handler what they need (Options.Webhooks, Events, Sources).
//
// # Webhook definitions
//
// A definition is one item of the config file's webhooks list as JSON,
// with the same keys, defaults and checks (see package config):
//
//	{"name": "crm", "url": "https://crm.example.com/calls", "events": ["call.ended"],
//	 "params": {"id": "record.call_id", "caller": "record.caller.number"},
//	 "retry": {"attempts": 5, "interval": "30s"}, "secrets": ["${CRM_SECRET}"]}
//
// params and headers keep their order; durations are strings; ${VAR} is
// expanded from the gateway's environment each time the definition loads,
// and a stored webhook whose definition no longer loads (a variable unset)
// is listed with "error" and does not run. Names are unique across the
// config file and the store. Webhooks of the config file are read-only
// (403). Answers show each secret as "•••" unless it is a ${VAR} reference;
// sending "•••" back at the same position keeps the stored secret. A
// definition that does not load answers 400 with every problem:
//
//	{"error": "2:27: params.src: line 1, column 8: type cdr.Call has no field recrd",
//	 "errors": [{"path": "params.src", "line": 2, "column": 27,
//	             "message": "line 1, column 8: type cdr.Call has no field recrd"}]}
//
// line and column are within the text sent (for the preview: within the
// value of "spec", which may also be a string holding YAML); the message
// starts with the expression's own line and column for expression errors.
// Gateways sharing a store pick up each other's changes within 5 s.
//
// POST /api/preview renders the record (the stored event event_id, else the
// sample of type sample, else the sample of the first subscribed type)
// exactly as the engine would send it, under delivery id "preview", with
// credentials hidden as in the attempt log (URL userinfo, secret query
// values, Authorization and other credential headers, secrets); the
// engine adds webhook-id, webhook-timestamp, webhook-signature and
// User-Agent when it sends.
//
// GET /api/deliveries lists newest first and pages by key: pass the answer's
// next_cursor as cursor until it is "". since and until (RFC 3339) bound the
// creation time (since inclusive, until exclusive); limit is 1 to 1000
// (default 100). Unknown parameters are rejected.
//
// Resend and test answer 200 with the attempt whatever the receiver said:
// "ok" tells whether it answered 2xx, "error" why not. A resend keeps the
// delivery's id (webhook-id), so receivers may drop it as a duplicate; it is
// logged with manual=true, does not count against the retry budget and, when
// it succeeds, marks the delivery delivered. A test send uses a fresh id
// and writes nothing to the store.
package api
