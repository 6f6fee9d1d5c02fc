//! Mailed codes: `email_challenges`, the hourly `send_quotas` and the `code_lockouts`. Both
//! counters move by single atomic upserts, so their limits hold across requests and processes.

use crate::db::{FromRecord, Record, Unit, UnitError};
use crate::identity::codes::{Challenge, Purpose};
use crate::time::Timestamp;

/// A counter's value after an upsert, and when its window began.
pub(crate) struct Counted {
    pub(crate) count: i64,
    pub(crate) window_start: Timestamp,
}

/// Counts one mailed code for the address and kind; a window that began at or before
/// `window_cutoff` starts again at `now`.
pub(crate) fn count_send_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
    window_cutoff: Timestamp,
) -> Result<Counted, UnitError> {
    let row = w.query_one(
        "INSERT INTO send_quotas (email, kind, window_start, sent) VALUES ($1, $2, $3, 1)
         ON CONFLICT (email, kind) DO UPDATE SET
           sent = CASE WHEN send_quotas.window_start <= $4 THEN 1 ELSE send_quotas.sent + 1 END,
           window_start = CASE WHEN send_quotas.window_start <= $4 THEN $3 ELSE send_quotas.window_start END
         RETURNING sent, window_start",
        crate::params![email, purpose.as_str(), now, window_cutoff],
    )?;
    Ok(Counted {
        count: row.int("sent")?,
        window_start: row.time("window_start")?,
    })
}

/// The lockout row after an attempt was counted.
pub(crate) struct Attempts {
    pub(crate) failures: i64,
    pub(crate) locked_until: Option<Timestamp>,
    pub(crate) lock_level: i64,
}

/// Counts one verification attempt for the address and kind. A fresh window starts when the
/// old one began at or before `window_cutoff`, or when an earlier lock has expired.
pub(crate) fn count_attempt_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
    window_cutoff: Timestamp,
) -> Result<Attempts, UnitError> {
    let row = w.query_one(
        "INSERT INTO code_lockouts (email, kind, failures, window_start) VALUES ($1, $2, 1, $3)
         ON CONFLICT (email, kind) DO UPDATE SET
           failures = CASE
             WHEN code_lockouts.locked_until IS NOT NULL AND code_lockouts.locked_until <= $3 THEN 1
             WHEN code_lockouts.locked_until IS NULL AND code_lockouts.window_start <= $4 THEN 1
             ELSE code_lockouts.failures + 1 END,
           window_start = CASE
             WHEN code_lockouts.locked_until IS NOT NULL AND code_lockouts.locked_until <= $3 THEN $3
             WHEN code_lockouts.locked_until IS NULL AND code_lockouts.window_start <= $4 THEN $3
             ELSE code_lockouts.window_start END,
           locked_until = CASE
             WHEN code_lockouts.locked_until IS NOT NULL AND code_lockouts.locked_until <= $3 THEN NULL
             ELSE code_lockouts.locked_until END
         RETURNING failures, locked_until, lock_level",
        crate::params![email, purpose.as_str(), now, window_cutoff],
    )?;
    Ok(Attempts {
        failures: row.int("failures")?,
        locked_until: row.opt_time("locked_until")?,
        lock_level: row.int("lock_level")?,
    })
}

/// The address's failures and lock level, if it has a lockout row.
pub(crate) fn attempts_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
) -> Result<Option<Attempts>, UnitError> {
    w.query_opt(
        "SELECT failures, locked_until, lock_level FROM code_lockouts WHERE email = $1 AND kind = $2",
        crate::params![email, purpose.as_str()],
    )?
    .map(|row| {
        Ok(Attempts {
            failures: row.int("failures")?,
            locked_until: row.opt_time("locked_until")?,
            lock_level: row.int("lock_level")?,
        })
    })
    .transpose()
}

/// Locks the address until `until` and raises its lock level; `false` when it was locked
/// already (by a racing attempt).
pub(crate) fn lock_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
    until: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE code_lockouts SET locked_until = $3, lock_level = lock_level + 1
         WHERE email = $1 AND kind = $2 AND locked_until IS NULL",
        crate::params![email, purpose.as_str(), until],
    )? == 1)
}

/// Forgets the address's failures (after a code verified).
pub(crate) fn clear_attempts_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
) -> Result<(), UnitError> {
    w.execute(
        "DELETE FROM code_lockouts WHERE email = $1 AND kind = $2",
        crate::params![email, purpose.as_str()],
    )?;
    Ok(())
}

/// A challenge's row; the code is stored only as its keyed hash.
pub(crate) struct NewChallengeRow<'a> {
    pub(crate) id: &'a str,
    pub(crate) purpose: Purpose,
    pub(crate) email: &'a str,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) code_hash: String,
    pub(crate) expires_at: Timestamp,
}

pub(crate) fn insert_challenge_in(
    w: &mut Unit<'_>,
    row: NewChallengeRow<'_>,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO email_challenges (id, purpose, email, user_id, session_id, code_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        crate::params![
            row.id,
            row.purpose.as_str(),
            row.email,
            row.user_id,
            row.session_id,
            row.code_hash,
            now,
            row.expires_at,
        ],
    )?;
    Ok(())
}

impl FromRecord for Challenge {
    fn from_record(r: &Record) -> Result<Challenge, UnitError> {
        Ok(Challenge {
            id: r.text("id")?,
            email: r.text("email")?,
            user_id: r.opt_text("user_id")?,
            session_id: r.opt_text("session_id")?,
            code_hash: r.text("code_hash")?,
            expires_at: r.time("expires_at")?,
            used: r.opt_int("used_at")?.is_some(),
        })
    }
}

const CHALLENGE: &str = "SELECT id, email, user_id, session_id, code_hash, expires_at, used_at FROM email_challenges WHERE id = $1 AND purpose = $2";

/// A challenge of this kind by id.
pub(crate) fn challenge_in(
    w: &mut Unit<'_>,
    id: &str,
    purpose: Purpose,
) -> Result<Option<Challenge>, UnitError> {
    w.query_opt(CHALLENGE, crate::params![id, purpose.as_str()])?
        .as_ref()
        .map(Challenge::from_record)
        .transpose()
}

/// The newest unused, unexpired challenge of a kind for an address.
pub(crate) fn latest_challenge_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Option<Challenge>, UnitError> {
    w.query_opt(
        "SELECT id, email, user_id, session_id, code_hash, expires_at, used_at FROM email_challenges
         WHERE email = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         ORDER BY created_at DESC LIMIT 1",
        crate::params![email, purpose.as_str(), now],
    )?
    .as_ref()
    .map(Challenge::from_record)
    .transpose()
}

/// Uses a challenge; `false` when it was used already or has expired.
pub(crate) fn use_challenge_in(
    w: &mut Unit<'_>,
    id: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE email_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        crate::params![id, now],
    )? == 1)
}
