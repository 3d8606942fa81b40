-- Migration 3: what WhatsApp said about numbers — registered or not, and the LID it knows the
-- number by — kept beside the phone number.

CREATE TABLE contacts (
    session       TEXT NOT NULL,
    number        TEXT NOT NULL,
    on_whatsapp   INTEGER NOT NULL,
    lid           TEXT,
    checked_at    INTEGER NOT NULL,
    PRIMARY KEY (session, number)
);
