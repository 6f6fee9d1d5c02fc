//! Sessions (4.3): created by interactive sign-in, listed, revoked, signed out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::api::SecretResponse;
use crate::api::extract::ApiPath;
use crate::audit::{self, Origin};
use crate::crypto::{hash_secret, new_id, new_token};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::identity::IdentityState;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::account::{self, Account, MeView};
use super::auth::Caller;
use super::store::sessions::{self as store, NewSession};

/// How a session's user last authenticated interactively.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    EmailOtp,
    Passkey,
    PasskeyReset,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::EmailOtp => "email-otp",
            AuthMethod::Passkey => "passkey",
            AuthMethod::PasskeyReset => "passkey-reset",
        }
    }
}

/// The answer of every sign-in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"sessionToken": "chs_jgq4sr4qvh3h63j9fhvmcqv1sd53tw8jz38aytnjkggsfkys7aa4", "expiresAt": "2026-12-24T10:15:00Z", "user": {"id": "usr_m9s346q3d25vt4f5v37e3s3e28", "email": "ada@lovelace.example", "displayName": "Ada Lovelace", "createdAt": "2026-11-02T09:12:40Z", "passkeysRequired": false, "platformAdmin": false, "termsAcceptedVersion": "2026-01"}, "restricted": false}))]
pub struct SessionGrant {
    /// The session token (`chs_…`), shown once; send it as `Authorization: Bearer …`.
    pub session_token: String,
    /// When the session ends at the latest (30 days); it also ends after 7 idle days.
    pub expires_at: Timestamp,
    /// The signed-in user.
    pub user: MeView,
    /// A restricted session may only register a passkey (other routes answer 403013): the
    /// account requires passkeys and has none yet.
    pub restricted: bool,
}

impl IntoResponse for SessionGrant {
    fn into_response(self) -> Response {
        let mut response = Json(self).into_response();
        response.extensions_mut().insert(SecretResponse);
        response
    }
}

/// Inside a unit of work: starts a session for a user whose standing was checked, with its
/// audit event; the grant to answer with. A lock (4.3) is never lifted: it holds the
/// credentials older than it, and this session is newer.
pub fn insert_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    account: &Account,
    method: AuthMethod,
    restricted: bool,
    now: Timestamp,
    lifetime_secs: i64,
) -> Result<SessionGrant, UnitError> {
    let id = new_id("ses");
    let token = new_token("chs");
    let expires_at = now.plus_seconds(lifetime_secs);
    let session = NewSession {
        id: &id,
        user_id: &account.id,
        token_hash: &hash_secret(&token),
        expires_at,
        method,
        restricted,
    };
    store::insert_in(w, &session, now)?;
    let origin = Origin {
        actor: Some(account.id.clone()),
        ..origin.clone()
    };
    audit::record_in(
        w,
        &origin,
        now,
        "session.created",
        Some(&account.id),
        json!({ "sessionId": id, "method": method.as_str(), "restricted": restricted }),
    )?;
    Ok(SessionGrant {
        session_token: token,
        expires_at,
        user: account::me_view(account),
        restricted,
    })
}

/// A session of the signed-in user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "ses_v81e5128q6rw31fzg0x454yg4g", "createdAt": "2026-11-24T10:15:00Z", "lastUsedAt": "2026-11-24T10:31:00Z", "expiresAt": "2026-12-24T10:15:00Z", "current": true}))]
pub struct SessionView {
    /// The session's id (`ses_…`), not its token.
    pub id: String,
    /// When the user signed in.
    pub created_at: Timestamp,
    /// When the session was last used, to about a minute.
    pub last_used_at: Timestamp,
    /// When the session ends at the latest.
    pub expires_at: Timestamp,
    /// The session making this request.
    pub current: bool,
}

/// The caller's sessions that can still be used, newest first.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "sessions", operation_id = "listSessions",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the caller's sessions.", body = Page<SessionView>)))]
pub async fn list(
    State(state): State<IdentityState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<SessionView>>> {
    let current = caller.session_id()?;
    let now = state.clock.now();
    let idle_cutoff = now.minus_seconds(state.config.session_idle_secs);
    let mut page = store::live_page(&state.db, &caller.user_id, now, idle_cutoff, &params).await?;
    for session in &mut page.items {
        session.current = session.id == current;
    }
    Ok(Json(page))
}

/// Revokes one of the user's sessions, audited, as one unit of work; `false` when it is not
/// theirs or was revoked already.
async fn revoke(
    state: &IdentityState,
    origin: &Origin,
    user_id: &str,
    session_id: &str,
) -> ApiResult<bool> {
    let now = state.clock.now();
    let (origin, user_id, session_id) =
        (origin.clone(), user_id.to_string(), session_id.to_string());
    state
        .db
        .write(move |w| {
            if !store::revoke_in(w, &session_id, &user_id, now)? {
                return Ok(false);
            }
            audit::record_in(
                w,
                &origin,
                now,
                "session.revoked",
                Some(&user_id),
                json!({ "sessionId": session_id }),
            )?;
            Ok(true)
        })
        .await
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "sessions", operation_id = "deleteSession",
    params(("id" = String, Path, description = "The session's id (`ses_…`).")),
    responses((status = 204, description = "The session is ended; its token no longer works.")))]
pub async fn delete(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if revoke(&state, &origin, &caller.user_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("The session"))
    }
}

/// A session that has ended.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedOut {
    /// Always `true`.
    #[serde(rename = "signedOut")]
    signed_out: bool,
}

/// Ends the calling session.
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "sessions", operation_id = "signOut",
    responses((status = 200, description = "Signed out: the token no longer works.", body = SignedOut)))]
pub async fn sign_out(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
) -> ApiResult<Json<SignedOut>> {
    let id = caller.session_id()?.to_string();
    revoke(&state, &origin, &caller.user_id, &id).await?;
    Ok(Json(SignedOut { signed_out: true }))
}

/// Whether the user has at least one passkey.
pub async fn has_passkey(db: &crate::db::Db, user_id: &str) -> ApiResult<bool> {
    Ok(super::store::passkeys::count(db, user_id).await? > 0)
}

/// Whether the user has at least one passkey, inside a unit of work.
pub(crate) fn has_passkey_in(w: &mut Unit<'_>, user_id: &str) -> Result<bool, UnitError> {
    Ok(super::store::passkeys::count_in(w, user_id)? > 0)
}
