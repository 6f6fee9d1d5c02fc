-- The security review (issue 10): recovery holds, per-address start limits, purge indexes.

-- When the user last reset their passkeys (4.5). For `recovery_hold_secs` after it, every
-- organization that requires passkeys holds the user out (decided when a route is called, so
-- memberships and policies that begin during the hold are covered), and so do the operator
-- routes for a platform administrator.
ALTER TABLE users ADD COLUMN recovered_at BIGINT;

-- An owner ended one member's hold in one organization early, for the reset at `recovered_at`.
CREATE TABLE recovery_releases (
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recovered_at  BIGINT NOT NULL,
    released_by   TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, recovered_at)
);
CREATE INDEX recovery_releases_recovered ON recovery_releases (recovered_at);

-- Access tokens are held by a lock like the session that made them: `issued_under` is that
-- session's start, so a token minted while a lock commits is as old as its session.
ALTER TABLE access_tokens ADD COLUMN issued_under BIGINT;

-- Unauthenticated starts (sign-in, passkey sign-in, reset) per source address (IPv6 per /64)
-- in the current one-minute window.
CREATE TABLE start_limits (
    source        TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    starts        BIGINT NOT NULL
);
CREATE INDEX start_limits_window ON start_limits (window_start);

-- The jobs delete what has expired; these let them find it without a scan.
CREATE INDEX email_challenges_expires ON email_challenges (expires_at);
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);
CREATE INDEX send_quotas_window ON send_quotas (window_start);
CREATE INDEX code_lockouts_window ON code_lockouts (window_start);

-- The idempotency key now derives from the server key, outside the database.
DELETE FROM installation_secrets WHERE name = 'idempotency';
-- Queued mail is sealed under the server key from now on; sent rows leave the queue.
DELETE FROM mail_outbox WHERE sent_at IS NOT NULL;
