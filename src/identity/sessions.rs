//! Sessions (4.3): created by interactive sign-in, listed, revoked, signed out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use sqlx::Row as _;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::{hash_secret, new_id, new_token};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ApiPath;
use crate::http::idempotency::SecretResponse;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::account::{self, Account, MeView};
use super::auth::Caller;

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
pub struct SessionGrant {
    /// Shown once; send it as `Authorization: Bearer …`.
    pub session_token: String,
    pub expires_at: Timestamp,
    pub user: MeView,
    /// A restricted session may only register a passkey (4.4).
    pub restricted: bool,
}

impl IntoResponse for SessionGrant {
    fn into_response(self) -> Response {
        let mut response = Json(self).into_response();
        response.extensions_mut().insert(SecretResponse);
        response
    }
}

/// Starts a session for a user whose standing was checked. A lock (4.3) is never lifted: it
/// holds the credentials older than it, and this session is newer.
pub async fn start(
    state: &AppState,
    origin: &Origin,
    account: &Account,
    method: AuthMethod,
    restricted: bool,
) -> ApiResult<SessionGrant> {
    let (origin, account) = (origin.clone(), account.clone());
    let (now, lifetime) = (state.clock.now(), state.config.session_absolute_secs);
    state
        .db
        .write(move |w| {
            Ok(insert_in(
                w, &origin, &account, method, restricted, now, lifetime,
            )?)
        })
        .await
}

/// Inside a unit of work: the session row and its audit event; the grant to answer with.
pub fn insert_in(
    w: &mut crate::db::Unit<'_>,
    origin: &Origin,
    account: &Account,
    method: AuthMethod,
    restricted: bool,
    now: Timestamp,
    lifetime_secs: i64,
) -> Result<SessionGrant, crate::db::UnitError> {
    let id = new_id("ses");
    let token = new_token("chs");
    let expires_at = now.plus_seconds(lifetime_secs);
    w.execute(
        "INSERT INTO sessions (id, user_id, token_hash, created_at, last_used_at, expires_at, auth_at, auth_method, restricted)
         VALUES ($1, $2, $3, $4, $4, $5, $4, $6, $7)",
        crate::params![
            id.as_str(),
            account.id.as_str(),
            hash_secret(&token),
            now,
            expires_at,
            method.as_str(),
            restricted,
        ],
    )?;
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

/// Records a new interactive authentication of a session (elevation).
pub async fn mark_authenticated(
    state: &AppState,
    session_id: &str,
    method: AuthMethod,
) -> ApiResult<()> {
    sqlx::query("UPDATE sessions SET auth_at = $2, auth_method = $3 WHERE id = $1")
        .bind(session_id)
        .bind(state.clock.now().micros())
        .bind(method.as_str())
        .execute(state.db.writer())
        .await?;
    Ok(())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    /// The session making this request.
    pub current: bool,
}

/// The caller's sessions that can still be used, newest first.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "sessions",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Page<SessionView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<SessionView>>> {
    let current = caller.session_id()?.to_string();
    let now = state.clock.now();
    let idle_cutoff = now.minus_seconds(state.config.session_idle_secs).micros();
    let live = "user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM sessions WHERE {live}"
    )))
    .bind(&caller.user_id)
    .bind(now.micros())
    .bind(idle_cutoff)
    .fetch_one(state.db.pool())
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, created_at, last_used_at, expires_at FROM sessions WHERE {live}
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    )))
    .bind(&caller.user_id)
    .bind(now.micros())
    .bind(idle_cutoff)
    .bind(params.limit)
    .bind(params.from)
    .fetch_all(state.db.pool())
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            Ok(SessionView {
                current: id == current,
                id,
                created_at: Timestamp::from_micros(r.try_get("created_at")?),
                last_used_at: Timestamp::from_micros(r.try_get("last_used_at")?),
                expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(Page::new(&params, items, total)))
}

async fn revoke(
    state: &AppState,
    origin: &Origin,
    user_id: &str,
    session_id: &str,
) -> ApiResult<bool> {
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(now.micros())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        audit::record(
            &mut *tx,
            origin,
            now,
            "session.revoked",
            Some(user_id),
            json!({ "sessionId": session_id }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "sessions",
    params(("id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<AppState>,
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedOut {
    #[serde(rename = "signedOut")]
    signed_out: bool,
}

/// Ends the calling session.
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "sessions", responses((status = 200, body = SignedOut)))]
pub async fn sign_out(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
) -> ApiResult<Json<SignedOut>> {
    let id = caller.session_id()?.to_string();
    revoke(&state, &origin, &caller.user_id, &id).await?;
    Ok(Json(SignedOut { signed_out: true }))
}

/// Ends every session of a user but `keep` (after a passkey reset).
pub async fn revoke_all_but(
    tx: &mut crate::db::Tx,
    user_id: &str,
    keep: Option<&str>,
    now: Timestamp,
) -> ApiResult<u64> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND id <> $3")
        .bind(user_id)
        .bind(now.micros())
        .bind(keep.unwrap_or(""))
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// Whether the user has a passkey, inside a unit of work.
pub fn has_passkey_in(
    w: &mut crate::db::Unit<'_>,
    user_id: &str,
) -> Result<bool, crate::db::UnitError> {
    Ok(w.query_one(
        "SELECT COUNT(*) AS n FROM passkeys WHERE user_id = $1",
        crate::params![user_id],
    )?
    .int("n")?
        > 0)
}

/// Whether the user has at least one passkey.
pub async fn has_passkey(db: &crate::db::Db, user_id: &str) -> ApiResult<bool> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
