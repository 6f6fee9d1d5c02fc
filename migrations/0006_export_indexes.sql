-- The transactions export (docs/BENCHMARKS.md) reads payments and refunds of one organization in
-- (created_at, id) order. Covering indexes in that order let it read index entries only: no
-- lookup of each table row and no sort of rows that share a time. They replace the
-- (org_id, created_at) indexes of 0004, which they extend.
CREATE INDEX payments_org_export ON payments (org_id, created_at, id, status, invoice_id, amount, currency);
DROP INDEX payments_org;
CREATE INDEX refunds_org_export ON refunds (org_id, created_at, id, invoice_id, subscription_id, amount, currency);
DROP INDEX refunds_org;
