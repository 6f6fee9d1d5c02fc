//! Deleting what no rule needs any more (section 2), so unauthenticated requests cannot grow
//! the database without bound: expired challenges, ended send quotas, and lockouts 24 h
//! after they end.

use crate::db::Db;
use crate::time::Timestamp;

/// How long a lockout row outlives its lock: a repeat within this time doubles the next lock.
const LOCKOUT_MEMORY_SECS: i64 = 24 * 3600;
/// Send quotas count per hour.
const QUOTA_WINDOW_SECS: i64 = 3600;

pub async fn purge(db: &Db, now: Timestamp) -> Result<u64, sqlx::Error> {
    let at = now.micros();
    let forgotten = now.minus_seconds(LOCKOUT_MEMORY_SECS).micros();
    let statements: [(&str, i64); 4] = [
        ("DELETE FROM email_challenges WHERE expires_at <= $1", at),
        ("DELETE FROM webauthn_challenges WHERE expires_at <= $1", at),
        (
            "DELETE FROM send_quotas WHERE window_start <= $1",
            now.minus_seconds(QUOTA_WINDOW_SECS).micros(),
        ),
        (
            "DELETE FROM code_lockouts WHERE COALESCE(locked_until, window_start) <= $1",
            forgotten,
        ),
    ];
    let mut deleted = 0;
    for (sql, bound) in statements {
        deleted += sqlx::query(sql)
            .bind(bound)
            .execute(db.writer())
            .await?
            .rows_affected();
    }
    Ok(deleted)
}
