//! Refunds: at most one per subscription.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
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

/// The refund with this id, if it was recorded.
pub(crate) fn find_in(w: &mut Unit<'_>, id: &str) -> Result<Option<Refund>, UnitError> {
    super::opt_in(
        w,
        "SELECT id, subscription_id, invoice_id, amount, currency, status, reason, created_at FROM refunds
         WHERE id = $1",
        crate::params![id],
    )
}

/// A refund claimed and not yet recorded or released: exactly what is to be given back.
#[derive(Clone, Debug)]
pub(crate) struct RefundClaim {
    /// The refund's id once recorded, and the provider's idempotency key.
    pub id: String,
    pub org_id: String,
    pub subscription_id: String,
    pub invoice_id: String,
    pub payment_id: String,
    /// The provider's id of the charge given back.
    pub charge: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    /// The request's time: the refund's `created_at`.
    pub claimed_at: Timestamp,
}

impl FromRecord for RefundClaim {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(RefundClaim {
            id: r.text("id")?,
            org_id: r.text("org_id")?,
            subscription_id: r.text("subscription_id")?,
            invoice_id: r.text("invoice_id")?,
            payment_id: r.text("payment_id")?,
            charge: r.text("charge")?,
            amount: r.int("amount")?,
            currency: r.text("currency")?,
            reason: r.text("reason")?,
            claimed_at: r.time("claimed_at")?,
        })
    }
}

/// Whether the subscription has a refund under way.
pub(crate) fn claimed_for(w: &mut Unit<'_>, subscription_id: &str) -> Result<bool, UnitError> {
    Ok(w.query_opt(
        "SELECT id FROM refund_claims WHERE subscription_id = $1",
        crate::params![subscription_id],
    )?
    .is_some())
}

/// `claimed_for`, read outside a unit.
pub(crate) async fn is_claimed(db: &Db, subscription_id: &str) -> Result<bool, UnitError> {
    Ok(db
        .read_opt::<i64>(
            "SELECT 1 FROM refund_claims WHERE subscription_id = $1",
            crate::params![subscription_id],
        )
        .await?
        .is_some())
}

/// Claims a refund unless the subscription has one under way; whether it was claimed.
/// `system_now` is real time (the recovery job's grace is measured on it).
pub(crate) fn claim(
    w: &mut Unit<'_>,
    c: &RefundClaim,
    system_now: Timestamp,
) -> Result<bool, UnitError> {
    let claimed = w.execute(
        "INSERT INTO refund_claims (id, org_id, subscription_id, invoice_id, payment_id, charge, amount, currency, reason, claimed_at, claimed_at_system)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        crate::params![
            c.id.as_str(),
            c.org_id.as_str(),
            c.subscription_id.as_str(),
            c.invoice_id.as_str(),
            c.payment_id.as_str(),
            c.charge.as_str(),
            c.amount,
            c.currency.as_str(),
            c.reason.as_str(),
            c.claimed_at,
            system_now
        ],
    )?;
    Ok(claimed == 1)
}

/// Ends a claim (recorded or released); false when it was ended already.
pub(crate) fn end_claim(w: &mut Unit<'_>, id: &str) -> Result<bool, UnitError> {
    let ended = w.execute(
        "DELETE FROM refund_claims WHERE id = $1",
        crate::params![id],
    )?;
    Ok(ended == 1)
}

/// Up to 100 claims made at or before `before` (real time), oldest first.
pub(crate) async fn claimed_before(
    db: &Db,
    before: Timestamp,
) -> Result<Vec<RefundClaim>, UnitError> {
    db.read_all(
        "SELECT id, org_id, subscription_id, invoice_id, payment_id, charge, amount, currency, reason, claimed_at
           FROM refund_claims WHERE claimed_at_system <= $1 ORDER BY claimed_at_system LIMIT 100",
        crate::params![before],
    )
    .await
}
