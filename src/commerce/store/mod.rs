//! Commerce's SQL, by area: plain functions over a unit of work (`&mut Unit`, statements named
//! for what they do) or over the read pool (`&Db`, async reads), with the `FromRecord` impls of
//! the rows they return. The rules and the units themselves are in the area files above.

pub(crate) mod agreements;
pub(crate) mod attempts;
pub(crate) mod calculations;
pub(crate) mod checkouts;
pub(crate) mod closing;
pub(crate) mod coupons;
pub(crate) mod invoices;
pub(crate) mod modules;
pub(crate) mod offers;
pub(crate) mod payments;
pub(crate) mod refunds;
pub(crate) mod renewals;
pub(crate) mod sandbox;
pub(crate) mod subscriptions;

use crate::db::{FromRecord, Unit, UnitError, Value};

/// `sql` with `{ids}` replaced by one placeholder per id (`$1, $2, …`), the ids as its
/// parameters: ids are never spliced into SQL.
pub(crate) fn with_ids(sql: &str, ids: &[String]) -> (String, Vec<Value>) {
    let list = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let params = ids.iter().map(Value::from).collect();
    (sql.replace("{ids}", &list), params)
}

/// Every row of a query inside a unit, decoded.
pub(crate) fn all_in<T: FromRecord>(
    w: &mut Unit<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Vec<T>, UnitError> {
    w.query(sql, params)?.iter().map(T::from_record).collect()
}

/// The first row of a query inside a unit, if any, decoded.
pub(crate) fn opt_in<T: FromRecord>(
    w: &mut Unit<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Option<T>, UnitError> {
    w.query_opt(sql, params)?
        .as_ref()
        .map(T::from_record)
        .transpose()
}
