//! The per-source-address limit on unauthenticated starts (4.1): `email-otp/start`,
//! `passkey/start` and `passkey-reset/start` together, at most `auth_starts_per_minute` a
//! minute per address (IPv6 per /64). One atomic upsert per start, so it holds across
//! processes; the jobs delete windows that have ended.

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::db::{Unit, UnitError};
use crate::error::ApiResult;
use crate::time::Timestamp;

const WINDOW_SECS: i64 = 60;

/// Counts one start from the request's source address; over the limit answers 403005.
pub async fn count_start(state: &AppState, origin: &Origin, now: Timestamp) -> ApiResult<()> {
    let limit = state.config.auth_starts_per_minute;
    if limit == 0 {
        return Ok(());
    }
    let origin = origin.clone();
    match state
        .db
        .write(move |w| Ok(count_start_in(w, &origin, limit, now)?))
        .await?
    {
        Some(until) => Err(super::codes::locked_out(until, now)),
        None => Ok(()),
    }
}

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
    let row = w.query_one(
        "INSERT INTO start_limits (source, window_start, starts) VALUES ($1, $2, 1)
         ON CONFLICT (source) DO UPDATE SET
           starts = CASE WHEN start_limits.window_start <= $3 THEN 1 ELSE start_limits.starts + 1 END,
           window_start = CASE WHEN start_limits.window_start <= $3 THEN $2 ELSE start_limits.window_start END
         RETURNING starts, window_start",
        crate::params![source.as_str(), now, now.minus_seconds(WINDOW_SECS)],
    )?;
    let starts = row.int("starts")?;
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
    Ok(Some(row.time("window_start")?.plus_seconds(WINDOW_SECS)))
}

/// Deletes windows that have ended (a job).
pub async fn purge(db: &crate::db::Db, now: Timestamp) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM start_limits WHERE window_start <= $1")
        .bind(now.minus_seconds(WINDOW_SECS).micros())
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}
