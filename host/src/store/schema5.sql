-- Migration 5: each plugin's small key-value store, one namespace per plugin; the host caps its
-- size (keys and values together) in the same transaction as every write.

CREATE TABLE plugin_kv (
    session     TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (session, plugin, key)
);
