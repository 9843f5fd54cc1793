// Package api serves cdrgw's HTTP interface: the ingest endpoints
// (POST /ingest/teams), health (GET /healthz), readiness (GET /readyz, the
// store reachable), Prometheus metrics (GET /metrics) and the admin API
// under /api/. The web console is added here by later work.
//
// # Admin API
//
// Every /api/ request needs "Authorization: Bearer <admin_token>" (401
// {"error": ...} without it or with a wrong one). When admin_token is empty,
// which the config allows only when listen is a loopback address, the API is
// open to every local process. Answers are JSON; errors are
// {"error": "..."} with 400 (a bad parameter, named with its value), 401,
// 404 (unknown delivery, event, webhook or path), 422 (a test send whose
// sample record the webhook's filter rejects) or 500.
//
//	GET  /api/webhooks                    webhooks with endpoint health
//	POST /api/webhooks/{name}/test        send a sample record once now; not stored
//	POST /api/webhooks/{name}/pause       keep its deliveries pending
//	POST /api/webhooks/{name}/resume
//	GET  /api/deliveries                  ?webhook=&status=&event_type=&since=&until=&limit=&cursor=
//	GET  /api/deliveries/{id}             with its attempt log
//	POST /api/deliveries/{id}/resend      one manual attempt, logged, never retried
//	GET  /api/events/{id}                 the stored event
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
