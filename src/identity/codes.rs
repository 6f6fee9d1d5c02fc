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
use crate::db::{Unit, UnitError};
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

/// Counts one mailed code against the address's hourly quota; past it, when the window ends.
pub fn reserve_send_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Option<Timestamp>, UnitError> {
    let row = w.query_one(
        "INSERT INTO send_quotas (email, kind, window_start, sent) VALUES ($1, $2, $3, 1)
         ON CONFLICT (email, kind) DO UPDATE SET
           sent = CASE WHEN send_quotas.window_start <= $4 THEN 1 ELSE send_quotas.sent + 1 END,
           window_start = CASE WHEN send_quotas.window_start <= $4 THEN $3 ELSE send_quotas.window_start END
         RETURNING sent, window_start",
        crate::params![email, purpose.as_str(), now, now.minus_seconds(3600)],
    )?;
    if row.int("sent")? <= MAX_SENDS_PER_HOUR {
        return Ok(None);
    }
    Ok(Some(row.time("window_start")?.plus_seconds(3600)))
}

/// Counts one mailed code; past the hourly quota answers 403005.
pub async fn reserve_send(db: &Db, email: &str, purpose: Purpose, now: Timestamp) -> ApiResult<()> {
    let email = email.to_string();
    match db
        .write(move |w| Ok(reserve_send_in(w, &email, purpose, now)?))
        .await?
    {
        Some(until) => Err(locked_out(until, now)),
        None => Ok(()),
    }
}

fn lock_seconds(level: i64) -> i64 {
    (FIRST_LOCK_SECS << level.clamp(0, 8)).min(MAX_LOCK_SECS)
}

/// Reserves one verification attempt for the address; while it is locked, when the lock ends.
pub fn reserve_attempt_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Option<Timestamp>, UnitError> {
    let window_cutoff = now.minus_seconds(FAILURE_WINDOW_SECS);
    // A fresh window starts when the old one is over or an earlier lock has expired.
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
    if let Some(until) = row.opt_time("locked_until")? {
        return Ok(Some(until));
    }
    if row.int("failures")? > MAX_FAILURES {
        // The lock is being set by the attempt that reached the limit; name when it will end.
        return Ok(Some(now.plus_seconds(lock_seconds(row.int("lock_level")?))));
    }
    Ok(None)
}

/// After a wrong code: locks the address when this was the last allowed attempt.
pub fn record_failure_in(
    w: &mut Unit<'_>,
    email: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Option<Timestamp>, UnitError> {
    let Some(row) = w.query_opt(
        "SELECT failures, lock_level FROM code_lockouts WHERE email = $1 AND kind = $2",
        crate::params![email, purpose.as_str()],
    )?
    else {
        return Ok(None);
    };
    if row.int("failures")? < MAX_FAILURES {
        return Ok(None);
    }
    let until = now.plus_seconds(lock_seconds(row.int("lock_level")?));
    let locked = w.execute(
        "UPDATE code_lockouts SET locked_until = $3, lock_level = lock_level + 1
         WHERE email = $1 AND kind = $2 AND locked_until IS NULL",
        crate::params![email, purpose.as_str(), until],
    )?;
    Ok((locked == 1).then_some(until))
}

/// A stored challenge, as verification needs it.
#[derive(Clone)]
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
pub fn create_challenge_in(
    w: &mut Unit<'_>,
    key: &ServerKey,
    new: NewChallenge<'_>,
    now: Timestamp,
    ttl_secs: i64,
) -> Result<(String, Timestamp), UnitError> {
    let id = new_id("chl");
    let expires_at = now.plus_seconds(ttl_secs);
    w.execute(
        "INSERT INTO email_challenges (id, purpose, email, user_id, session_id, code_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        crate::params![
            id.as_str(),
            new.purpose.as_str(),
            new.email,
            new.user_id,
            new.session_id,
            key.hash_code(&id, new.code),
            now,
            expires_at,
        ],
    )?;
    Ok((id, expires_at))
}

