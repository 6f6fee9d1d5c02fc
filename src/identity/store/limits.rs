//! `start_limits`: unauthenticated starts counted per source address and minute.

use crate::db::{Unit, UnitError};
use crate::time::Timestamp;

use super::codes::Counted;

/// Counts one start from `source`; a window that began at or before `window_cutoff` starts
/// again at `now`.
pub(crate) fn count_start_in(
    w: &mut Unit<'_>,
    source: &str,
    now: Timestamp,
    window_cutoff: Timestamp,
) -> Result<Counted, UnitError> {
    let row = w.query_one(
        "INSERT INTO start_limits (source, window_start, starts) VALUES ($1, $2, 1)
         ON CONFLICT (source) DO UPDATE SET
           starts = CASE WHEN start_limits.window_start <= $3 THEN 1 ELSE start_limits.starts + 1 END,
           window_start = CASE WHEN start_limits.window_start <= $3 THEN $2 ELSE start_limits.window_start END
         RETURNING starts, window_start",
        crate::params![source, now, window_cutoff],
    )?;
    Ok(Counted {
        count: row.int("starts")?,
        window_start: row.time("window_start")?,
    })
}

/// Deletes windows that began at or before `cutoff`.
pub(crate) fn purge_in(w: &mut Unit<'_>, cutoff: Timestamp) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM start_limits WHERE window_start <= $1",
        crate::params![cutoff],
    )
}
