-- Refunds (docs/ARCHITECTURE.md, "Paying an invoice"): a refund is claimed in one unit of work
-- (the subscription locked, the rules checked, exactly the payment and amount to give back
-- recorded here), given back by the provider outside any unit under the key `<id>`, then
-- recorded in `refunds` under the same id, or released, in a second unit that deletes the
-- claim. At most one claim per subscription. `claimed_at` is the request's (test) clock time,
-- the refund's `created_at`; `claimed_at_system` is real time, by which the recovery job finds
-- claims a stopped process left behind.
CREATE TABLE refund_claims (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL,
    subscription_id    TEXT NOT NULL,
    invoice_id         TEXT NOT NULL,
    payment_id         TEXT NOT NULL,
    charge             TEXT NOT NULL,
    amount             BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    reason             TEXT NOT NULL,
    claimed_at         BIGINT NOT NULL,
    claimed_at_system  BIGINT NOT NULL
);
CREATE UNIQUE INDEX refund_claims_subscription ON refund_claims (subscription_id);
CREATE INDEX refund_claims_claimed ON refund_claims (claimed_at_system);

-- The sandbox provider's refunds by idempotency key: the refund's id, or why it was refused.
CREATE TABLE sandbox_refunds (
    idempotency_key  TEXT PRIMARY KEY,
    charge_id        TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    refund_id        TEXT,
    decline_code     TEXT,
    created_at       BIGINT NOT NULL
);
