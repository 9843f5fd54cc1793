// Package delivery is cdrgw's delivery engine: it signs, sends, times out,
// classifies, retries and logs webhook requests, and tracks endpoint health.
//
// # Attempts and ids
//
// Every delivery has an id made by NewID ("dlv_" and a 26-character,
// time-sortable ULID-like string). It is sent as webhook-id on every attempt
// so that a receiver can drop duplicates: delivery is at-least-once.
//
// # Signing
//
// Requests are signed the Standard Webhooks way (https://www.standardwebhooks.com/):
// webhook-id, webhook-timestamp (unix seconds of the attempt) and
// webhook-signature, "v1,<base64 HMAC-SHA256 of id.timestamp.body>". Secrets
// are written whsec_<base64> (the prefix is optional; the key is the decoded
// bytes). During a rotation a webhook lists several secrets and every
// request carries one signature per secret, separated by spaces, so a
// receiver holding either the old or the new secret accepts it.
//
// # Classification
//
// Classify decides each attempt in one place:
//
//	2xx                         delivered
//	network error, TLS error    retry   (network, tls)
//	per-attempt timeout, 408    retry   (timeout)
//	429                         retry   (rate_limited), Retry-After honoured
//	5xx                         retry   (server), Retry-After honoured
//	3xx                         failed  (redirect): redirects are never followed,
//	                            a moved endpoint must be configured, not guessed
//	410                         failed  (gone): the caller pauses the webhook
//	other 4xx, anything else    failed  (client)
//	refused target address      failed  (forbidden), no retry
//	unbuildable request         failed  (invalid), no retry
//
// A status in the webhook's retry-on list is retried whatever its class (a
// listed 410 is then an ordinary client error and does not pause). Retry-After
// is read as delay seconds or an HTTP date; a past or negative value means
// now and a value beyond MaxRetryAfter (1 h) is capped.
//
// # Retry schedule
//
// A webhook's retry block gives the total number of attempts (default 3) and
// a Backoff: fixed (Interval between attempts) or exponential (Interval ·
// 2^(n-1) after attempt n), spread by ±Jitter and capped at MaxInterval. The
// next attempt is due at the later of the schedule and Retry-After
// (NextAttemptAt). Policies take the time as an argument; nothing sleeps.
//
// # Timeouts
//
// Each attempt runs under context.WithTimeoutCause with the webhook's
// timeout (DefaultTimeout when unset), so the logged error says
// "configured webhook timeout reached (10s)". The transport sets only
// connection-level limits.
//
// # Target guard
//
// Unless allow_private_targets is true, the dialer refuses loopback,
// private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
// carrier-grade NAT (100.64/10), unspecified, multicast and reserved
// addresses, also in IPv4-mapped IPv6 form. The check runs on the resolved
// address at connect time, so DNS rebinding cannot bypass it. With the guard
// on, proxies from the environment are ignored (the guard would see only the
// proxy); with it off, HTTPS_PROXY and friends apply.
//
// # Attempt log
//
// Every attempt yields an AttemptResult: the request as sent (URL, headers,
// up to MaxLoggedRequestBody of body), the response status, headers and the
// first MaxLoggedBody (4 KiB) of its body, latency and error. Authorization,
// cookies, X-Api-Key and webhook-signature are always redacted, and so is
// every occurrence of a signing secret or a string the caller lists in
// Request.Redact. Logged bodies are valid UTF-8 without NUL bytes. After the
// prefix up to MaxDrain more is read and dropped so the connection can be
// reused.
//
// # Engine
//
// Engine.Accept stores an event with one delivery per active webhook that
// subscribes to its type and whose filter accepts it, in one transaction,
// before returning; inactive webhooks and false filters enqueue nothing. A
// record that fails to render still gets its delivery, which then fails
// with the render error in its attempt log (retrying cannot help).
//
// The engine claims due deliveries per webhook, when it knows some may be
// due: an accept or a result wakes it for the webhook at the time its
// deliveries fall due (at once, or after a delay, a debounce window or a
// retry interval; a finished ordered delivery lets the next of its key go
// at once), so a retry goes out on time and a finished attempt costs no
// claim that finds nothing. Every Options.PollInterval (default 250 ms) it
// also claims for every webhook, for what it cannot know of: another
// replica's accepts and leases that ran out. A claim takes no more than
// the webhook's free concurrency slots (default 4) within the engine's free
// workers (default 64), so a webhook whose endpoint hangs holds only its own
// slots. While a webhook has a backlog (its latest claim came back full) and
// its latest attempt succeeded, it also claims ahead: up to twice its
// concurrency more is leased and queued, so that a worker that finishes an
// attempt starts the next at once instead of waiting for a claim's round
// trips. A failing or hanging endpoint never claims ahead, and while
// attempts of a webhook whose latest attempt failed are running it claims
// only once half its slots are free: a hanging endpoint's attempts end in
// waves at its timeout, and one claim per wave instead of one per freed
// slot keeps its claims from taking the store from healthy webhooks. Such a
// webhook also starts its attempts one every latency/concurrency (the
// latest failed attempt's latency), the rate its slots allow anyway, but
// spread: a hanging endpoint's attempts would otherwise start together and
// end together at the timeout, and each wave of reconnections and failed
// results would hold up the healthy webhooks for a moment. The results of
// failed attempts are held for up to 50 ms and written with the next batch
// of other results, so a failing endpoint costs the store no writes of its
// own while other webhooks deliver. A queued job
// starts only while its lease still covers the webhook's timeout
// and half the lease's margin, else it is released; queued jobs of a
// webhook that is paused or removed, and all of them at Stop, are released
// unattempted too. A store that implements ConcurrentClaimer (PostgreSQL)
// gets that many claims of one webhook at once and as many loops writing
// results; SQLite, with its single writer, gets one of each.
//
// Each claim call leases under its own token (Options.Owner#n): a result
// that arrives after its lease expired and was claimed again, even by the
// same process, is logged but cannot change the newer attempt's delivery.
// The token also recovers a claim whose answer was lost (the store
// committed it, then the connection was cut): when a claim returns an
// error, the engine gives back whatever its token holds (store
// ReleaseOwner) a second after the error, once the store answers, and
// claims nothing more for that webhook until then; Stop hands such tokens
// to the result writers. Their deliveries are due again at once instead of
// waiting for the lease to expire.
// A claim's lease lasts Options.Lease, or the claimed webhook's timeout plus
// LeaseMargin when Options.Lease is unset or not longer than that timeout;
// results are written in batches and, while the store is down, retried (20
// tries with backoff): what is never written comes back when its lease
// expires, so delivery stays at-least-once. Claims use Options.Now, so a
// test clock makes retries due without sleeping.
//
// # Webhooks at run time
//
// PutWebhook adds a webhook or replaces the one of the same name, before
// Start or while the engine runs; RemoveWebhook removes one. The engine
// keeps its webhooks in an immutable set that each change replaces whole
// (copy on write), so Accept, the claim loop, Webhooks, Webhook, Health,
// SetPaused, Resend and TestSend read it without locks and see a change at
// once. A replacement is a new definition sharing the old one's state:
// health, failure streak, paused state and concurrency slots carry over,
// attempts in flight finish with the old definition, and new attempts use
// the new one. A webhook added under a new name (or again after a removal)
// loads its paused state and recent health from the store.
//
// Deliveries of a webhook that is not (or no longer) configured are never
// claimed (claims are per configured webhook; a claim that raced with a
// removal is released unattempted) and Accept makes none for it: they stay
// pending, are listed by the API, and go out if a webhook of that name is
// added again. TestWebhook sends one event through a definition that is not
// registered, storing nothing.
//
// Failures: every failed attempt that reached the network counts towards
// the webhook's consecutive failures; the FailingAfter-th in a row (default
// 5) raises a webhook.failing event once per streak (a success or a resume
// ends the streak), which other webhooks may subscribe to; with
// PauseOnFailing the webhook is paused too. A 410 Gone pauses the webhook at
// once and raises webhook.failing. A paused webhook keeps its deliveries
// pending until resumed.
//
// Stop stops claiming, lets attempts in flight finish and, shortly before
// its deadline, cancels the rest: a canceled in-flight attempt is logged
// ("gateway stopping"), is not counted in health or failures, and its
// delivery is due again at once (it does count as an attempt); a claimed job
// not yet sent is released (store Release) without an attempt. Stop then
// writes the results until its deadline and returns when every goroutine it
// started is gone.
//
// # Health
//
// Health keeps the last HealthWindow (100) attempts of an endpoint: success
// rate, average and p95 latency (failures included), last status and the
// number of consecutive failures.
package delivery
