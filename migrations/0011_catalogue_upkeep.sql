-- Catalogue upkeep and organization deletion (issue 12). The same statements run on SQLite
-- and PostgreSQL: added columns are nullable and partial indexes exist on both.

-- An archived module stays listed and keeps its subscriptions, but has no active offer.
ALTER TABLE modules ADD COLUMN archived_at BIGINT;

-- A deleted coupon is kept (calculations and invoices name it) but takes no new use; its code
-- is free again, so only live coupons hold the code's uniqueness.
ALTER TABLE coupons ADD COLUMN deleted_at BIGINT;
DROP INDEX coupons_code;
CREATE UNIQUE INDEX coupons_live_code ON coupons (code) WHERE deleted_at IS NULL;
CREATE INDEX coupons_live_created ON coupons (created_at, id) WHERE deleted_at IS NULL;

-- A deleted organization keeps its row for its financial records (invoices, payments,
-- refunds, subscriptions name it); every organization route answers 404003 for it.
ALTER TABLE orgs ADD COLUMN deleted_at BIGINT;
