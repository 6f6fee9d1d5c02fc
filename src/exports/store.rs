//! The SQL of the transactions export: one statement, read two ways (see `transactions.rs`).

use super::Range;
use crate::db::{Db, FromRecord, Record, UnitError};

/// Payments that succeeded and refunds (negative amounts) of one organization in a time range,
/// oldest first (ties by id), after a keyset position (`$4`, `$5`), at most `$6` rows.
/// Both arms are range scans of covering indexes in `(org_id, created_at, id)` order, starting
/// at the keyset position; the ids of the two tables never collide (`pay_…`, `rf_…`), so
/// `(created_at, id)` orders the union totally.
pub(super) const TRANSACTIONS_SQL: &str = "
    SELECT created_at, 'payment' AS kind, id, invoice_id, '' AS subscription_id, amount, currency
      FROM payments
     WHERE org_id = $1 AND status = 'succeeded' AND created_at >= $2 AND created_at < $3
       AND created_at >= $4 AND (created_at > $4 OR id > $5)
    UNION ALL
    SELECT created_at, 'refund' AS kind, id, invoice_id, subscription_id, -amount AS amount, currency
      FROM refunds
     WHERE org_id = $1 AND created_at >= $2 AND created_at < $3
       AND created_at >= $4 AND (created_at > $4 OR id > $5)
    ORDER BY created_at, id
    LIMIT $6";

/// One exported row, owned (the paged reader).
pub(super) struct TransactionRow {
    pub(super) at: i64,
    pub(super) kind: String,
    pub(super) id: String,
    pub(super) invoice_id: String,
    pub(super) subscription_id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
}

impl FromRecord for TransactionRow {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        let text = |column: &str| Ok::<_, UnitError>(r.opt_text(column)?.unwrap_or_default());
        Ok(TransactionRow {
            at: r.int("created_at")?,
            kind: text("kind")?,
            id: text("id")?,
            invoice_id: text("invoice_id")?,
            subscription_id: text("subscription_id")?,
            amount: r.int("amount")?,
            currency: text("currency")?,
        })
    }
}

/// Up to `limit` rows after the keyset position `after` (`(created_at, id)` of the last row
/// read), through the read pool.
pub(super) async fn transactions_after(
    db: &Db,
    org_id: &str,
    range: Range,
    after: (i64, &str),
    limit: i64,
) -> Result<Vec<TransactionRow>, UnitError> {
    db.read_all(
        TRANSACTIONS_SQL,
        crate::params![org_id, range.from, range.to, after.0, after.1, limit],
    )
    .await
}
