-- The data layer rebuilt for speed (issue: one round trip per request, a
-- cache that is never stale): an index for every lookup the code makes, and
-- the recovery address's case-insensitive key computed by the application
-- (SQLite's lower() folds ASCII only).

ALTER TABLE account_recovery ADD COLUMN secondary_email_key TEXT NOT NULL DEFAULT '';
UPDATE account_recovery SET secondary_email_key = lower(secondary_email);
CREATE INDEX account_recovery_secondary_email_key ON account_recovery (secondary_email_key);

CREATE INDEX retirement_status_original_username ON retirement_status (original_username);
CREATE INDEX retirement_status_original_email ON retirement_status (original_email);
CREATE INDEX retirement_status_state_created ON retirement_status (current_state_id, created);
CREATE INDEX retirement_status_last_state ON retirement_status (last_state_id);
CREATE INDEX partner_reporting_status_original_username ON partner_reporting_status (original_username);
CREATE INDEX oauth_clients_user ON oauth_clients (user_id);
CREATE INDEX org_tags_key_org ON org_tags (user_id, key);
