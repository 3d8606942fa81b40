-- Migration 6: webhook deliveries plugins asked for. A row is written before the plugin gets its
-- answer; the worker attempts it until it is delivered or the retry schedule runs out (failed:
-- the dead letter, kept until an admin retries it). Times are Unix milliseconds (UTC).

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,               -- msg_<base62>: the webhook-id, the same on every attempt
    session         TEXT NOT NULL,
    plugin          TEXT NOT NULL,                  -- who asked; its [plugins.NAME] table holds the secret
    url             TEXT NOT NULL,
    payload         TEXT NOT NULL,                  -- JSON, sent byte for byte as stored
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,     -- attempts finished since creation (or the last retry)
    next_attempt_at INTEGER,                        -- while pending: when the next attempt is due
    last_error      TEXT,
    last_status     INTEGER,                        -- the receiver's last HTTP status, if it answered
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    failed_at       INTEGER                         -- when it was dead-lettered
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (session, next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (session, failed_at, id) WHERE state = 'failed';
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (updated_at) WHERE state = 'delivered';
