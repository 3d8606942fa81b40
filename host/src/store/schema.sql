-- wapi schema, migration 1. Times are Unix milliseconds (UTC). Every row belongs to a session.

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,                 -- the 8-character public id of wapi_<id>_<secret>
    session       TEXT NOT NULL DEFAULT 'default',
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    hash          BLOB NOT NULL,                    -- SHA-256 of the whole key; the secret is never stored
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,                          -- truncated to the minute
    revoked_at    INTEGER
);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- send order: the lowest queued id goes next
    session       TEXT NOT NULL,
    key_id        TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('text', 'image', 'document', 'audio', 'video')),
    recipient     TEXT NOT NULL,
    body          TEXT,                             -- the text, or the caption of a media message
    media_path    TEXT,
    media_mime    TEXT,
    media_name    TEXT,
    media_size    INTEGER,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    reason        TEXT,
    wa_id         TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    sent_at       INTEGER
);
CREATE INDEX messages_by_status ON messages (session, status, id);

CREATE TABLE message_history (
    message_id    INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    session       TEXT NOT NULL,                    -- the message's session
    status        TEXT NOT NULL,
    at            INTEGER NOT NULL,
    detail        TEXT
);
CREATE INDEX message_history_by_message ON message_history (message_id);

CREATE TABLE idempotency (
    session       TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    fingerprint   BLOB NOT NULL,                    -- SHA-256 of the request's content
    message_id    INTEGER NOT NULL,
    response      TEXT,                             -- the first answer's envelope, once given
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (key_id, idem_key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_at);

CREATE TABLE daily_counts (
    session       TEXT NOT NULL,
    day           TEXT NOT NULL,                    -- UTC date, YYYY-MM-DD
    accepted      INTEGER NOT NULL DEFAULT 0,
    sent          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, day)
);
