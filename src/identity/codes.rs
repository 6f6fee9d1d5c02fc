//! Mailed codes: generation, challenges, send quotas and verification lockouts.
//!
//! Both counters live in the database and move by single atomic upserts, so the limits hold
//! for parallel requests and across processes: a verification reserves its attempt *before*
//! the code is compared, which is why 50 parallel wrong codes get at most 5 evaluated.

use axum::http::{HeaderValue, header};
use rand::Rng;

use crate::crypto::{constant_time_eq, new_id};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::IdentityState;
use crate::mail::{Mail, Mailer};
use crate::server_key::ServerKey;
use crate::time::Timestamp;

use super::store::codes::{self as store, NewChallengeRow};

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
    let sent = store::count_send_in(w, email, purpose, now, now.minus_seconds(3600))?;
    if sent.count <= MAX_SENDS_PER_HOUR {
        return Ok(None);
    }
    Ok(Some(sent.window_start.plus_seconds(3600)))
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
    let attempts = store::count_attempt_in(w, email, purpose, now, window_cutoff)?;
    if let Some(until) = attempts.locked_until {
        return Ok(Some(until));
    }
    if attempts.failures > MAX_FAILURES {
        // The lock is being set by the attempt that reached the limit; name when it will end.
        return Ok(Some(now.plus_seconds(lock_seconds(attempts.lock_level))));
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
    let Some(attempts) = store::attempts_in(w, email, purpose)? else {
        return Ok(None);
    };
    if attempts.failures < MAX_FAILURES {
        return Ok(None);
    }
    let until = now.plus_seconds(lock_seconds(attempts.lock_level));
    Ok(store::lock_in(w, email, purpose, until)?.then_some(until))
}

/// A stored challenge, as verification needs it.
#[derive(Clone)]
pub struct Challenge {
    pub id: String,
    pub email: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub(in crate::identity) code_hash: String,
    pub(in crate::identity) expires_at: Timestamp,
    pub(in crate::identity) used: bool,
}

impl Challenge {
    pub fn matches(&self, key: &ServerKey, code: &str, now: Timestamp) -> bool {
        let hash = key.hash_code(&self.id, code.trim());
        // Compare even when expired, so timing tells nothing.
        let equal = constant_time_eq(&hash, &self.code_hash);
        equal && !self.used && now < self.expires_at
    }
}

/// A code to mail: what for, to whom, and (elevation, e-mail change) whose session asked.
pub struct NewChallenge {
    pub purpose: Purpose,
    pub email: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub code: String,
}

/// Stores a challenge; returns its id and expiry.
fn create_challenge_in(
    w: &mut Unit<'_>,
    key: &ServerKey,
    new: &NewChallenge,
    now: Timestamp,
    ttl_secs: i64,
) -> Result<(String, Timestamp), UnitError> {
    let id = new_id("chl");
    let expires_at = now.plus_seconds(ttl_secs);
    let row = NewChallengeRow {
        id: &id,
        purpose: new.purpose,
        email: &new.email,
        user_id: new.user_id.as_deref(),
        session_id: new.session_id.as_deref(),
        code_hash: key.hash_code(&id, &new.code),
        expires_at,
    };
    store::insert_challenge_in(w, row, now)?;
    Ok((id, expires_at))
}

/// Inside a unit of work: counts the code against the address's quota, stores its challenge
/// and queues `mail` (made of the code; sent after the commit with `Mailer::after_commit`).
/// Past the quota nothing is stored or queued: `Err` with when the window ends.
pub(crate) fn send_in(
    w: &mut Unit<'_>,
    key: &ServerKey,
    mailer: &Mailer,
    new: &NewChallenge,
    mail: &Mail,
    now: Timestamp,
    ttl_secs: i64,
) -> Result<Result<(String, Timestamp), Timestamp>, UnitError> {
    if let Some(until) = reserve_send_in(w, &new.email, new.purpose, now)? {
        return Ok(Err(until));
    }
    let challenge = create_challenge_in(w, key, new, now, ttl_secs)?;
    mailer.queue_in(w, now, mail)?;
    Ok(Ok(challenge))
}

/// [`send_in`] as one unit of work, the mail sent before the request answers; 403005 past the
/// address's quota. Returns the challenge's id and expiry.
pub(crate) async fn send(
    state: &IdentityState,
    new: NewChallenge,
    mail: Mail,
    now: Timestamp,
) -> ApiResult<(String, Timestamp)> {
    let (key, mailer, ttl) = (
        state.key.clone(),
        state.mailer.clone(),
        state.config.code_ttl_secs,
    );
    let queued = mail.clone();
    let challenge = state
        .db
        .write(move |w| Ok(send_in(w, &key, &mailer, &new, &queued, now, ttl)?))
        .await?
        .map_err(|until| locked_out(until, now))?;
    state
        .mailer
        .after_commit(now, mail)
        .await
        .map_err(ApiError::internal)?;
    Ok(challenge)
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
    let consumed =
        challenge.matches(key, code, now) && store::use_challenge_in(w, &challenge.id, now)?;
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
    store::clear_attempts_in(w, &challenge.email, purpose)?;
    Ok(Verdict::Verified)
}

pub fn otp_failure() -> ApiError {
    ApiError::new(
        ErrorCode::OtpVerificationFailure,
        "The code is wrong, expired or already used.",
    )
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
