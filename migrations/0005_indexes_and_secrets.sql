-- Indexes for the list query language (docs/query.md), for the documented fields that had none.
-- users.id (primary key), users.email, users.created_at and every audit_events field (action,
-- actor, subject, created_at) are indexed since 0001. `banned` compiles to
-- `banned_at IS NOT NULL`: this partial index holds only banned users, in the list's order
-- (created_at DESC, id DESC), so `banned:true` neither scans nor sorts every user.
CREATE INDEX users_banned ON users (created_at, id) WHERE banned_at IS NOT NULL;

-- Invoice and subscription lists filter within one organization: each documented field has an
-- index led by org_id (created_at has one since 0004), so counting a filtered list reads only
-- the matching index entries.
CREATE INDEX invoices_org_status ON invoices (org_id, status, total);
CREATE INDEX invoices_org_total ON invoices (org_id, total);
CREATE INDEX invoices_org_currency ON invoices (org_id, currency, created_at);
CREATE INDEX subscriptions_org_status ON subscriptions (org_id, status, created_at);
CREATE INDEX subscriptions_org_module ON subscriptions (org_id, module_id, created_at);

-- Idempotency: a running request is judged abandoned by real time (`claimed_at`, system clock),
-- not by the test clock, which may jump while it runs.
ALTER TABLE idempotency_keys ADD COLUMN claimed_at BIGINT;
-- Meaningful headers of the stored answer (Retry-After, Allow, Location), as a JSON list.
ALTER TABLE idempotency_keys ADD COLUMN headers TEXT;

-- Per-installation secrets (e.g. the key that hashes idempotent request bodies), made at first
-- start and shared by every process.
CREATE TABLE installation_secrets (
    name    TEXT PRIMARY KEY,
    secret  TEXT NOT NULL
);
