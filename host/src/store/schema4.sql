-- Migration 4: recipients' receipts of what the gateway sent (first delivery, first read/play).

ALTER TABLE messages ADD COLUMN delivered_at INTEGER;
ALTER TABLE messages ADD COLUMN read_at INTEGER;
