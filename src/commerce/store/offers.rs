//! Offers: a module's prices over time.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::super::money::Money;
use super::super::offers::Offer;

const COLUMNS: &str = "id, module_id, amount, currency, billing_interval, valid_from, valid_until, refund_period_days, agreement_required, created_at";

/// The active offer: valid now, the latest `valid_from`, then the latest created.
const ACTIVE: &str =
    "WHERE module_id = $1 AND valid_from <= $2 AND (valid_until IS NULL OR valid_until > $2)
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

pub(crate) fn insert(w: &mut Unit<'_>, offer: &Offer) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO offers (id, module_id, amount, currency, billing_interval, valid_from, valid_until, refund_period_days, agreement_required, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    Ok(())
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
