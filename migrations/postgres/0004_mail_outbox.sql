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
