CREATE TABLE events (
	id            text PRIMARY KEY,
	type          text NOT NULL,
	time          timestamptz NOT NULL,
	source_kind   text NOT NULL,
	source_name   text NOT NULL,
	record_id     text NOT NULL,
	call_id       text NOT NULL,
	caller_number text NOT NULL,
	body          json NOT NULL,
	received_at   timestamptz NOT NULL
);
CREATE INDEX events_call_id ON events (call_id);
CREATE INDEX events_caller_number ON events (caller_number);

CREATE TABLE deliveries (
	seq             bigserial PRIMARY KEY,
	id              text NOT NULL UNIQUE,
	webhook         text NOT NULL,
	event_id        text NOT NULL REFERENCES events (id),
	event_type      text NOT NULL,
	key             text NOT NULL,
	status          text NOT NULL,
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	last_error      text NOT NULL DEFAULT '',
	lease_owner     text,
	lease_until     timestamptz,
	ordered         boolean NOT NULL DEFAULT false,
	debounce        boolean NOT NULL DEFAULT false
) WITH (fillfactor = 80); -- room for HOT updates when a claim sets the lease
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
	id          bigserial PRIMARY KEY,
	delivery_id text NOT NULL REFERENCES deliveries (id),
	webhook     text NOT NULL,
	n           integer NOT NULL,
	at          timestamptz NOT NULL,
	manual      boolean NOT NULL DEFAULT false,
	request     json NOT NULL,
	response    json,
	latency_ms  bigint NOT NULL DEFAULT 0,
	error       text NOT NULL DEFAULT ''
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, n);
CREATE INDEX attempts_webhook_at ON attempts (webhook, at DESC, id DESC);

CREATE TABLE webhook_state (
	name   text PRIMARY KEY,
	paused boolean NOT NULL
);

CREATE TABLE webhooks (
	name       text PRIMARY KEY,
	spec       json NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
