-- The security review (issue 10): recovery holds, per-address start limits, purge indexes.

-- When the user last reset their passkeys (4.5); a platform administrator is held for
-- `recovery_hold_secs` after it.
ALTER TABLE users ADD COLUMN recovered_at BIGINT;

-- A member recovered by mailbox alone, held out of an organization that requires passkeys
-- (4.5) until `held_until`, or until an owner ends the hold (the row is deleted).
CREATE TABLE recovery_holds (
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    held_until  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX recovery_holds_until ON recovery_holds (held_until);

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
