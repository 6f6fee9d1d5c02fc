//! The SQL of the shared dev clock: the one row of `dev_clock`.

use crate::db::{Db, Unit, UnitError};

pub(super) async fn offset(db: &Db) -> Result<i64, UnitError> {
    db.read_one("SELECT offset_us FROM dev_clock WHERE id = 1", &[])
        .await
}

/// Moves the offset forward in one statement, so advances from several processes add up;
/// the new offset.
pub(super) fn advance(w: &mut Unit<'_>, micros: i64) -> Result<i64, UnitError> {
    w.query_one(
        "UPDATE dev_clock SET offset_us = offset_us + $1 WHERE id = 1 RETURNING offset_us",
        crate::params![micros],
    )?
    .int_at(0)
}
