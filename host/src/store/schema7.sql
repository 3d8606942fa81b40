-- Migration 7: the plugins' events hook reads message events from the database, not only from the
-- in-memory bus, so a crash cannot lose one. `event_cursors` holds how far it has handed events
-- on ('history': message_history rowids; 'inbound': inbound_messages ids). A delivery a plugin asks
-- for while handling an event carries that event's `origin` (e.g. 'h42#0': history row 42, first
-- delivery asked for); handing the same event on again after a crash finds the same row, so the
-- receiver sees the same webhook-id and can drop the repeat.

CREATE TABLE event_cursors (
    session       TEXT NOT NULL,
    name          TEXT NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (session, name)
);

ALTER TABLE webhook_deliveries ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX webhook_deliveries_by_origin ON webhook_deliveries (session, plugin, origin) WHERE origin IS NOT NULL;