/// An owned [`NewChallenge`], to move into a unit of work.
struct Pending {
    purpose: Purpose,
    email: String,
    user_id: Option<String>,
    session_id: Option<String>,
    code: String,
}

/// Stores the challenge of a new code and mails the message made of it, before the request
/// answers. The caller has counted the code against the address's quota.
pub async fn issue(
    state: &crate::app::AppState,
    new: NewChallenge<'_>,
    mail: crate::mail::Mail,
    now: Timestamp,
) -> ApiResult<(String, Timestamp)> {
    let pending = Pending {
        purpose: new.purpose,
        email: new.email.to_string(),
        user_id: new.user_id.map(str::to_string),
        session_id: new.session_id.map(str::to_string),
        code: new.code.to_string(),
    };
    let (key, mailer, ttl) = (
        state.key.clone(),
        state.mailer.clone(),
        state.config.code_ttl_secs,
    );
    let queued = mail.clone();
    let challenge = state
        .db
        .write(move |w| {
            let new = NewChallenge {
                purpose: pending.purpose,
                email: &pending.email,
                user_id: pending.user_id.as_deref(),
                session_id: pending.session_id.as_deref(),
                code: &pending.code,
            };
            let challenge = create_challenge_in(w, &key, new, now, ttl)?;
            mailer.queue_in(w, now, &queued)?;
            Ok(challenge)
        })
        .await?;
    state
        .mailer
        .after_commit(now, mail)
        .await
        .map_err(ApiError::internal)?;
    Ok(challenge)
}

const CHALLENGE: &str = "SELECT id, email, user_id, session_id, code_hash, expires_at, used_at FROM email_challenges WHERE id = $1 AND purpose = $2";

impl crate::db::FromRecord for Challenge {
    fn from_record(r: &crate::db::Record) -> Result<Challenge, UnitError> {
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

/// A challenge, inside a unit of work.
pub fn find_challenge_in(
    w: &mut Unit<'_>,
    id: &str,
    purpose: Purpose,
) -> Result<Option<Challenge>, UnitError> {
    use crate::db::FromRecord as _;
    w.query_opt(CHALLENGE, crate::params![id, purpose.as_str()])?
        .as_ref()
        .map(Challenge::from_record)
        .transpose()
}

pub async fn find_challenge(db: &Db, id: &str, purpose: Purpose) -> ApiResult<Option<Challenge>> {
    let row = sqlx::query(CHALLENGE)
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

/// What a code check decided. Every outcome commits: a failure counts toward the lockout.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Verified,
    Wrong,
    /// Locked before this attempt (until then).
    LockedOut(Timestamp),
}

/// The whole verification of a code against a challenge, with the lockout rules: the attempt
/// is reserved before the code is compared, the challenge is used once, a success clears the
/// count.
pub fn verify_in(
    w: &mut Unit<'_>,
    key: &ServerKey,
    challenge: &Challenge,
    code: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Verdict, UnitError> {
    if let Some(until) = reserve_attempt_in(w, &challenge.email, purpose, now)? {
        return Ok(Verdict::LockedOut(until));
    }
    let consumed = challenge.matches(key, code, now)
        && w.execute(
            "UPDATE email_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
            crate::params![challenge.id.as_str(), now],
        )? == 1;
    if !consumed {
        // The attempt that reaches the limit is answered as wrong; the next ones are locked.
        if record_failure_in(w, &challenge.email, purpose, now)?.is_some() {
            tracing::info!(
                purpose = purpose.as_str(),
                "code verification locked for an address"
            );
        }
        return Ok(Verdict::Wrong);
    }
    w.execute(
        "DELETE FROM code_lockouts WHERE email = $1 AND kind = $2",
        crate::params![challenge.email.as_str(), purpose.as_str()],
    )?;
    Ok(Verdict::Verified)
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
