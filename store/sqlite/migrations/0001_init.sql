-- Times are INTEGER unix microseconds, UTC.
CREATE TABLE events (
	id            TEXT PRIMARY KEY,
	type          TEXT NOT NULL,
	time          INTEGER NOT NULL,
	source_kind   TEXT NOT NULL,
	source_name   TEXT NOT NULL,
	record_id     TEXT NOT NULL,
	call_id       TEXT NOT NULL,
	caller_number TEXT NOT NULL,
	body          TEXT NOT NULL,
	received_at   INTEGER NOT NULL
);
CREATE INDEX events_call_id ON events (call_id);
CREATE INDEX events_caller_number ON events (caller_number);

CREATE TABLE deliveries (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT NOT NULL UNIQUE,
	webhook         TEXT NOT NULL,
	event_id        TEXT NOT NULL REFERENCES events (id),
	event_type      TEXT NOT NULL,
	key             TEXT NOT NULL,
	status          TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	lease_owner     TEXT,
	lease_until     INTEGER,
	ordered         INTEGER NOT NULL DEFAULT 0,
	debounce        INTEGER NOT NULL DEFAULT 0
);
-- Claim: pending deliveries in due order.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, seq) WHERE status = 'pending';
-- Ordering and debounce: pending deliveries of a webhook and key.
CREATE INDEX deliveries_pending_key ON deliveries (webhook, key, seq) WHERE status = 'pending';
-- Listing, newest first, by each filter.
CREATE INDEX deliveries_webhook_seq ON deliveries (webhook, seq);
CREATE INDEX deliveries_status_seq ON deliveries (status, seq);
CREATE INDEX deliveries_event_type_seq ON deliveries (event_type, seq);
CREATE INDEX deliveries_event_id ON deliveries (event_id);

CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	delivery_id TEXT NOT NULL REFERENCES deliveries (id),
	webhook     TEXT NOT NULL,
	n           INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	manual      INTEGER NOT NULL DEFAULT 0,
	request     TEXT NOT NULL,
	response    TEXT,
	latency_ms  INTEGER NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, n);
CREATE INDEX attempts_webhook_at ON attempts (webhook, at DESC, id DESC);

CREATE TABLE webhook_state (
	name   TEXT PRIMARY KEY,
	paused INTEGER NOT NULL
);

CREATE TABLE webhooks (
	name       TEXT PRIMARY KEY,
	spec       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
