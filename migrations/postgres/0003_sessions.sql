-- Browser sessions (issue 11): the LMS session the micro-frontends refresh
-- their JWT cookies from. The cookie's value is never stored, only its
-- SHA-256; a session dies with its account's deactivation or retirement.
CREATE TABLE sessions (
    key_hash  TEXT    PRIMARY KEY,     -- hex SHA-256 of the sessionid cookie
    tenant    TEXT    NOT NULL,
    user_id   BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created   BIGINT  NOT NULL,        -- seconds
    expires   BIGINT  NOT NULL         -- seconds
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);
