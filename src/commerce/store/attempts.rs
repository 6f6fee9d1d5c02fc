//! Payment attempts: at most one unsettled per invoice (a partial unique index), each settled
//! once (a conditional update).

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::time::Timestamp;

/// An attempt as stored: which invoice, which attempt of it, and what it is for.
pub(crate) struct AttemptRow {
    pub invoice_id: String,
    pub attempt: i64,
    pub purpose: String,
}

impl FromRecord for AttemptRow {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(AttemptRow {
            invoice_id: r.text("invoice_id")?,
            attempt: r.int("attempt")?,
            purpose: r.text("purpose")?,
        })
    }
}

/// Claims the invoice's next attempt unless one is unsettled; its number, or `None`.
pub(crate) fn claim(
    w: &mut Unit<'_>,
    invoice_id: &str,
    purpose: &str,
    now: Timestamp,
) -> Result<Option<i64>, UnitError> {
    let next = w
        .query_one(
            "SELECT COALESCE(MAX(attempt), 0) + 1 FROM payment_attempts WHERE invoice_id = $1",
            crate::params![invoice_id],
        )?
        .int_at(0)?;
    let claimed = w.execute(
        "INSERT INTO payment_attempts (invoice_id, attempt, purpose, claimed_at, claimed_at_system)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        crate::params![invoice_id, next, purpose, now, Timestamp::system_now()],
    )?;
    Ok((claimed == 1).then_some(next))
}

/// Settles an unsettled attempt with its outcome; false when it was settled already.
pub(crate) fn settle(
    w: &mut Unit<'_>,
    invoice_id: &str,
    attempt: i64,
    decline_code: Option<&str>,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let outcome = match decline_code {
        None => "succeeded",
        Some(_) => "declined",
    };
    let done = w.execute(
        "UPDATE payment_attempts SET settled_at = $3, outcome = $4, decline_code = $5
         WHERE invoice_id = $1 AND attempt = $2 AND settled_at IS NULL",
        crate::params![invoice_id, attempt, now, outcome, decline_code],
    )?;
    Ok(done == 1)
}

/// How a settled attempt ended: `Some(None)` when it succeeded, `Some(Some(code))` when it
/// was declined, `None` when it is gone (its checkout was undone).
pub(crate) fn outcome_of(
    w: &mut Unit<'_>,
    invoice_id: &str,
    attempt: i64,
) -> Result<Option<Option<String>>, UnitError> {
    let Some(row) = w.query_opt(
        "SELECT outcome, decline_code FROM payment_attempts WHERE invoice_id = $1 AND attempt = $2",
        crate::params![invoice_id, attempt],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(match row.opt_text("outcome")?.as_deref() {
        Some("succeeded") => None,
        _ => Some(row.opt_text("decline_code")?.unwrap_or_default()),
    }))
}

/// Whether the invoice has an attempt under way.
pub(crate) fn unsettled_on(w: &mut Unit<'_>, invoice_id: &str) -> Result<bool, UnitError> {
    Ok(w.query_opt(
        "SELECT 1 FROM payment_attempts WHERE invoice_id = $1 AND settled_at IS NULL",
        crate::params![invoice_id],
    )?
    .is_some())
}

/// `unsettled_on`, read outside a unit.
pub(crate) async fn is_unsettled(db: &Db, invoice_id: &str) -> Result<bool, UnitError> {
    Ok(db
        .read_opt::<i64>(
            "SELECT 1 FROM payment_attempts WHERE invoice_id = $1 AND settled_at IS NULL",
            crate::params![invoice_id],
        )
        .await?
        .is_some())
}

/// Up to 100 attempts claimed at or before `before` by real time (`claimed_at_system`; the
/// clock's `claimed_at` for attempts claimed before it was kept) and still unsettled, oldest
/// first.
pub(crate) async fn unsettled_since(
    db: &Db,
    before: Timestamp,
) -> Result<Vec<AttemptRow>, UnitError> {
    db.read_all(
        "SELECT invoice_id, attempt, purpose FROM payment_attempts
         WHERE settled_at IS NULL AND COALESCE(claimed_at_system, claimed_at) <= $1
         ORDER BY COALESCE(claimed_at_system, claimed_at) LIMIT 100",
        crate::params![before],
    )
    .await
}

/// Forgets the attempts of an invoice that is being deleted (a checkout undone).
pub(crate) fn delete_of(w: &mut Unit<'_>, invoice_id: &str) -> Result<(), UnitError> {
    w.execute(
        "DELETE FROM payment_attempts WHERE invoice_id = $1",
        crate::params![invoice_id],
    )?;
    Ok(())
}
