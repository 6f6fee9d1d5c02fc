-- Payments of invoices (docs/ARCHITECTURE.md, "Paying an invoice"): an attempt is claimed in one
-- unit of work, charged outside any under the idempotency key `<invoice_id>.<attempt>`, then
-- settled (recorded or released) in a second unit. At most one attempt of an invoice is
-- unsettled at a time. `purpose` (checkout | payment | renewal | retry) says what follows the
-- outcome; `claimed_at` lets the recovery job find attempts a stopped process left unsettled.
-- `outcome`: succeeded | declined (with `decline_code`).
CREATE TABLE payment_attempts (
    invoice_id    TEXT NOT NULL REFERENCES invoices (id),
    attempt       BIGINT NOT NULL,
    purpose       TEXT NOT NULL,
    claimed_at    BIGINT NOT NULL,
    settled_at    BIGINT,
    outcome       TEXT,
    decline_code  TEXT,
    PRIMARY KEY (invoice_id, attempt)
);
CREATE UNIQUE INDEX payment_attempts_unsettled ON payment_attempts (invoice_id) WHERE settled_at IS NULL;
CREATE INDEX payment_attempts_claimed ON payment_attempts (claimed_at) WHERE settled_at IS NULL;

-- Paying an invoice finds its subscriptions (the payment method kept for renewals, past-due
-- ones brought back) and their agreements; without these, each payment scanned every
-- subscription, which held purchases at ~450/s on SQLite.
CREATE INDEX subscriptions_invoice ON subscriptions (invoice_id);
CREATE INDEX agreements_subscription ON agreements (subscription_id);
