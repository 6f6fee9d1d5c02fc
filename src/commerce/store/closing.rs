//! What deleting an organization does to its commerce records: what refuses it, and the
//! statements that end its subscriptions and void its open invoices (the rows stay).

use crate::db::{Unit, UnitError};
use crate::time::Timestamp;

/// Subscriptions that refuse the deletion: active or past due, not set to cancel at their
/// period's end.
pub(crate) fn running(w: &mut Unit<'_>, org_id: &str) -> Result<i64, UnitError> {
    w.query_one(
        "SELECT COUNT(*) FROM subscriptions
         WHERE org_id = $1 AND status IN ('active', 'past_due') AND cancel_at_period_end = 0",
        crate::params![org_id],
    )?
    .int_at(0)
}

/// Whether a payment of one of the organization's invoices, or a refund of one of its
/// subscriptions, is under way (claimed, not yet settled).
pub(crate) fn money_in_flight(w: &mut Unit<'_>, org_id: &str) -> Result<bool, UnitError> {
    let row = w.query_one(
        "SELECT (SELECT COUNT(*) FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id
                 WHERE i.org_id = $1 AND a.settled_at IS NULL)
              + (SELECT COUNT(*) FROM refund_claims WHERE org_id = $1)",
        crate::params![org_id],
    )?;
    Ok(row.int_at(0)? > 0)
}

/// Ends every subscription of the organization that is not final, now; their ids.
pub(crate) fn end_subscriptions(
    w: &mut Unit<'_>,
    org_id: &str,
    now: Timestamp,
) -> Result<Vec<String>, UnitError> {
    w.query(
        "UPDATE subscriptions SET status = 'ended', ended_at = $2, next_retry_at = NULL, version = version + 1
         WHERE org_id = $1 AND status NOT IN ('canceled', 'ended') RETURNING id",
        crate::params![org_id, now],
    )?
    .iter()
    .map(|r| r.text_at(0))
    .collect()
}

/// Voids every open invoice of the organization, now; their ids.
pub(crate) fn void_open_invoices(
    w: &mut Unit<'_>,
    org_id: &str,
    now: Timestamp,
) -> Result<Vec<String>, UnitError> {
    w.query(
        "UPDATE invoices SET status = 'void', voided_at = $2 WHERE org_id = $1 AND status = 'open' RETURNING id",
        crate::params![org_id, now],
    )?
    .iter()
    .map(|r| r.text_at(0))
    .collect()
}
