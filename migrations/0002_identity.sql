-- Identity: e-mail codes, lockouts and send quotas, passkeys and WebAuthn challenges, terms,
-- and the mail outbox for SMTP delivery.

-- A mailed code: sign-in, elevation, e-mail change or passkey reset.
CREATE TABLE email_challenges (
    id          TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    email       TEXT NOT NULL,
    user_id     TEXT,
    session_id  TEXT,
    code_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX email_challenges_email ON email_challenges (email, purpose);

-- Failed code verifications per address and kind; `failures` is reserved before a code is
-- evaluated, so parallel attempts can never evaluate more than the limit.
CREATE TABLE code_lockouts (
    email         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    locked_until  BIGINT,
    lock_level    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (email, kind)
);

-- Codes mailed per address and kind in the current window.
CREATE TABLE send_quotas (
    email         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    sent          BIGINT NOT NULL,
    PRIMARY KEY (email, kind)
);

CREATE TABLE passkeys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL,
    name           TEXT NOT NULL,
    passkey        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

-- A WebAuthn ceremony in progress: registration, sign-in, second factor or elevation.
CREATE TABLE webauthn_challenges (
    id          TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    user_id     TEXT,
    session_id  TEXT,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE terms (
    version       TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    published_at  BIGINT NOT NULL,
    published_by  TEXT
);
CREATE INDEX terms_published_at ON terms (published_at);

-- Messages waiting for the SMTP sender (the file transport writes directly).
CREATE TABLE mail_outbox (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    template    TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_try_at BIGINT NOT NULL,
    sent_at     BIGINT,
    last_error  TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_try_at);

ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
