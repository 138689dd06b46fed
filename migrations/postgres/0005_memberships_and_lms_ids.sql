-- The user record carries the user's org memberships (users/record.rs), so
-- a change to org_tags must drop every instance's cached copy of the user,
-- as a change to any other row of the record does (0002).
CREATE TRIGGER org_tags_notify AFTER INSERT OR UPDATE OR DELETE ON org_tags
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user_row();

-- `userapi import openedx`: the id the account had in the Open edX LMS it
-- was imported from (NULL for accounts made here). A second import finds
-- the account by it.
ALTER TABLE users ADD COLUMN lms_user_id BIGINT;
CREATE UNIQUE INDEX users_tenant_lms_user_id ON users (tenant, lms_user_id);
