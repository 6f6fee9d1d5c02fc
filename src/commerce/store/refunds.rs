//! Refunds: at most one per subscription.

use crate::db::{FromRecord, Record, Unit, UnitError};
use crate::time::Timestamp;

use super::super::money::Money;
use super::super::refunds::Refund;

/// The refunds of the invoices `{ids}` (see `with_ids`).
pub(crate) const OF_INVOICES: &str = "SELECT id, subscription_id, invoice_id, amount, currency, status, reason, created_at FROM refunds
     WHERE invoice_id IN ({ids}) ORDER BY created_at, id";

impl FromRecord for Refund {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Refund {
            id: r.text("id")?,
            subscription_id: r.text("subscription_id")?,
            invoice_id: r.text("invoice_id")?,
            amount: Money::new(r.int("amount")?, &r.text("currency")?),
            status: r.text("status")?,
            reason: r.text("reason")?,
            created_at: r.time("created_at")?,
        })
    }
}

pub(crate) fn exists_for(w: &mut Unit<'_>, subscription_id: &str) -> Result<bool, UnitError> {
    Ok(w.query_opt(
        "SELECT id FROM refunds WHERE subscription_id = $1",
        crate::params![subscription_id],
    )?
    .is_some())
}

/// What was paid for one subscription on an invoice: the payment and the line's share.
pub(crate) struct PaidShare {
    pub payment_id: String,
    /// The provider's id of the charge.
    pub charge: String,
    pub paid_at: Timestamp,
    pub share: i64,
}

impl FromRecord for PaidShare {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(PaidShare {
            payment_id: r.text("id")?,
            charge: r.text("provider_reference")?,
            paid_at: r.time("created_at")?,
            share: r.int("total_share")?,
        })
    }
}

pub(crate) fn paid_share(
    w: &mut Unit<'_>,
    invoice_id: &str,
    subscription_id: &str,
) -> Result<Option<PaidShare>, UnitError> {
    super::opt_in(
        w,
        "SELECT p.id, p.provider_reference, p.created_at, l.total_share FROM payments p
         JOIN invoice_lines l ON l.invoice_id = p.invoice_id AND l.subscription_id = $2
         WHERE p.invoice_id = $1",
        crate::params![invoice_id, subscription_id],
    )
}

/// A refund as recorded: the view, whose it is, which payment it gives back and the
/// provider's id of it.
pub(crate) struct NewRefund<'a> {
    pub refund: &'a Refund,
    pub org_id: &'a str,
    pub payment_id: &'a str,
    pub provider_reference: &'a str,
}

/// Inserts a refund unless the subscription has one; whether it was inserted.
pub(crate) fn insert(w: &mut Unit<'_>, new: NewRefund<'_>) -> Result<bool, UnitError> {
    let r = new.refund;
    let inserted = w.execute(
        "INSERT INTO refunds (id, org_id, subscription_id, invoice_id, payment_id, amount, currency, status, reason, provider_reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        crate::params![
            r.id.as_str(),
            new.org_id,
            r.subscription_id.as_str(),
            r.invoice_id.as_str(),
            new.payment_id,
            r.amount.amount,
            r.amount.currency.as_str(),
            r.status.as_str(),
            r.reason.as_str(),
            new.provider_reference,
            r.created_at
        ],
    )?;
    Ok(inserted == 1)
}
