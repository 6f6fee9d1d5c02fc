//! The sandbox provider's own state: how each tokenised card behaves, how many charges it
//! took, and each charge's outcome by idempotency key.

use crate::db::{Unit, UnitError};
use crate::time::Timestamp;

pub(crate) fn insert_payment_method(
    w: &mut Unit<'_>,
    reference: &str,
    behaviour: &str,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO sandbox_payment_methods (reference, behaviour, created_at) VALUES ($1, $2, $3)",
        crate::params![reference, behaviour, now],
    )?;
    Ok(())
}

pub(crate) fn behaviour(w: &mut Unit<'_>, reference: &str) -> Result<Option<String>, UnitError> {
    w.query_opt(
        "SELECT behaviour FROM sandbox_payment_methods WHERE reference = $1",
        crate::params![reference],
    )?
    .map(|r| r.text_at(0))
    .transpose()
}

/// Counts a successful charge of a payment method unless it succeeds only once and already
/// did; whether it was counted. One conditional update: "succeeds once" holds however many
/// charges race.
pub(crate) fn count_success(
    w: &mut Unit<'_>,
    reference: &str,
    succeeds_once: &str,
) -> Result<bool, UnitError> {
    let counted = w.execute(
        "UPDATE sandbox_payment_methods SET successful_charges = successful_charges + 1
         WHERE reference = $1 AND (behaviour <> $2 OR successful_charges = 0)",
        crate::params![reference, succeeds_once],
    )?;
    Ok(counted == 1)
}

/// A charge as the sandbox keeps it: the payment method, and the charge id or the decline.
pub(crate) struct StoredCharge {
    pub payment_method: String,
    pub charge_id: Option<String>,
    pub decline_code: Option<String>,
}

pub(crate) fn charge_by_key(
    w: &mut Unit<'_>,
    key: &str,
) -> Result<Option<StoredCharge>, UnitError> {
    w.query_opt(
        "SELECT reference, charge_id, decline_code FROM sandbox_charges WHERE idempotency_key = $1",
        crate::params![key],
    )?
    .map(|r| {
        Ok(StoredCharge {
            payment_method: r.text("reference")?,
            charge_id: r.opt_text("charge_id")?,
            decline_code: r.opt_text("decline_code")?,
        })
    })
    .transpose()
}

/// A charge under its key, before its outcome.
pub(crate) struct NewCharge<'a> {
    pub key: &'a str,
    pub payment_method: &'a str,
    pub amount: i64,
    pub currency: &'a str,
}

/// Takes the key for a charge unless it has one already; whether it was taken. The outcome
/// follows in the same unit (`set_outcome`). A second charge under the key waits for the
/// first's unit on PostgreSQL, then finds the key taken.
pub(crate) fn take_key(
    w: &mut Unit<'_>,
    c: NewCharge<'_>,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let taken = w.execute(
        "INSERT INTO sandbox_charges (idempotency_key, reference, amount, currency, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
        crate::params![c.key, c.payment_method, c.amount, c.currency, now],
    )?;
    Ok(taken == 1)
}

pub(crate) fn set_outcome(
    w: &mut Unit<'_>,
    key: &str,
    charge_id: Option<&str>,
    decline_code: Option<&str>,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE sandbox_charges SET charge_id = $2, decline_code = $3 WHERE idempotency_key = $1",
        crate::params![key, charge_id, decline_code],
    )?;
    Ok(())
}

/// Spends a key no charge was made under, so none will be: a later charge under it is
/// declined with `decline_code`. False when the key has a charge.
pub(crate) fn spend_key(
    w: &mut Unit<'_>,
    key: &str,
    decline_code: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let spent = w.execute(
        "INSERT INTO sandbox_charges (idempotency_key, reference, amount, currency, decline_code, created_at)
         VALUES ($1, '', 0, '', $2, $3) ON CONFLICT (idempotency_key) DO NOTHING",
        crate::params![key, decline_code, now],
    )?;
    Ok(spent == 1)
}

/// A refund as the sandbox keeps it: its id, or why it was refused.
pub(crate) struct StoredRefund {
    pub refund_id: Option<String>,
    pub decline_code: Option<String>,
}

/// Takes the key for a refund unless it has one already; whether it was taken. The outcome
/// follows in the same unit (`set_refund_outcome`).
pub(crate) fn take_refund_key(
    w: &mut Unit<'_>,
    key: &str,
    charge_id: &str,
    amount: i64,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let taken = w.execute(
        "INSERT INTO sandbox_refunds (idempotency_key, charge_id, amount, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
        crate::params![key, charge_id, amount, now],
    )?;
    Ok(taken == 1)
}

/// The amount of a charge the sandbox made, if it made it.
pub(crate) fn charged_amount(w: &mut Unit<'_>, charge_id: &str) -> Result<Option<i64>, UnitError> {
    w.query_opt(
        "SELECT amount FROM sandbox_charges WHERE charge_id = $1",
        crate::params![charge_id],
    )?
    .map(|r| r.int_at(0))
    .transpose()
}

pub(crate) fn set_refund_outcome(
    w: &mut Unit<'_>,
    key: &str,
    refund_id: Option<&str>,
    decline_code: Option<&str>,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE sandbox_refunds SET refund_id = $2, decline_code = $3 WHERE idempotency_key = $1",
        crate::params![key, refund_id, decline_code],
    )?;
    Ok(())
}

pub(crate) fn refund_by_key(
    w: &mut Unit<'_>,
    key: &str,
) -> Result<Option<StoredRefund>, UnitError> {
    w.query_opt(
        "SELECT refund_id, decline_code FROM sandbox_refunds WHERE idempotency_key = $1",
        crate::params![key],
    )?
    .map(|r| {
        Ok(StoredRefund {
            refund_id: r.opt_text("refund_id")?,
            decline_code: r.opt_text("decline_code")?,
        })
    })
    .transpose()
}

/// Spends a key no refund was made under, so none will be: a later refund under it is refused
/// with `decline_code`. False when the key has a refund.
pub(crate) fn spend_refund_key(
    w: &mut Unit<'_>,
    key: &str,
    decline_code: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let spent = w.execute(
        "INSERT INTO sandbox_refunds (idempotency_key, charge_id, amount, decline_code, created_at)
         VALUES ($1, '', 0, $2, $3) ON CONFLICT (idempotency_key) DO NOTHING",
        crate::params![key, decline_code, now],
    )?;
    Ok(spent == 1)
}
