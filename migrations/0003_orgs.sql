-- Organizations: members with roles, invitations, agreements and the passkey policy.

CREATE TABLE orgs (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    country            TEXT NOT NULL,
    billing_email      TEXT,
    passkeys_required  BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    created_by         TEXT NOT NULL
);

CREATE TABLE memberships (
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role             TEXT NOT NULL,
    legal_signatory  BIGINT NOT NULL DEFAULT 0,
    joined_at        BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- `status`: pending | accepted | declined | revoked. Accepting is one conditional update.
CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    status       TEXT NOT NULL,
    invited_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    answered_at  BIGINT,
    answered_by  TEXT
);
CREATE INDEX invitations_org ON invitations (org_id, created_at);
CREATE INDEX invitations_email ON invitations (email, status);

-- Agreements an organization must sign (created by checkout); `status`: pending | signed.
CREATE TABLE agreements (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    module_id        TEXT,
    subscription_id  TEXT,
    title            TEXT NOT NULL,
    body             TEXT NOT NULL,
    text_hash        TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    signed_by        TEXT,
    signed_at        BIGINT
);
CREATE INDEX agreements_org ON agreements (org_id, created_at);
