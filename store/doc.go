// Package store is cdrgw's durable outbox: the events it accepted, one
// delivery row per (event, webhook), the attempt log, paused webhooks and
// webhooks created through the API. store/sqlite (the default, one file in
// WAL mode) and store/postgres (pgx, shareable by several gateway replicas)
// implement Store; store/storetest is the conformance suite both pass, and
// store/storeurl opens either from the config's store URL.
//
// # Outbox
//
// Accept stores a batch of events and their deliveries in one transaction:
// either all of it is durable or none of it is, and only then may the source
// be acknowledged. An event id is derived from the record, so storing the
// same record twice is a no-op (Accept reports it as not new and adds none
// of its deliveries) unless NewEvent.Force asks for the deliveries anyway
// (replay --force, resend). Every delivery starts pending with
// next_attempt_at = NotBefore (the webhook's delay), and ends delivered,
// failed (a final answer such as most 4xx) or dead (retries exhausted).
// Deliveries carry a sequence number in insertion order; ListDeliveries
// pages newest first by that number (keyset paging: a cursor is the last
// sequence number seen, so rows added while paging cause no gaps or repeats).
//
// # Leasing
//
// A worker takes work with Claim: pending deliveries whose next_attempt_at
// has come, oldest first, each leased to the caller's owner id until
// Now+Lease. On PostgreSQL the claim is one UPDATE over a SELECT ... FOR
// UPDATE SKIP LOCKED, so replicas claiming at once get disjoint sets; on
// SQLite all writes go through one connection, so claims are serial. Finish
// records each attempt and moves the delivery to its new status, clearing
// the lease, in one transaction per batch; it changes a delivery only when
// the result's owner still holds the lease and the delivery is still
// pending, so a worker whose lease expired and was taken over by another
// logs its attempt but cannot overwrite the newer owner's outcome. A lease
// is only a time limit: if its owner crashes, the delivery becomes claimable
// again when the lease runs out, so nothing acknowledged is lost and a
// delivery may be sent more than once (at-least-once; receivers drop
// duplicates by the stable delivery id). On SQLite a claim also moves
// next_attempt_at to the end of the lease, so leased rows leave the head of
// the queue; while a delivery is leased its NextAttemptAt is therefore not
// meaningful. On PostgreSQL a claim leaves next_attempt_at alone, so that
// the row is updated in place without new index entries (a HOT update; the
// table keeps half of each page free for it); instead each store remembers
// where the last full claim of a webhook ended and starts the next claim of
// that webhook there, going back to the head of the queue after a claim that
// was not full, at least once a second, and for ordered deliveries. A lease
// that ran out is therefore taken again within about a second of running
// out. AddAttempt logs a manual attempt (resend, test send) without
// touching the schedule or the attempt count, and marks the delivery
// delivered when it succeeded.
//
// # Debounce
//
// A NewDelivery with Debounce set replaces the latest pending debounced
// delivery of the same (webhook, event type, key) that was never attempted
// and never leased: that row takes the new event id and the new NotBefore
// (latest wins; the window restarts) and no row is added. Once a delivery
// has been claimed or attempted it is never replaced, and the new event gets
// a row of its own. Within one Accept batch the events are applied in order.
//
// # Ordering
//
// A delivery with Ordered set is not claimed while an earlier (lower
// sequence number) delivery of the same webhook and key is still pending,
// whether that one is waiting for a retry or leased; it becomes claimable
// once the earlier one is delivered, failed or dead. Deliveries of other
// keys, and unordered deliveries, are not held.
//
// # Console queries
//
// Events carry a sequence number in storage order; ListEvents pages newest
// first by it (keyset, like ListDeliveries) and filters time by received_at.
// Outcomes counts attempts per webhook and time bucket (a 2xx without error
// is OK; manual attempts count). Every query the console runs is checked by
// EXPLAIN tests on both stores to use an index, never a full table scan.
//
// # Times
//
// Times are stored in UTC with microsecond precision (SQLite: INTEGER unix
// microseconds; PostgreSQL: timestamptz) and returned in UTC. created_at,
// updated_at and received_at come from the store's clock; the claim clock
// is ClaimParams.Now, so schedules can be tested without sleeping.
package store
