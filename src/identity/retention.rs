//! Deleting what no rule needs any more (section 2), so unauthenticated requests cannot grow
//! the database without bound: expired challenges, ended send quotas, and lockouts 24 h
//! after they end.

use crate::db::Db;
use crate::error::ApiResult;
use crate::time::Timestamp;

use super::store::retention as store;

/// How long a lockout row outlives its lock: a repeat within this time doubles the next lock.
const LOCKOUT_MEMORY_SECS: i64 = 24 * 3600;
/// Send quotas count per hour.
const QUOTA_WINDOW_SECS: i64 = 3600;

/// One unit of work; how many rows it deleted.
pub async fn purge(db: &Db, now: Timestamp) -> ApiResult<u64> {
    db.write(move |w| {
        Ok(store::purge_challenges_in(w, now)?
            + store::purge_send_quotas_in(w, now.minus_seconds(QUOTA_WINDOW_SECS))?
            + store::purge_lockouts_in(w, now.minus_seconds(LOCKOUT_MEMORY_SECS))?)
    })
    .await
}
