//! The per-source-address limit on unauthenticated starts (4.1): `email-otp/start`,
//! `passkey/start` and `passkey-reset/start` together, at most `auth_starts_per_minute` a
//! minute per address (IPv6 per /64). One atomic upsert per start, so it holds across
//! processes; the jobs delete windows that have ended.

use sqlx::Row as _;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::error::ApiResult;
use crate::time::Timestamp;

const WINDOW_SECS: i64 = 60;

/// Counts one start from the request's source address; over the limit answers 403005.
pub async fn count_start(state: &AppState, origin: &Origin, now: Timestamp) -> ApiResult<()> {
    let limit = i64::from(state.config.auth_starts_per_minute);
    if limit == 0 {
        return Ok(());
    }
    let source = origin
        .source_address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .map(crate::net::limit_key)
        .unwrap_or_else(|| "unknown".to_string());
    let cutoff = now.minus_seconds(WINDOW_SECS).micros();
    let row = sqlx::query(
        "INSERT INTO start_limits (source, window_start, starts) VALUES ($1, $2, 1)
         ON CONFLICT (source) DO UPDATE SET
           starts = CASE WHEN start_limits.window_start <= $3 THEN 1 ELSE start_limits.starts + 1 END,
           window_start = CASE WHEN start_limits.window_start <= $3 THEN $2 ELSE start_limits.window_start END
         RETURNING starts, window_start",
    )
    .bind(&source)
    .bind(now.micros())
    .bind(cutoff)
    .fetch_one(state.db.writer())
    .await?;
    let starts: i64 = row.try_get("starts")?;
    if starts <= limit {
        return Ok(());
    }
    let until = Timestamp::from_micros(row.try_get("window_start")?).plus_seconds(WINDOW_SECS);
    if starts == limit + 1 {
        // Once per window, not once per refused request.
        audit::record(
            state.db.writer(),
            origin,
            now,
            "auth.start_limit_reached",
            None,
            serde_json::json!({ "source": source }),
        )
        .await?;
    }
    Err(super::codes::locked_out(until, now))
}

/// Deletes windows that have ended (a job).
pub async fn purge(db: &crate::db::Db, now: Timestamp) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM start_limits WHERE window_start <= $1")
        .bind(now.minus_seconds(WINDOW_SECS).micros())
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}
