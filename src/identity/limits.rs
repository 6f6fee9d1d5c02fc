//! The per-source-address limit on unauthenticated starts (4.1): `email-otp/start`,
//! `passkey/start` and `passkey-reset/start` together, at most `auth_starts_per_minute` a
//! minute per address (IPv6 per /64). One atomic upsert per start, so it holds across
//! processes; the jobs delete windows that have ended.

use crate::audit::{self, Origin};
use crate::db::{Unit, UnitError};
use crate::error::ApiResult;
use crate::time::Timestamp;

use super::store::limits as store;

const WINDOW_SECS: i64 = 60;

/// Inside a unit of work: counts one start; over the limit, when the window ends (audited
/// once per window). `limit` 0 counts nothing.
pub fn count_start_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    limit: u32,
    now: Timestamp,
) -> Result<Option<Timestamp>, UnitError> {
    let limit = i64::from(limit);
    if limit == 0 {
        return Ok(None);
    }
    let source = origin
        .source_address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .map(crate::net::limit_key)
        .unwrap_or_else(|| "unknown".to_string());
    let counted = store::count_start_in(w, &source, now, now.minus_seconds(WINDOW_SECS))?;
    let starts = counted.count;
    if starts <= limit {
        return Ok(None);
    }
    if starts == limit + 1 {
        // Once per window, not once per refused request.
        audit::record_in(
            w,
            origin,
            now,
            "auth.start_limit_reached",
            None,
            serde_json::json!({ "source": source }),
        )?;
    }
    Ok(Some(counted.window_start.plus_seconds(WINDOW_SECS)))
}

/// Deletes windows that have ended (a job).
pub async fn purge(db: &crate::db::Db, now: Timestamp) -> ApiResult<u64> {
    let cutoff = now.minus_seconds(WINDOW_SECS);
    db.write(move |w| Ok(store::purge_in(w, cutoff)?)).await
}
