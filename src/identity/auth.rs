//! Who is calling: resolving a bearer token to a [`Caller`], with the token checks of
//! section 3 step 2 (401001, then 403003, 403004, 403002).

use crate::clock::Clock;
use crate::crypto::hash_secret;
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::scope::Scope;
use crate::time::Timestamp;

use super::store::auth as store;

/// How the caller authenticated.
#[derive(Clone, Debug)]
pub enum Credential {
    Session {
        id: String,
        auth_at: Timestamp,
        auth_method: String,
        restricted: bool,
    },
    AccessToken {
        id: String,
        scopes: Vec<Scope>,
    },
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: String,
    pub email: String,
    pub platform_admin: bool,
    pub terms_accepted_version: Option<String>,
    /// The latest published terms version, read with the token.
    pub current_terms: Option<String>,
    /// The user's last passkey reset (a platform administrator is held after it, 4.5).
    pub recovered_at: Option<Timestamp>,
    /// When the credential's line began: a session's start; for an access token, the start of
    /// the session that made it. A lock holds every credential whose line began before it.
    pub issued_at: Timestamp,
    pub credential: Credential,
}

impl Caller {
    pub fn is_session(&self) -> bool {
        matches!(self.credential, Credential::Session { .. })
    }

    pub fn has_scope(&self, wanted: Scope) -> bool {
        match &self.credential {
            Credential::Session { .. } => true,
            Credential::AccessToken { scopes, .. } => scopes.contains(&wanted),
        }
    }

    pub fn is_restricted(&self) -> bool {
        matches!(
            self.credential,
            Credential::Session {
                restricted: true,
                ..
            }
        )
    }
}

fn authentication_required() -> ApiError {
    ApiError::new(
        ErrorCode::AuthenticationRequired,
        "A valid bearer token is required.",
    )
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

const SESSION_TOUCH_MICROS: i64 = 60 * crate::time::MICROS_PER_SECOND;

/// What the database says about a token: everything the checks of step 2 need. Cached (see
/// `crate::cache`), so the checks themselves run on every request against the clock.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub(in crate::identity) caller: Caller,
    pub(in crate::identity) issued_at: i64,
    pub(in crate::identity) expires_at: Option<i64>,
    pub(in crate::identity) last_used_at: Option<i64>,
    pub(in crate::identity) banned: bool,
    pub(in crate::identity) suspended_until: Option<i64>,
    pub(in crate::identity) locked_at: Option<i64>,
}

/// The live token's record, read by the kind its prefix names.
async fn fetch_record(db: &Db, token: &str, hash: &str) -> ApiResult<Option<TokenRecord>> {
    let record = if token.starts_with("chs_") {
        store::session(db, hash).await?
    } else if token.starts_with("cht_") {
        store::access_token(db, hash).await?
    } else {
        None
    };
    Ok(record)
}

/// Where the pipeline finds tokens it has seen.
pub struct TokenCache {
    pub records: crate::cache::EpochCache<TokenRecord>,
}

/// Resolves a token and applies the account checks, in order: unknown, expired or revoked
/// 401001; banned 403003; suspended 403004; locked 403002.
pub async fn authenticate(
    db: &Db,
    clock: &Clock,
    cache: &TokenCache,
    epoch: &crate::cache::Epoch,
    token: Option<&str>,
    session_idle_secs: i64,
) -> ApiResult<Caller> {
    let token = token.ok_or_else(authentication_required)?;
    let now = clock.now();
    let hash = hash_secret(token);
    let mut record = match cache.records.get(&hash, epoch) {
        Some(record) => record,
        None => {
            let read_at = epoch.current();
            let record = fetch_record(db, token, &hash)
                .await?
                .ok_or_else(authentication_required)?;
            cache.records.put(&hash, record.clone(), read_at, epoch);
            record
        }
    };
    if record.expires_at.is_some_and(|at| now.micros() >= at) {
        return Err(authentication_required());
    }
    if let Some(last_used_at) = record.last_used_at {
        if now >= Timestamp::from_micros(last_used_at).plus_seconds(session_idle_secs) {
            return Err(authentication_required());
        }
        if let Credential::Session { id, .. } = &record.caller.credential
            && now.micros() - last_used_at >= SESSION_TOUCH_MICROS
        {
            // Coarse: at most one write a minute per session.
            let id = id.clone();
            db.write(move |w| Ok(super::store::sessions::touch_in(w, &id, now)?))
                .await?;
            record.last_used_at = Some(now.micros());
            cache.records.remove(&hash);
        }
    }
    if record.banned {
        return Err(ApiError::new(
            ErrorCode::UserBanned,
            "This account is banned.",
        ));
    }
    if let Some(until) = record
        .suspended_until
        .map(Timestamp::from_micros)
        .filter(|until| now < *until)
    {
        return Err(ApiError::new(
            ErrorCode::UserSuspended,
            format!("This account is suspended until {until}."),
        )
        .with("suspendedUntil", until));
    }
    // A lock (4.3) holds every credential issued before it for good; a later sign-in only
    // starts fresh ones (the lock time is never cleared).
    if record
        .locked_at
        .is_some_and(|locked_at| record.issued_at < locked_at)
    {
        return Err(ApiError::new(
            ErrorCode::SignInAgainRequired,
            "This account is temporarily locked; sign in again interactively.",
        ));
    }
    Ok(record.caller)
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(authentication_required)
    }
}

impl Caller {
    /// The session id, for routes the policy table limits to sessions.
    pub fn session_id(&self) -> ApiResult<&str> {
        match &self.credential {
            Credential::Session { id, .. } => Ok(id),
            Credential::AccessToken { .. } => Err(ApiError::unauthorized()),
        }
    }
}
