//! Offers: a module's prices over time.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::super::money::Money;
use super::super::offers::Offer;

const COLUMNS: &str = "id, module_id, amount, currency, billing_interval, valid_from, valid_until, refund_period_days, agreement_required, created_at";

/// The active offer: valid now, the latest `valid_from`, then the latest created. An archived
/// module has none.
const ACTIVE: &str =
    "WHERE module_id = $1 AND valid_from <= $2 AND (valid_until IS NULL OR valid_until > $2)
       AND NOT EXISTS (SELECT 1 FROM modules m WHERE m.id = $1 AND m.archived_at IS NOT NULL)
     ORDER BY valid_from DESC, created_at DESC, id DESC LIMIT 1";

impl FromRecord for Offer {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Offer {
            id: r.text("id")?,
            module_id: r.text("module_id")?,
            price: Money::new(r.int("amount")?, &r.text("currency")?),
            interval: r.text("billing_interval")?,
            valid_from: r.time("valid_from")?,
            valid_until: r.opt_time("valid_until")?,
            refund_period_days: r.int("refund_period_days")?,
            agreement_required: r.flag("agreement_required")?,
            created_at: r.time("created_at")?,
        })
    }
}

pub(crate) async fn active(
    db: &Db,
    module_id: &str,
    now: Timestamp,
) -> Result<Option<Offer>, UnitError> {
    db.read_opt(
        &format!("SELECT {COLUMNS} FROM offers {ACTIVE}"),
        crate::params![module_id, now],
    )
    .await
}

pub(crate) fn active_in(
    w: &mut Unit<'_>,
    module_id: &str,
    now: Timestamp,
) -> Result<Option<Offer>, UnitError> {
    super::opt_in(
        w,
        &format!("SELECT {COLUMNS} FROM offers {ACTIVE}"),
        crate::params![module_id, now],
    )
}

pub(crate) fn find_in(w: &mut Unit<'_>, id: &str) -> Result<Offer, UnitError> {
    Offer::from_record(&w.query_one(
        &format!("SELECT {COLUMNS} FROM offers WHERE id = $1"),
        crate::params![id],
    )?)
}

/// The module's offer `id`, if it is one of the module's.
pub(crate) async fn find(db: &Db, module_id: &str, id: &str) -> Result<Option<Offer>, UnitError> {
    db.read_opt(
        &format!("SELECT {COLUMNS} FROM offers WHERE id = $1 AND module_id = $2"),
        crate::params![id, module_id],
    )
    .await
}

/// Inserts the offer unless its module is archived; whether it was inserted.
pub(crate) fn insert(w: &mut Unit<'_>, offer: &Offer) -> Result<bool, UnitError> {
    let inserted = w.execute(
        "INSERT INTO offers (id, module_id, amount, currency, billing_interval, valid_from, valid_until, refund_period_days, agreement_required, created_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
         WHERE EXISTS (SELECT 1 FROM modules WHERE id = $2 AND archived_at IS NULL)",
        crate::params![
            offer.id.as_str(),
            offer.module_id.as_str(),
            offer.price.amount,
            offer.price.currency.as_str(),
            offer.interval.as_str(),
            offer.valid_from,
            offer.valid_until,
            offer.refund_period_days,
            offer.agreement_required,
            offer.created_at
        ],
    )?;
    Ok(inserted == 1)
}

/// Sets the offer's end to `until` unless it ends earlier already (the end only moves
/// earlier, even when two changes race); the row after the change, `None` when it was refused.
pub(crate) fn end(
    w: &mut Unit<'_>,
    id: &str,
    until: Timestamp,
) -> Result<Option<Offer>, UnitError> {
    w.query_opt(
        &format!(
            "UPDATE offers SET valid_until = $2 WHERE id = $1 AND (valid_until IS NULL OR valid_until >= $2)
             RETURNING {COLUMNS}"
        ),
        crate::params![id, until],
    )?
    .as_ref()
    .map(Offer::from_record)
    .transpose()
}

/// A page of a module's offers, newest first.
pub(crate) async fn page(
    db: &Db,
    params: &ListParams,
    module_id: &str,
) -> crate::error::ApiResult<Page<Offer>> {
    crate::db::page::by_key(
        db,
        params,
        COLUMNS,
        "offers WHERE module_id = $1",
        "created_at DESC, id DESC",
        module_id,
    )
    .await
}
