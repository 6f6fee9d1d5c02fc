-- Foundation: users and their credentials, audit log, idempotency keys, the shared test clock.
-- Portable SQL: TEXT ids, BIGINT times (microseconds since the Unix epoch), 0/1 flags.

CREATE TABLE users (
    id                      TEXT PRIMARY KEY,
    email                   TEXT NOT NULL,
    display_name            TEXT,
    created_at              BIGINT NOT NULL,
    platform_admin          BIGINT NOT NULL DEFAULT 0,
    terms_accepted_version  TEXT,
    banned_at               BIGINT,
    ban_reason              TEXT,
    suspended_until         BIGINT,
    suspend_reason          TEXT,
    locked_at               BIGINT,
    passkeys_required       BIGINT NOT NULL DEFAULT 0,
    webauthn_handle         TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE UNIQUE INDEX users_webauthn_handle ON users (webauthn_handle);
CREATE INDEX users_created_at ON users (created_at);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    last_used_at      BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    auth_at           BIGINT NOT NULL,
    auth_method       TEXT NOT NULL,
    restricted        BIGINT NOT NULL DEFAULT 0,
    revoked_at        BIGINT
);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

CREATE TABLE access_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE UNIQUE INDEX access_tokens_token_hash ON access_tokens (token_hash);
CREATE INDEX access_tokens_user ON access_tokens (user_id, created_at);

CREATE TABLE audit_events (
    id              TEXT PRIMARY KEY,
    created_at      BIGINT NOT NULL,
    action          TEXT NOT NULL,
    actor           TEXT,
    subject         TEXT,
    details         TEXT NOT NULL DEFAULT '{}',
    request_id      TEXT,
    source_address  TEXT
);
CREATE INDEX audit_events_created_at ON audit_events (created_at);
CREATE INDEX audit_events_action ON audit_events (action, created_at);
CREATE INDEX audit_events_actor ON audit_events (actor, created_at);
CREATE INDEX audit_events_subject ON audit_events (subject, created_at);

-- One row per (caller, method, path, key). `state`: running | done | secret.
CREATE TABLE idempotency_keys (
    caller        TEXT NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    body_hash     TEXT NOT NULL,
    state         TEXT NOT NULL,
    status        BIGINT,
    content_type  TEXT,
    body          TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (caller, method, path, idem_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- The test clock's offset, shared by every process (only used with --dev).
CREATE TABLE dev_clock (
    id         BIGINT PRIMARY KEY,
    offset_us  BIGINT NOT NULL
);
INSERT INTO dev_clock (id, offset_us) VALUES (1, 0);
