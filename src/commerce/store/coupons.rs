//! Coupons and their redemption count. A deleted coupon keeps its row (`deleted_at`), which
//! calculations and invoices name; every statement here except the undo of a redemption sees
//! live coupons only.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::list::ListParams;
use crate::time::Timestamp;

use super::super::coupons::Coupon;
use super::super::money::Money;

const SELECT: &str = "SELECT id, code, percent_off, amount_off, currency, valid_until, max_redemptions, redemptions, created_at FROM coupons";

impl FromRecord for Coupon {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        let currency = r.opt_text("currency")?;
        Ok(Coupon {
            id: r.text("id")?,
            code: r.text("code")?,
            percent_off: r.opt_int("percent_off")?,
            amount_off: r
                .opt_int("amount_off")?
                .map(|a| Money::new(a, currency.as_deref().unwrap_or(""))),
            valid_until: r.opt_time("valid_until")?,
            max_redemptions: r.opt_int("max_redemptions")?,
            redemptions: r.int("redemptions")?,
            created_at: r.time("created_at")?,
        })
    }
}

/// The live coupon with this (normalized) code.
pub(crate) async fn find_by_code(db: &Db, code: &str) -> Result<Option<Coupon>, UnitError> {
    db.read_opt(
        &format!("{SELECT} WHERE code = $1 AND deleted_at IS NULL"),
        crate::params![code],
    )
    .await
}

/// The live coupon `id`.
pub(crate) async fn find(db: &Db, id: &str) -> Result<Option<Coupon>, UnitError> {
    db.read_opt(
        &format!("{SELECT} WHERE id = $1 AND deleted_at IS NULL"),
        crate::params![id],
    )
    .await
}

/// The live coupon `id`, inside a unit of work.
pub(crate) fn find_in(w: &mut Unit<'_>, id: &str) -> Result<Option<Coupon>, UnitError> {
    super::opt_in(
        w,
        &format!("{SELECT} WHERE id = $1 AND deleted_at IS NULL"),
        crate::params![id],
    )
}

/// A page of the live coupons, newest first, and their number.
pub(crate) async fn page(db: &Db, params: &ListParams) -> Result<(Vec<Coupon>, i64), UnitError> {
    let total: i64 = db
        .read_one(
            "SELECT COUNT(*) FROM coupons WHERE deleted_at IS NULL",
            crate::params![],
        )
        .await?;
    if params.limit == 0 {
        return Ok((Vec::new(), total));
    }
    let items = db
        .read_all(
            &format!(
                "{SELECT} WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
            ),
            crate::params![params.limit, params.from],
        )
        .await?;
    Ok((items, total))
}

/// Deletes a live coupon (its row stays); whether this call deleted it.
pub(crate) fn delete(w: &mut Unit<'_>, id: &str, now: Timestamp) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE coupons SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        crate::params![id, now],
    )? == 1)
}

/// Counts one redemption if the coupon is still valid and not used up; false otherwise. One
/// conditional update, so `max_redemptions` holds however many checkouts race.
pub(crate) fn redeem(w: &mut Unit<'_>, id: &str, now: Timestamp) -> Result<bool, UnitError> {
    let done = w.execute(
        "UPDATE coupons SET redemptions = redemptions + 1
         WHERE id = $1 AND deleted_at IS NULL
           AND (max_redemptions IS NULL OR redemptions < max_redemptions)
           AND (valid_until IS NULL OR valid_until > $2)",
        crate::params![id, now],
    )?;
    Ok(done == 1)
}

/// Inserts a coupon unless a live coupon has its code (a deleted coupon's code may be used
/// again); whether it was inserted.
pub(crate) fn insert(w: &mut Unit<'_>, coupon: &Coupon) -> Result<bool, UnitError> {
    let inserted = w.execute(
        "INSERT INTO coupons (id, code, percent_off, amount_off, currency, valid_until, max_redemptions, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        crate::params![
            coupon.id.as_str(),
            coupon.code.as_str(),
            coupon.percent_off,
            coupon.amount_off.as_ref().map(|m| m.amount),
            coupon.amount_off.as_ref().map(|m| m.currency.clone()),
            coupon.valid_until,
            coupon.max_redemptions,
            coupon.created_at
        ],
    )?;
    Ok(inserted == 1)
}
