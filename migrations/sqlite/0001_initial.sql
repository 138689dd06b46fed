-- The whole data model of userapi (SQLite). Every user-owned row hangs off
-- users(id); every user belongs to exactly one tenant. Timestamps are
-- integer microseconds since the Unix epoch (UTC) on both backends;
-- booleans are integers 0/1 (sqlx's Any driver reads no SQLite BOOLEAN).

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant           TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    username_key     TEXT    NOT NULL, -- Unicode-lowercased username: uniqueness is case-insensitive
    email            TEXT    NOT NULL,
    email_key        TEXT    NOT NULL, -- lowercased e-mail
    password_hash    TEXT    NOT NULL, -- argon2id PHC string, Django pbkdf2_sha256$..., or "!..." (unusable)
    is_active        INTEGER NOT NULL DEFAULT 0,
    is_staff         INTEGER NOT NULL DEFAULT 0,
    is_superuser     INTEGER NOT NULL DEFAULT 0,
    date_joined      BIGINT  NOT NULL,
    last_login       BIGINT,
    tokens_revoked_at BIGINT,          -- seconds; tokens issued at or before it are refused
    login_failures   INTEGER NOT NULL DEFAULT 0,
    locked_until     BIGINT,
    UNIQUE (tenant, username_key),
    UNIQUE (tenant, email_key)
);

CREATE TABLE user_permissions (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT    NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE profiles (
    user_id            INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    name               TEXT    NOT NULL DEFAULT '',
    meta               TEXT    NOT NULL DEFAULT '{}', -- JSON object: extended profile values, old_names, old_emails
    language           TEXT    NOT NULL DEFAULT '',
    location           TEXT    NOT NULL DEFAULT '',
    city               TEXT,
    year_of_birth      INTEGER,
    gender             TEXT,
    level_of_education TEXT,
    mailing_address    TEXT,
    goals              TEXT,
    country            TEXT,
    state              TEXT,
    bio                TEXT,
    phone_number       TEXT,
    profile_image_uploaded_at BIGINT
);

CREATE TABLE social_links (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform    TEXT    NOT NULL,
    social_link TEXT    NOT NULL,
    UNIQUE (user_id, platform)
);

CREATE TABLE language_proficiencies (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code    TEXT    NOT NULL,
    UNIQUE (user_id, code)
);

CREATE TABLE preferences (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    UNIQUE (user_id, key)
);

CREATE TABLE pending_email_changes (
    user_id        INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    new_email      TEXT    NOT NULL,
    activation_key TEXT    NOT NULL UNIQUE,
    created        BIGINT  NOT NULL
);

CREATE TABLE pending_secondary_email_changes (
    user_id             INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    new_secondary_email TEXT    NOT NULL,
    activation_key      TEXT    NOT NULL UNIQUE,
    created             BIGINT  NOT NULL
);

-- Confirmed secondary (recovery) address: Open edX AccountRecovery.
CREATE TABLE account_recovery (
    user_id         INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secondary_email TEXT    NOT NULL,
    is_active       INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE pending_name_changes (
    user_id   INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    new_name  TEXT    NOT NULL,
    rationale TEXT    NOT NULL DEFAULT '',
    created   BIGINT  NOT NULL
);

-- Open edX UserOrgTag: e-mail opt-in and other per-organisation tags.
CREATE TABLE org_tags (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org      TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    created  BIGINT  NOT NULL,
    modified BIGINT  NOT NULL,
    UNIQUE (user_id, org, key)
);

-- Derived from each tenant's `retirement.states` site config.
CREATE TABLE retirement_states (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant                TEXT    NOT NULL,
    state_name            TEXT    NOT NULL,
    state_execution_order INTEGER NOT NULL,
    is_dead_end_state     INTEGER NOT NULL,
    required              INTEGER NOT NULL,
    UNIQUE (tenant, state_name)
);

CREATE TABLE retirement_status (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    original_username TEXT    NOT NULL,
    original_email    TEXT    NOT NULL,
    original_name     TEXT    NOT NULL,
    retired_username  TEXT    NOT NULL,
    retired_email     TEXT    NOT NULL,
    current_state_id  INTEGER NOT NULL REFERENCES retirement_states(id),
    last_state_id     INTEGER NOT NULL REFERENCES retirement_states(id),
    responses         TEXT    NOT NULL DEFAULT '',
    orgs              TEXT    NOT NULL DEFAULT '[]', -- JSON array: org tags snapshotted at request time
    created           BIGINT  NOT NULL,
    modified          BIGINT  NOT NULL
);

-- Permanent "this user asked to be retired" marker.
CREATE TABLE retirement_requests (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    created  BIGINT  NOT NULL,
    modified BIGINT  NOT NULL
);

CREATE TABLE partner_reporting_status (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    original_username  TEXT    NOT NULL,
    original_email     TEXT    NOT NULL,
    original_name      TEXT    NOT NULL,
    orgs               TEXT    NOT NULL DEFAULT '[]',
    is_being_processed INTEGER NOT NULL DEFAULT 0,
    created            BIGINT  NOT NULL,
    modified           BIGINT  NOT NULL
);

CREATE TABLE oauth_clients (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant             TEXT    NOT NULL,
    client_id          TEXT    NOT NULL,
    client_secret_hash TEXT    NOT NULL,
    user_id            INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created            BIGINT  NOT NULL,
    UNIQUE (tenant, client_id)
);

-- Outgoing mail for sites whose `email.kind` is "outbox" (and a record of every send).
CREATE TABLE email_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT    NOT NULL,
    site       TEXT    NOT NULL,
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    to_address TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created    BIGINT  NOT NULL,
    sent_at    BIGINT
);
CREATE INDEX email_outbox_user ON email_outbox (user_id);

-- Who changed what on which account. Values of PII fields are never stored here.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT    NOT NULL,
    user_id       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action        TEXT    NOT NULL,
    field         TEXT,
    old_value     TEXT,
    new_value     TEXT,
    created       BIGINT  NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (user_id);
