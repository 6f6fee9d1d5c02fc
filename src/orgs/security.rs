//! The organization passkey policy (4.4): members sign in with a passkey after the e-mail code.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::Caller;
use crate::identity::sessions;

use super::access::OrgContext;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgPasskeyPolicy {
    passkeys_required: bool,
}

/// Requires passkeys of every member from their next sign-in (owner, elevated).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/security/require-passkeys", tag = "organizations", params(("orgId" = String, Path)),
    responses((status = 200, body = OrgPasskeyPolicy)))]
pub async fn require(
    State(state): State<AppState>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
) -> ApiResult<Json<OrgPasskeyPolicy>> {
    if !sessions::has_passkey(&state.db, &caller.user_id).await? {
        return Err(ApiError::new(
            ErrorCode::NoPasskeysRegistered,
            "Register a passkey yourself before requiring passkeys of the organization.",
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE orgs SET passkeys_required = 1 WHERE id = $1 AND passkeys_required = 0",
    )
    .bind(&ctx.org.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::new(
            ErrorCode::PasskeysAlreadyRequired,
            "This organization already requires passkeys.",
        ));
    }
    audit::record(
        &mut *tx,
        &origin,
        now,
        "org.passkeys_required",
        Some(&ctx.org.id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(OrgPasskeyPolicy {
        passkeys_required: true,
    }))
}

/// Turns the policy off.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/security/require-passkeys", tag = "organizations", params(("orgId" = String, Path)),
    responses((status = 204)))]
pub async fn relax(
    State(state): State<AppState>,
    ctx: OrgContext,
    origin: Origin,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE orgs SET passkeys_required = 0 WHERE id = $1")
        .bind(&ctx.org.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "org.passkeys_not_required",
        Some(&ctx.org.id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
