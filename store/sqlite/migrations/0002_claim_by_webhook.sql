-- Claim of one webhook (the engine claims per webhook): its pending
-- deliveries in due order, without walking past other webhooks' due
-- backlog in deliveries_due (kept for claims of every webhook).
CREATE INDEX deliveries_due_webhook ON deliveries (webhook, next_attempt_at, seq) WHERE status = 'pending';
