-- The data layer rebuilt for speed (issue: one round trip per request, a
-- cache that is never stale): an index for every lookup the code makes, the
-- recovery address's case-insensitive key computed by the application, and
-- NOTIFY triggers so every instance drops its cached copy of a user whose
-- rows change (whoever changed them).

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

-- The channel the application listens on (store/postgres.rs); the payload
-- is the user id. PostgreSQL folds equal payloads of one transaction.
CREATE FUNCTION userapi_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('userapi_users', OLD.id::text);
    ELSE
        PERFORM pg_notify('userapi_users', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION userapi_notify_user_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('userapi_users', OLD.user_id::text);
    ELSE
        PERFORM pg_notify('userapi_users', NEW.user_id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user();
CREATE TRIGGER profiles_notify AFTER INSERT OR UPDATE OR DELETE ON profiles
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user_row();
CREATE TRIGGER social_links_notify AFTER INSERT OR UPDATE OR DELETE ON social_links
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user_row();
CREATE TRIGGER language_proficiencies_notify AFTER INSERT OR UPDATE OR DELETE ON language_proficiencies
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user_row();
CREATE TRIGGER preferences_notify AFTER INSERT OR UPDATE OR DELETE ON preferences
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user_row();
CREATE TRIGGER pending_name_changes_notify AFTER INSERT OR UPDATE OR DELETE ON pending_name_changes
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user_row();
CREATE TRIGGER account_recovery_notify AFTER INSERT OR UPDATE OR DELETE ON account_recovery
    FOR EACH ROW EXECUTE FUNCTION userapi_notify_user_row();
