//! The organization passkey policy (4.4): members sign in with a passkey after the e-mail code.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;

use super::OrgsState;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::Caller;
use crate::identity::sessions;

use super::access::OrgContext;
use super::store;

/// An organization's passkey policy.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgPasskeyPolicy {
    /// Whether every member must sign in with a passkey.
    passkeys_required: bool,
}

/// Requires passkeys of every member from their next sign-in (owner, elevated). The owner must
/// have a passkey first.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/security/require-passkeys", tag = "organizations", operation_id = "requireOrgPasskeys",
    params(("orgId" = String, Path, description = crate::api::ORG_ID)),
    responses((status = 200, description = "The policy is on.", body = OrgPasskeyPolicy)))]
pub async fn require(
    State(state): State<OrgsState>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
) -> ApiResult<Json<OrgPasskeyPolicy>> {
    require_passkeys(&state, origin, ctx.org.id, caller.user_id).await?;
    Ok(Json(OrgPasskeyPolicy {
        passkeys_required: true,
    }))
}

/// One unit: the owner's own passkey, the conditional switch (400014 when the policy is on
/// already) and its audit event.
async fn require_passkeys(
    state: &OrgsState,
    origin: Origin,
    org_id: String,
    owner_id: String,
) -> ApiResult<()> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            if !sessions::has_passkey_in(w, &owner_id)? {
                return Err(ApiError::new(
                    ErrorCode::NoPasskeysRegistered,
                    "Register a passkey yourself before requiring passkeys of the organization.",
                ));
            }
            if !store::orgs::require_passkeys(w, &org_id)? {
                return Err(ApiError::new(
                    ErrorCode::PasskeysAlreadyRequired,
                    "This organization already requires passkeys.",
                ));
            }
            audit::record_in(
                w,
                &origin,
                now,
                "org.passkeys_required",
                Some(&org_id),
                json!({}),
            )?;
            Ok(())
        })
        .await
}

/// Turns the policy off.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/security/require-passkeys", tag = "organizations", operation_id = "unrequireOrgPasskeys",
    params(("orgId" = String, Path, description = crate::api::ORG_ID)),
    responses((status = 204, description = "The policy is off (or was).")))]
pub async fn relax(
    State(state): State<OrgsState>,
    ctx: OrgContext,
    origin: Origin,
) -> ApiResult<StatusCode> {
    relax_passkeys(&state, origin, ctx.org.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn relax_passkeys(state: &OrgsState, origin: Origin, org_id: String) -> ApiResult<()> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            store::orgs::relax_passkeys(w, &org_id)?;
            audit::record_in(
                w,
                &origin,
                now,
                "org.passkeys_not_required",
                Some(&org_id),
                json!({}),
            )?;
            Ok(())
        })
        .await
}
