//! Members (5): list, change role or signatory, remove. An organization always keeps an owner.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::OrgsState;
use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::Caller;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::access::OrgContext;
use super::permissions::Role;
use super::store;

/// A member of an organization.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"userId": "usr_m9s346q3d25vt4f5v37e3s3e28", "email": "ada@lovelace.example", "role": "owner", "legalSignatory": true, "joinedAt": "2026-11-02T09:14:05Z"}))]
pub struct Member {
    /// The member's user id.
    pub user_id: String,
    /// The member's e-mail address.
    pub email: String,
    /// What the member may do in the organization.
    pub role: Role,
    /// Whether the member may sign agreements for the organization.
    pub legal_signatory: bool,
    /// When the member joined.
    pub joined_at: Timestamp,
}

/// The members, oldest first (the founder leads).
#[utoipa::path(get, path = "/v1/orgs/{orgId}/members", tag = "members", operation_id = "listMembers",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the members.", body = Page<Member>)))]
pub async fn list(
    State(state): State<OrgsState>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Member>>> {
    Ok(Json(
        store::members::list(&state.db, &ctx.org.id, &params).await?,
    ))
}

/// Changes to a member's role or legal-signatory flag.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"role": "billing", "legalSignatory": true}))]
pub struct UpdateMember {
    /// The new role; absent keeps it. The last owner keeps theirs.
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    /// Whether the member may sign agreements; changing it needs an elevated session.
    legal_signatory: Option<bool>,
}

fn last_owner() -> ApiError {
    ApiError::validation("role", "the organization must keep at least one owner")
}

/// Changes a member's role and/or legal-signatory flag (owner; signatory changes elevated).
#[utoipa::path(patch, path = "/v1/orgs/{orgId}/members/{userId}", tag = "members", operation_id = "updateMember",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("userId" = String, Path, description = "The member's user id.")), request_body = UpdateMember,
    responses((status = 200, description = "The member after the change.", body = Member)))]
pub async fn update(
    State(state): State<OrgsState>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> ApiResult<Json<Member>> {
    let (_, user_id) = path;
    if body.legal_signatory.is_some() {
        crate::identity::elevation::require(&state, &caller).await?;
    }
    let role = match body.role.as_deref() {
        Some(text) => Some(Role::parse(text).ok_or_else(|| {
            ApiError::validation("role", "must be owner, admin, billing or member")
        })?),
        None => None,
    };
    let change = MemberChange {
        org_id: ctx.org.id,
        user_id,
        role,
        legal_signatory: body.legal_signatory,
    };
    Ok(Json(change_member(&state, origin, change).await?))
}

/// A change to one membership; `None` keeps a field.
struct MemberChange {
    org_id: String,
    user_id: String,
    role: Option<Role>,
    legal_signatory: Option<bool>,
}

/// One unit after the organization's row lock: the role (never the last owner's), the
/// invitations the new role no longer backs, the signatory flag, their audit events.
async fn change_member(
    state: &OrgsState,
    origin: Origin,
    change: MemberChange,
) -> ApiResult<Member> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            let MemberChange {
                org_id,
                user_id,
                role,
                legal_signatory,
            } = change;
            super::lock_org_in(w, &org_id)?;
            let current = store::members::find(w, &org_id, &user_id)?
                .ok_or_else(|| ApiError::not_found("The member"))?;
            if let Some(role) = role.filter(|r| *r != current.role) {
                if current.role == Role::Owner && store::members::owners(w, &org_id)? <= 1 {
                    return Err(last_owner());
                }
                store::members::set_role(w, &org_id, &user_id, role)?;
                super::invitations::revoke_unbacked(w, &org_id, &user_id, Some(role), now)?;
                audit::record_in(
                    w,
                    &origin,
                    now,
                    "member.role_changed",
                    Some(&org_id),
                    json!({ "userId": user_id, "from": current.role, "to": role }),
                )?;
            }
            if let Some(flag) = legal_signatory.filter(|f| *f != current.legal_signatory) {
                store::members::set_legal_signatory(w, &org_id, &user_id, flag)?;
                audit::record_in(
                    w,
                    &origin,
                    now,
                    "member.signatory_changed",
                    Some(&org_id),
                    json!({ "userId": user_id, "legalSignatory": flag }),
                )?;
            }
            store::members::find(w, &org_id, &user_id)?
                .ok_or_else(|| ApiError::not_found("The member"))
        })
        .await
}

/// Removes a member (owner or admin; admins cannot remove owners); anyone may leave.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/members/{userId}", tag = "members", operation_id = "removeMember",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("userId" = String, Path, description = "The member's user id.")),
    responses((status = 204, description = "The member is removed (or has left), with their pending invitations.")))]
pub async fn remove(
    State(state): State<OrgsState>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, user_id) = path;
    let removal = Removal {
        org_id: ctx.org.id,
        leaving: user_id == caller.user_id,
        user_id,
        remover_role: ctx.role,
    };
    remove_member(&state, origin, removal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member removed by someone else, or leaving.
struct Removal {
    org_id: String,
    user_id: String,
    leaving: bool,
    remover_role: Role,
}

/// One unit after the organization's row lock: only an owner removes an owner, never the
/// last one; the member's pending invitations go with them.
async fn remove_member(state: &OrgsState, origin: Origin, removal: Removal) -> ApiResult<()> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            let Removal {
                org_id,
                user_id,
                leaving,
                remover_role,
            } = removal;
            super::lock_org_in(w, &org_id)?;
            let target = store::members::find(w, &org_id, &user_id)?
                .ok_or_else(|| ApiError::not_found("The member"))?;
            if !leaving && target.role == Role::Owner && remover_role != Role::Owner {
                return Err(ApiError::new(
                    ErrorCode::DeleteForbidden,
                    "Only an owner may remove an owner.",
                ));
            }
            if target.role == Role::Owner && store::members::owners(w, &org_id)? <= 1 {
                return Err(last_owner());
            }
            store::members::delete(w, &org_id, &user_id)?;
            super::invitations::revoke_unbacked(w, &org_id, &user_id, None, now)?;
            let action = if leaving {
                "member.left"
            } else {
                "member.removed"
            };
            audit::record_in(
                w,
                &origin,
                now,
                action,
                Some(&org_id),
                json!({ "userId": user_id, "role": target.role }),
            )?;
            Ok(())
        })
        .await
}

/// Ends a member's recovery hold early (owner, elevated): the owner vouches for a member who
/// reset their passkeys by e-mail, who may then act in this organization again.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/members/{userId}/recovery-hold", tag = "members", operation_id = "endRecoveryHold",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("userId" = String, Path, description = "The member's user id.")),
    responses((status = 204, description = "The member's recovery hold has ended for this organization.")))]
pub async fn end_recovery_hold(
    State(state): State<OrgsState>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, user_id) = path;
    let now = state.clock.now();
    let released = crate::identity::recovery::release(
        &state.db,
        &origin,
        &ctx.org.id,
        &user_id,
        &caller.user_id,
        state.config.recovery_hold_secs,
        now,
    )
    .await?;
    if !released {
        return Err(ApiError::not_found("A recovery hold of this member"));
    }
    Ok(StatusCode::NO_CONTENT)
}
