-- `userapi import openedx`: the id the account had in the Open edX LMS it
-- was imported from (NULL for accounts made here). A second import finds
-- the account by it. (PostgreSQL's 0005 also adds a NOTIFY trigger on
-- org_tags; SQLite has one process, whose store tells the cache itself.)
ALTER TABLE users ADD COLUMN lms_user_id BIGINT;
CREATE UNIQUE INDEX users_tenant_lms_user_id ON users (tenant, lms_user_id);
