-- Mail after commit (issue 15): messages are written to the outbox inside
-- the change's transaction and delivered afterwards by a worker.
--   stored  : kept for staff to read (sites with email.kind "outbox")
--   pending : waiting for SMTP delivery (next_attempt: not before, micros)
--   sent    : delivered (sent_at)
--   dead    : given up after every retry (last_error says why)
ALTER TABLE email_outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'stored';
ALTER TABLE email_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE email_outbox ADD COLUMN next_attempt BIGINT;
ALTER TABLE email_outbox ADD COLUMN last_error TEXT;
UPDATE email_outbox SET state = 'sent' WHERE sent_at IS NOT NULL;
CREATE INDEX email_outbox_due ON email_outbox (state, next_attempt);

-- SQLite lets a non-integer PRIMARY KEY hold NULL unless it says NOT NULL;
-- PostgreSQL never does. Rebuild sessions so the two schemas agree (the
-- migration-parity test in tests/api/schema.rs compares them).
CREATE TABLE sessions_new (
    key_hash  TEXT    NOT NULL PRIMARY KEY,  -- hex SHA-256 of the sessionid cookie
    tenant    TEXT    NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created   BIGINT  NOT NULL,              -- seconds
    expires   BIGINT  NOT NULL               -- seconds
);
INSERT INTO sessions_new SELECT key_hash, tenant, user_id, created, expires FROM sessions WHERE key_hash IS NOT NULL;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);
