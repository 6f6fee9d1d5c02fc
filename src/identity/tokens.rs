//! Access tokens (4.6): created by an elevated session with a subset of scopes; shown once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::SecretResponse;
use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::{self, Origin};
use crate::crypto::{hash_secret, new_id, new_token};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::identity::IdentityState;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::auth::Caller;
use super::notices::Notice;
use super::scope::{self, Scope};
use super::store::tokens::{self as store, NewToken};

/// A new access token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "CI deploy", "scopes": ["billing:read", "exports:read"], "expiresAt": "2027-01-01T00:00:00Z"}))]
pub struct CreateToken {
    /// A name to recognise the token by: 1 to 100 characters.
    name: String,
    /// At least one scope; duplicates count once.
    #[schema(value_type = Vec<Scope>)]
    scopes: Vec<String>,
    /// When the token stops working (in the future); `null` or absent: never.
    expires_at: Option<Timestamp>,
}

/// An access token (its secret only when created).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "tok_5yhcf05g59s2s1kke59rmz9j92", "name": "CI deploy", "scopes": ["billing:read", "exports:read"], "expiresAt": "2027-01-01T00:00:00Z", "createdAt": "2026-11-24T10:40:00Z", "token": "cht_dzewnwv8cf5bn5mfqgc1trtdrhn3zhq8d5hfrswvk182vyz04sxw"}))]
pub struct TokenView {
    /// The token's id (`tok_…`), not its secret.
    pub(in crate::identity) id: String,
    /// The name given at creation.
    pub(in crate::identity) name: String,
    /// What the token may do; the user's own rights still apply.
    pub(in crate::identity) scopes: Vec<Scope>,
    /// When the token stops working; `null`: never.
    pub(in crate::identity) expires_at: Option<Timestamp>,
    /// When the token was created.
    pub(in crate::identity) created_at: Timestamp,
    /// The secret (`cht_…`) to send as `Authorization: Bearer …`: only in the answer that
    /// creates it, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::identity) token: Option<String>,
}

impl IntoResponse for TokenView {
    fn into_response(self) -> Response {
        let secret = self.token.is_some();
        let mut response = (StatusCode::CREATED, Json(self)).into_response();
        if secret {
            response.extensions_mut().insert(SecretResponse);
        }
        response
    }
}

/// Inside a unit of work: stores a new access token; returns its id and the secret (shown
/// once). `issued_under` is the start of the session that makes it (a lock holds the token as
/// it holds the session).
pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    user_id: &str,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<Timestamp>,
    issued_under: Timestamp,
    now: Timestamp,
) -> Result<(String, String), UnitError> {
    let id = new_id("tok");
    let token = new_token("cht");
    let row = NewToken {
        id: &id,
        user_id,
        name,
        token_hash: &hash_secret(&token),
        scopes: &scope::encode(scopes),
        expires_at,
        issued_under,
    };
    store::insert_in(w, &row, now)?;
    Ok((id, token))
}

/// Creates an access token (elevated session). Any scope may be granted; the user's own
/// rights still apply.
#[utoipa::path(post, path = "/v1/me/tokens", tag = "tokens", operation_id = "createToken", request_body = CreateToken,
    responses((status = 201, description = "The new token, with its secret shown this once.", body = TokenView)))]
pub async fn create(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<TokenView> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    let name = crate::names::parse(&body.name).unwrap_or_default();
    if name.is_empty() {
        errors.push(FieldError {
            field: "name".into(),
            message: crate::names::RULE.into(),
        });
    }
    let mut scopes = Vec::new();
    for (i, text) in body.scopes.iter().enumerate() {
        match Scope::parse(text) {
            Some(s) if !scopes.contains(&s) => scopes.push(s),
            Some(_) => {}
            None => errors.push(FieldError {
                field: format!("scopes[{i}]"),
                message: format!("unknown scope `{text}`"),
            }),
        }
    }
    if body.scopes.is_empty() {
        errors.push(FieldError {
            field: "scopes".into(),
            message: "must name at least one scope".into(),
        });
    }
    if body.expires_at.is_some_and(|t| t <= now) {
        errors.push(FieldError {
            field: "expiresAt".into(),
            message: "must be in the future".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validations(errors));
    }
    scopes.sort();
    let (id, token) =
        create_token(&state, &caller, origin, &name, &scopes, body.expires_at).await?;
    Ok(TokenView {
        id,
        name,
        scopes,
        expires_at: body.expires_at,
        created_at: now,
        token: Some(token),
    })
}

/// Creates an access token of the caller, audited and noticed, as one unit of work; its id and
/// secret.
async fn create_token(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<Timestamp>,
) -> ApiResult<(String, String)> {
    let now = state.clock.now();
    let what = format!("An access token named \"{name}\" was created.");
    let notice = Notice::security(state, &caller.email, &what, "token-created");
    let (user_id, issued_under) = (caller.user_id.clone(), caller.issued_at);
    let (name, scopes, queued) = (name.to_string(), scopes.to_vec(), notice.clone());
    let created = state
        .db
        .write(move |w| {
            let (id, token) =
                insert_in(w, &user_id, &name, &scopes, expires_at, issued_under, now)?;
            audit::record_in(
                w,
                &origin,
                now,
                "access_token.created",
                Some(&user_id),
                json!({ "tokenId": id, "scopes": scope::encode(&scopes) }),
            )?;
            queued.queue_in(w, now)?;
            Ok((id, token))
        })
        .await?;
    notice.send(now).await;
    Ok(created)
}

/// The caller's access tokens that are not revoked, newest first (without secrets).
#[utoipa::path(get, path = "/v1/me/tokens", tag = "tokens", operation_id = "listTokens",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the caller's access tokens.", body = Page<TokenView>)))]
pub async fn list(
    State(state): State<IdentityState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<TokenView>>> {
    let page = store::page(&state.db, &caller.user_id, &params).await?;
    Ok(Json(page))
}

/// Revokes an access token.
#[utoipa::path(delete, path = "/v1/me/tokens/{id}", tag = "tokens", operation_id = "deleteToken",
    params(("id" = String, Path, description = "The token's id (`tok_…`).")),
    responses((status = 204, description = "The token is revoked; it no longer works.")))]
pub async fn delete(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    revoke(&state, &caller, origin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes one of the caller's access tokens, audited and noticed, as one unit of work.
async fn revoke(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    id: String,
) -> ApiResult<()> {
    let now = state.clock.now();
    let what = "An access token was revoked.";
    let notice = Notice::security(state, &caller.email, what, "token-revoked");
    let (user_id, queued) = (caller.user_id.clone(), notice.clone());
    state
        .db
        .write(move |w| {
            if !store::revoke_in(w, &id, &user_id, now)? {
                return Err(ApiError::not_found("The access token"));
            }
            audit::record_in(
                w,
                &origin,
                now,
                "access_token.revoked",
                Some(&user_id),
                json!({ "tokenId": id }),
            )?;
            Ok(queued.queue_in(w, now)?)
        })
        .await?;
    notice.send(now).await;
    Ok(())
}
