-- Migration 2: what arrives from WhatsApp, and the server's ack of what was sent.

CREATE TABLE inbound_messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    session       TEXT NOT NULL,
    wa_id         TEXT NOT NULL,
    chat          TEXT NOT NULL,                    -- JID of the chat (a user or a group)
    sender        TEXT NOT NULL,                    -- JID of who wrote it
    from_me       INTEGER NOT NULL,                 -- sent from the linked phone itself
    push_name     TEXT,
    text          TEXT,                             -- the text or caption, when there is one
    media_type    TEXT,
    sent_at       INTEGER NOT NULL,                 -- WhatsApp's timestamp
    received_at   INTEGER NOT NULL,
    UNIQUE (session, chat, sender, wa_id)           -- a redelivery is stored once
);

ALTER TABLE messages ADD COLUMN acked_at INTEGER;   -- when WhatsApp's server acknowledged the send
ALTER TABLE messages ADD COLUMN ack_error TEXT;     -- the server's refusal code, if it refused
CREATE INDEX messages_by_wa_id ON messages (wa_id);
