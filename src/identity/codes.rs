//! Mailed codes: generation, challenges, send quotas and verification lockouts.
//!
//! Both counters live in the database and move by single atomic upserts, so the limits hold
//! for parallel requests and across processes: a verification reserves its attempt *before*
//! the code is compared, which is why 50 parallel wrong codes get at most 5 evaluated.

use axum::http::{HeaderValue, header};
use rand::Rng;
use sqlx::Row as _;

use crate::crypto::{constant_time_eq, new_id};
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::server_key::ServerKey;
use crate::time::Timestamp;

pub const MAX_SENDS_PER_HOUR: i64 = 5;
pub const MAX_FAILURES: i64 = 5;
const FAILURE_WINDOW_SECS: i64 = 15 * 60;
const FIRST_LOCK_SECS: i64 = 15 * 60;
const MAX_LOCK_SECS: i64 = 60 * 60;

/// What a code is for. Lockouts are per address and kind.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    Elevation,
    EmailChange,
    PasskeyReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "sign_in",
            Purpose::Elevation => "elevation",
            Purpose::EmailChange => "email_change",
            Purpose::PasskeyReset => "passkey_reset",
        }
    }
}

/// A 6-digit code.
pub fn new_numeric_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// An 8-character code of letters and digits (no look-alikes).
pub fn new_reset_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// 403005 with `lockedUntil` and `Retry-After`.
pub fn locked_out(until: Timestamp, now: Timestamp) -> ApiError {
    let retry = now.seconds_until(until).max(1);
    ApiError::new(
        ErrorCode::LockedOut,
        format!("Too many attempts; try again after {until}."),
    )
    .with("lockedUntil", until)
    .with_header(header::RETRY_AFTER, HeaderValue::from(retry as u64))
}

/// Counts one mailed code; past the hourly quota answers 403005.
pub async fn reserve_send(db: &Db, email: &str, purpose: Purpose, now: Timestamp) -> ApiResult<()> {
    let cutoff = now.minus_seconds(3600).micros();
    let row = sqlx::query(
        "INSERT INTO send_quotas (email, kind, window_start, sent) VALUES ($1, $2, $3, 1)
         ON CONFLICT (email, kind) DO UPDATE SET
           sent = CASE WHEN send_quotas.window_start <= $4 THEN 1 ELSE send_quotas.sent + 1 END,
           window_start = CASE WHEN send_quotas.window_start <= $4 THEN $3 ELSE send_quotas.window_start END
         RETURNING sent, window_start",
    )
    .bind(email)
    .bind(purpose.as_str())
    .bind(now.micros())
    .bind(cutoff)
    .fetch_one(db.writer())
    .await?;
    let sent: i64 = row.try_get("sent")?;
    if sent > MAX_SENDS_PER_HOUR {
        let until = Timestamp::from_micros(row.try_get("window_start")?).plus_seconds(3600);
        return Err(locked_out(until, now));
    }
    Ok(())
}

fn lock_seconds(level: i64) -> i64 {
    (FIRST_LOCK_SECS << level.clamp(0, 8)).min(MAX_LOCK_SECS)
}

/// Reserves one verification attempt for the address, or answers 403005 while it is locked.
pub async fn reserve_attempt(
    db: &Db,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
) -> ApiResult<()> {
    let window_cutoff = now.minus_seconds(FAILURE_WINDOW_SECS).micros();
    // A fresh window starts when the old one is over or an earlier lock has expired.
    let row = sqlx::query(
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
    )
    .bind(email)
    .bind(purpose.as_str())
    .bind(now.micros())
    .bind(window_cutoff)
    .fetch_one(db.writer())
    .await?;
    let failures: i64 = row.try_get("failures")?;
    if let Some(until) = row.try_get::<Option<i64>, _>("locked_until")? {
        return Err(locked_out(Timestamp::from_micros(until), now));
    }
    if failures > MAX_FAILURES {
        // The lock is being set by the attempt that reached the limit; name when it will end.
        let level: i64 = row.try_get("lock_level")?;
        return Err(locked_out(now.plus_seconds(lock_seconds(level)), now));
    }
    Ok(())
}

/// After a wrong code: locks the address when this was the last allowed attempt.
pub async fn record_failure(
    db: &Db,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
) -> ApiResult<Option<Timestamp>> {
    let row = sqlx::query(
        "SELECT failures, lock_level FROM code_lockouts WHERE email = $1 AND kind = $2",
    )
    .bind(email)
    .bind(purpose.as_str())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let failures: i64 = row.try_get("failures")?;
    if failures < MAX_FAILURES {
        return Ok(None);
    }
    let level: i64 = row.try_get("lock_level")?;
    let until = now.plus_seconds(lock_seconds(level));
    let locked = sqlx::query(
        "UPDATE code_lockouts SET locked_until = $3, lock_level = lock_level + 1
         WHERE email = $1 AND kind = $2 AND locked_until IS NULL",
    )
    .bind(email)
    .bind(purpose.as_str())
    .bind(until.micros())
    .execute(db.writer())
    .await?;
    Ok((locked.rows_affected() == 1).then_some(until))
}

