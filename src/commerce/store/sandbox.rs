//! The sandbox provider's own state: how each tokenised card behaves, how many charges it
//! took, and each charge by idempotency key.

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

/// A charge as the sandbox keeps it: the charge id or the decline.
pub(crate) struct StoredCharge {
    pub charge_id: Option<String>,
    pub decline_code: Option<String>,
}

pub(crate) fn charge_by_key(
    w: &mut Unit<'_>,
    key: &str,
) -> Result<Option<StoredCharge>, UnitError> {
    w.query_opt(
        "SELECT charge_id, decline_code FROM sandbox_charges WHERE idempotency_key = $1",
        crate::params![key],
    )?
    .map(|r| {
        Ok(StoredCharge {
            charge_id: r.opt_text("charge_id")?,
            decline_code: r.opt_text("decline_code")?,
        })
    })
    .transpose()
}

/// A charge's outcome under its key.
pub(crate) struct NewCharge<'a> {
    pub key: &'a str,
    pub payment_method: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub charge_id: Option<&'a str>,
    pub decline_code: Option<&'a str>,
}

/// Records a charge's outcome unless the key has one; whether it was recorded.
pub(crate) fn insert_charge(
    w: &mut Unit<'_>,
    c: NewCharge<'_>,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let inserted = w.execute(
        "INSERT INTO sandbox_charges (idempotency_key, reference, amount, currency, charge_id, decline_code, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING",
        crate::params![
            c.key,
            c.payment_method,
            c.amount,
            c.currency,
            c.charge_id,
            c.decline_code,
            now
        ],
    )?;
    Ok(inserted == 1)
}
