//! Access tokens (4.6): created by an elevated session with a subset of scopes; shown once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row as _;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::idempotency::SecretResponse;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::auth::Caller;
use super::scope::{self, Scope};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateToken {
    name: String,
    scopes: Vec<String>,
    expires_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    id: String,
    name: String,
    scopes: Vec<Scope>,
    expires_at: Option<Timestamp>,
    created_at: Timestamp,
    /// Only in the answer that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
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

/// Creates an access token (elevated session). Any scope may be granted; the user's own
/// rights still apply.
#[utoipa::path(post, path = "/v1/me/tokens", tag = "tokens", request_body = CreateToken, responses((status = 201, body = TokenView)))]
pub async fn create(
    State(state): State<AppState>,
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
    let mut tx = state.db.begin_write().await?;
    let (id, token) = super::users::insert_access_token(
        &mut tx,
        &caller.user_id,
        &name,
        &scopes,
        body.expires_at,
        caller.issued_at,
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "access_token.created",
        Some(&caller.user_id),
        json!({ "tokenId": id, "scopes": scope::encode(&scopes) }),
    )
    .await?;
    tx.commit().await?;
    let notice = format!("An access token named \"{name}\" was created.");
    state
        .security_notice(now, &caller.email, &notice, "token-created")
        .await;
    Ok(TokenView {
        id,
        name,
        scopes,
        expires_at: body.expires_at,
        created_at: now,
        token: Some(token),
    })
}

/// The caller's access tokens that are not revoked, newest first (without secrets).
#[utoipa::path(get, path = "/v1/me/tokens", tag = "tokens",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)), responses((status = 200, body = Page<TokenView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<TokenView>>> {
    let view = |r: &crate::db::Row| {
        Ok(TokenView {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            scopes: scope::decode(&r.try_get::<String, _>("scopes")?),
            expires_at: r
                .try_get::<Option<i64>, _>("expires_at")?
                .map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
            token: None,
        })
    };
    let columns = "id, name, scopes, expires_at, created_at";
    let from = "access_tokens WHERE user_id = $1 AND revoked_at IS NULL";
    let page = crate::db::page::by_key_rows(
        &state.db,
        &params,
        columns,
        from,
        "created_at DESC, id DESC",
        &caller.user_id,
        view,
    )
    .await?;
    Ok(Json(page))
}

/// Revokes an access token.
#[utoipa::path(delete, path = "/v1/me/tokens/{id}", tag = "tokens", params(("id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query("UPDATE access_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
        .bind(&id)
        .bind(&caller.user_id)
        .bind(now.micros())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("The access token"));
    }
    audit::record(
        &mut *tx,
        &origin,
        now,
        "access_token.revoked",
        Some(&caller.user_id),
        json!({ "tokenId": id }),
    )
    .await?;
    tx.commit().await?;
    state
        .security_notice(
            now,
            &caller.email,
            "An access token was revoked.",
            "token-revoked",
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
