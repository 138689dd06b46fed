-- Crypto-shredding (issue 14): personal values are sealed under a key of
-- their learner. users.key_id names it in the key store (a database apart
-- from this one); e-mail keys become keyed blind indexes; year_of_birth
-- holds sealed text (SQLite keeps any type; reads CAST it to TEXT).
ALTER TABLE users ADD COLUMN key_id TEXT;

-- What proves, at start, that each tenant's keyring is the one its data
-- was written with: a constant sealed under the KEK, an index of a constant.
CREATE TABLE tenant_key_checks (
    tenant      TEXT NOT NULL PRIMARY KEY,
    kek_id      TEXT NOT NULL,
    kek_check   TEXT NOT NULL,
    index_check TEXT NOT NULL
);

ALTER TABLE retirement_status ADD COLUMN original_email_key TEXT NOT NULL DEFAULT '';
DROP INDEX retirement_status_original_email;
CREATE INDEX retirement_status_original_email_key ON retirement_status (original_email_key);
