-- Commerce (7): the catalogue (modules, offers, coupons), price calculations, invoices,
-- subscriptions, payments, refunds, and the sandbox payment provider's state.
-- Money is a BIGINT in minor units beside a TEXT ISO 4217 currency. Invoices, subscriptions,
-- payments and refunds carry `org_id` without a foreign key: financial records outlive a
-- deleted organization.

CREATE TABLE modules (
    id           TEXT PRIMARY KEY,
    module_key   TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX modules_key ON modules (module_key);
CREATE INDEX modules_created_at ON modules (created_at);

-- `billing_interval`: month | year | once. Active while valid_from <= now < valid_until.
CREATE TABLE offers (
    id                  TEXT PRIMARY KEY,
    module_id           TEXT NOT NULL REFERENCES modules (id),
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    billing_interval    TEXT NOT NULL,
    valid_from          BIGINT NOT NULL,
    valid_until         BIGINT,
    refund_period_days  BIGINT NOT NULL,
    agreement_required  BIGINT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX offers_module ON offers (module_id, valid_from);

-- Exactly one of percent_off / amount_off (with currency). Redemptions are counted with a
-- conditional update at checkout.
CREATE TABLE coupons (
    id               TEXT PRIMARY KEY,
    code             TEXT NOT NULL,
    percent_off      BIGINT,
    amount_off       BIGINT,
    currency         TEXT,
    valid_until      BIGINT,
    max_redemptions  BIGINT,
    redemptions      BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX coupons_code ON coupons (code);

-- A quote: what it cost and what it was based on (offer and coupon fingerprints), valid
-- until `valid_until`, checked out at most once (`checked_out_at`, set conditionally).
CREATE TABLE price_calculations (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    currency            TEXT NOT NULL,
    subtotal            BIGINT NOT NULL,
    discount            BIGINT NOT NULL,
    tax                 BIGINT NOT NULL,
    total               BIGINT NOT NULL,
    tax_rate_ppm        BIGINT NOT NULL,
    coupon_id           TEXT,
    coupon_fingerprint  TEXT,
    created_at          BIGINT NOT NULL,
    valid_until         BIGINT NOT NULL,
    checked_out_at      BIGINT
);

CREATE TABLE price_calculation_lines (
    calculation_id     TEXT NOT NULL REFERENCES price_calculations (id) ON DELETE CASCADE,
    line_no            BIGINT NOT NULL,
    module_id          TEXT NOT NULL,
    offer_id           TEXT NOT NULL,
    offer_fingerprint  TEXT NOT NULL,
    unit_amount        BIGINT NOT NULL,
    quantity           BIGINT NOT NULL,
    amount             BIGINT NOT NULL,
    PRIMARY KEY (calculation_id, line_no)
);

-- `kind`: checkout | renewal. `status`: open | paid | void. Amounts never change after insert;
-- only status, paid_at and voided_at do.
CREATE TABLE invoices (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    currency              TEXT NOT NULL,
    subtotal              BIGINT NOT NULL,
    discount              BIGINT NOT NULL,
    tax                   BIGINT NOT NULL,
    total                 BIGINT NOT NULL,
    tax_rate_ppm          BIGINT NOT NULL,
    price_calculation_id  TEXT,
    coupon_id             TEXT,
    created_at            BIGINT NOT NULL,
    paid_at               BIGINT,
    voided_at             BIGINT
);
CREATE INDEX invoices_org ON invoices (org_id, created_at);
-- One invoice per calculation: a second checkout cannot create another.
CREATE UNIQUE INDEX invoices_price_calculation ON invoices (price_calculation_id);

-- `total_share`: the part of the invoice total this line bears (what a refund gives back).
CREATE TABLE invoice_lines (
    invoice_id       TEXT NOT NULL REFERENCES invoices (id),
    line_no          BIGINT NOT NULL,
    subscription_id  TEXT NOT NULL,
    module_id        TEXT NOT NULL,
    offer_id         TEXT NOT NULL,
    unit_amount      BIGINT NOT NULL,
    quantity         BIGINT NOT NULL,
    amount           BIGINT NOT NULL,
    total_share      BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);
CREATE INDEX invoice_lines_subscription ON invoice_lines (subscription_id);

-- `status`: pending | active | past_due | canceled | ended (the last two are final).
-- `invoice_id` is the invoice of the current (or first) period; `payment_method` the provider
-- reference renewals charge. `version` grows with every change the renewal job makes, which is
-- how a process claims a due subscription.
CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL,
    module_id             TEXT NOT NULL,
    offer_id              TEXT NOT NULL,
    quantity              BIGINT NOT NULL,
    status                TEXT NOT NULL,
    anchor_at             BIGINT,
    periods               BIGINT NOT NULL DEFAULT 0,
    current_period_start  BIGINT,
    current_period_end    BIGINT,
    cancel_at_period_end  BIGINT NOT NULL DEFAULT 0,
    invoice_id            TEXT NOT NULL,
    payment_method        TEXT,
    retry_count           BIGINT NOT NULL DEFAULT 0,
    next_retry_at         BIGINT,
    version               BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    ended_at              BIGINT
);
-- An organization has at most one live subscription per module, even when checkouts race.
CREATE UNIQUE INDEX subscriptions_live_module ON subscriptions (org_id, module_id)
    WHERE status NOT IN ('canceled', 'ended');
CREATE INDEX subscriptions_org ON subscriptions (org_id, created_at);
CREATE INDEX subscriptions_period_end ON subscriptions (status, current_period_end);
CREATE INDEX subscriptions_next_retry ON subscriptions (status, next_retry_at);

-- Successful payments only (a decline leaves no row). One per invoice.
CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL,
    invoice_id          TEXT NOT NULL REFERENCES invoices (id),
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    payment_method      TEXT NOT NULL,
    provider_reference  TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX payments_invoice ON payments (invoice_id);
CREATE INDEX payments_org ON payments (org_id, created_at);

-- Refunds are their own records; a subscription is refunded at most once.
CREATE TABLE refunds (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL,
    subscription_id     TEXT NOT NULL,
    invoice_id          TEXT NOT NULL REFERENCES invoices (id),
    payment_id          TEXT NOT NULL REFERENCES payments (id),
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    reason              TEXT NOT NULL,
    provider_reference  TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX refunds_subscription ON refunds (subscription_id);
CREATE INDEX refunds_org ON refunds (org_id, created_at);
CREATE INDEX refunds_invoice ON refunds (invoice_id);

-- The sandbox provider's state (never a card number): how a tokenised card behaves and how many
-- charges it took, and each charge by idempotency key.
CREATE TABLE sandbox_payment_methods (
    reference           TEXT PRIMARY KEY,
    behaviour           TEXT NOT NULL,
    successful_charges  BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL
);

CREATE TABLE sandbox_charges (
    idempotency_key  TEXT PRIMARY KEY,
    reference        TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    charge_id        TEXT,
    decline_code     TEXT,
    created_at       BIGINT NOT NULL
);
