-- The web console: events in pages (newest first, keyset paging on seq) by
-- caller, call id, type, source or time received.
--
-- Events get a sequence number in the order they were stored; adding the
-- column numbers the existing rows in table order (their insertion order,
-- give or take updates, which events never get).
ALTER TABLE events ADD COLUMN seq bigserial;
CREATE UNIQUE INDEX events_seq ON events (seq);
-- Each filter of ListEvents, newest first; (call_id, seq) and
-- (caller_number, seq) replace the single-column indexes.
DROP INDEX events_call_id;
DROP INDEX events_caller_number;
CREATE INDEX events_caller_number_seq ON events (caller_number, seq);
CREATE INDEX events_call_id_seq ON events (call_id, seq);
CREATE INDEX events_type_seq ON events (type, seq);
CREATE INDEX events_source_name_seq ON events (source_name, seq);
CREATE INDEX events_received_at ON events (received_at);
-- Outcomes reads attempts_webhook_at, one time range per webhook: no
-- index of its own, which would cost every attempt insert and which the
-- planner would take for RecentAttempts instead of attempts_webhook_at.