/// A success clears the count and the doubling.
pub async fn clear_failures(db: &Db, email: &str, purpose: Purpose) -> ApiResult<()> {
    sqlx::query("DELETE FROM code_lockouts WHERE email = $1 AND kind = $2")
        .bind(email)
        .bind(purpose.as_str())
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A stored challenge, as verification needs it.
pub struct Challenge {
    pub id: String,
    pub email: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    code_hash: String,
    expires_at: Timestamp,
    used: bool,
}

impl Challenge {
    pub fn matches(&self, key: &ServerKey, code: &str, now: Timestamp) -> bool {
        let hash = key.hash_code(&self.id, code.trim());
        // Compare even when expired, so timing tells nothing.
        let equal = constant_time_eq(&hash, &self.code_hash);
        equal && !self.used && now < self.expires_at
    }
}

pub struct NewChallenge<'a> {
    pub purpose: Purpose,
    pub email: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub code: &'a str,
}

/// Stores a challenge; returns its id and expiry.
async fn create_challenge(
    db: &Db,
    key: &ServerKey,
    new: NewChallenge<'_>,
    now: Timestamp,
    ttl_secs: i64,
) -> ApiResult<(String, Timestamp)> {
    let id = new_id("chl");
    let expires_at = now.plus_seconds(ttl_secs);
    sqlx::query(
        "INSERT INTO email_challenges (id, purpose, email, user_id, session_id, code_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(new.purpose.as_str())
    .bind(new.email)
    .bind(new.user_id.map(str::to_string))
    .bind(new.session_id.map(str::to_string))
    .bind(key.hash_code(&id, new.code))
    .bind(now.micros())
    .bind(expires_at.micros())
    .execute(db.writer())
    .await?;
    Ok((id, expires_at))
}

/// Stores the challenge of a new code and mails the message made of it, before the request
/// answers. The caller has counted the code against the address's quota.
pub async fn issue(
    state: &crate::app::AppState,
    new: NewChallenge<'_>,
    mail: crate::mail::Mail,
    now: Timestamp,
) -> ApiResult<(String, Timestamp)> {
    let challenge =
        create_challenge(&state.db, &state.key, new, now, state.config.code_ttl_secs).await?;
    state
        .mailer
        .send(&state.db, now, mail)
        .await
        .map_err(ApiError::internal)?;
    Ok(challenge)
}

pub async fn find_challenge(db: &Db, id: &str, purpose: Purpose) -> ApiResult<Option<Challenge>> {
    let row = sqlx::query(
        "SELECT id, email, user_id, session_id, code_hash, expires_at, used_at FROM email_challenges WHERE id = $1 AND purpose = $2",
    )
    .bind(id)
    .bind(purpose.as_str())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Challenge {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        code_hash: row.try_get("code_hash")?,
        expires_at: Timestamp::from_micros(row.try_get("expires_at")?),
        used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
    }))
}

/// Marks a challenge used; false when another request used it first (single use).
pub async fn consume_challenge(db: &Db, id: &str, now: Timestamp) -> ApiResult<bool> {
    let done = sqlx::query("UPDATE email_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2")
        .bind(id)
        .bind(now.micros())
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The whole verification of a code against a challenge, with the lockout rules.
/// `wrong` is the error for a wrong code (422001, or 403012 for a passkey reset).
pub async fn verify(
    db: &Db,
    key: &ServerKey,
    challenge: &Challenge,
    code: &str,
    purpose: Purpose,
    now: Timestamp,
    wrong: ApiError,
) -> ApiResult<()> {
    reserve_attempt(db, &challenge.email, purpose, now).await?;
    if !challenge.matches(key, code, now) || !consume_challenge(db, &challenge.id, now).await? {
        if let Some(until) = record_failure(db, &challenge.email, purpose, now).await? {
            tracing::info!(
                purpose = purpose.as_str(),
                "code verification locked for an address"
            );
            let _ = until;
        }
        return Err(wrong);
    }
    clear_failures(db, &challenge.email, purpose).await
}

pub fn otp_failure() -> ApiError {
    ApiError::new(
        ErrorCode::OtpVerificationFailure,
        "The code is wrong, expired or already used.",
    )
}

/// The newest live challenge of a kind for an address (passkey reset names no challenge).
pub async fn latest_challenge(
    db: &Db,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
) -> ApiResult<Option<Challenge>> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM email_challenges WHERE email = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(email)
    .bind(purpose.as_str())
    .bind(now.micros())
    .fetch_optional(db.pool())
    .await?;
    match id {
        Some(id) => find_challenge(db, &id, purpose).await,
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_documented_shapes() {
        for _ in 0..100 {
            let c = new_numeric_code();
            assert!(c.len() == 6 && c.chars().all(|c| c.is_ascii_digit()));
            let r = new_reset_code();
            assert!(r.len() == 8 && r.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn locks_double_up_to_an_hour() {
        assert_eq!(lock_seconds(0), 900);
        assert_eq!(lock_seconds(1), 1800);
        assert_eq!(lock_seconds(2), 3600);
        assert_eq!(lock_seconds(7), 3600);
    }
}
