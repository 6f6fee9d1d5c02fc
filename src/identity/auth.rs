//! Who is calling: resolving a bearer token to a [`Caller`], with the token checks of
//! section 3 step 2 (401001, then 403003, 403004, 403002).

use sqlx::Row as _;

use crate::clock::Clock;
use crate::crypto::hash_secret;
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::scope::{self, Scope};
use crate::time::Timestamp;

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

/// Resolves a token and applies the account checks, in order.
pub async fn authenticate(
    db: &Db,
    clock: &Clock,
    token: Option<&str>,
    session_idle_secs: i64,
) -> ApiResult<Caller> {
    let token = token.ok_or_else(authentication_required)?;
    let now = clock.now();
    let hash = hash_secret(token);
    let (caller, row) = if token.starts_with("chs_") {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.last_used_at, s.auth_at, s.auth_method, s.restricted,
                    u.email, u.platform_admin, u.terms_accepted_version, u.banned_at, u.suspended_until, u.locked_at,
                    (SELECT version FROM terms ORDER BY published_at DESC, version DESC LIMIT 1) AS current_terms
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(authentication_required)?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let last_used_at: i64 = row.try_get("last_used_at")?;
        let idle_deadline = Timestamp::from_micros(last_used_at).plus_seconds(session_idle_secs);
        if now.micros() >= expires_at || now >= idle_deadline {
            return Err(authentication_required());
        }
        let id: String = row.try_get("id")?;
        if now.micros() - last_used_at >= SESSION_TOUCH_MICROS {
            // Coarse: at most one write a minute per session.
            sqlx::query(
                "UPDATE sessions SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1",
            )
            .bind(now.micros())
            .bind(&id)
            .execute(db.pool())
            .await?;
        }
        let credential = Credential::Session {
            id,
            auth_at: Timestamp::from_micros(row.try_get("auth_at")?),
            auth_method: row.try_get("auth_method")?,
            restricted: row.try_get::<i64, _>("restricted")? != 0,
        };
        (credential, row)
    } else if token.starts_with("cht_") {
        let row = sqlx::query(
            "SELECT t.id, t.user_id, t.created_at, t.scopes, t.expires_at,
                    u.email, u.platform_admin, u.terms_accepted_version, u.banned_at, u.suspended_until, u.locked_at,
                    (SELECT version FROM terms ORDER BY published_at DESC, version DESC LIMIT 1) AS current_terms
             FROM access_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(authentication_required)?;
        if let Some(expires_at) = row.try_get::<Option<i64>, _>("expires_at")?
            && now.micros() >= expires_at
        {
            return Err(authentication_required());
        }
        let credential = Credential::AccessToken {
            id: row.try_get("id")?,
            scopes: scope::decode(&row.try_get::<String, _>("scopes")?),
        };
        (credential, row)
    } else {
        return Err(authentication_required());
    };

    if row.try_get::<Option<i64>, _>("banned_at")?.is_some() {
        return Err(ApiError::new(
            ErrorCode::UserBanned,
            "This account is banned.",
        ));
    }
    if let Some(until) = row.try_get::<Option<i64>, _>("suspended_until")? {
        let until = Timestamp::from_micros(until);
        if now < until {
            return Err(ApiError::new(
                ErrorCode::UserSuspended,
                format!("This account is suspended until {until}."),
            )
            .with("suspendedUntil", until));
        }
    }
    // A lock (4.3) holds every credential issued before it; an interactive sign-in lifts it.
    let issued_at: i64 = row.try_get("created_at")?;
    if row
        .try_get::<Option<i64>, _>("locked_at")?
        .is_some_and(|locked_at| issued_at < locked_at)
    {
        return Err(ApiError::new(
            ErrorCode::SignInAgainRequired,
            "This account is temporarily locked; sign in again interactively.",
        ));
    }
    Ok(Caller {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        platform_admin: row.try_get::<i64, _>("platform_admin")? != 0,
        terms_accepted_version: row.try_get("terms_accepted_version")?,
        current_terms: row.try_get("current_terms")?,
        credential: caller,
    })
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
