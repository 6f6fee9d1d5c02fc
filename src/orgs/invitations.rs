//! Invitations (5): created by owners and admins, mailed, accepted once by the invitee.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::OrgsState;
use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::Caller;
use crate::identity::users::Email;
use crate::list::{ListParams, Page};
use crate::mail::templates;
use crate::time::Timestamp;

use super::access::OrgContext;
use super::members::Member;
use super::permissions::Role;
use super::store;

/// Where an invitation stands: `pending` until answered, revoked or past `expiresAt`, then
/// `accepted`, `declined`, `revoked` (by an owner or admin, or because the inviter may no
/// longer invite to its role) or `expired`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // the wire values are the stored texts; this names them in the document
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

/// An invitation to join an organization.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "ivt_wb09b9y73my63fch26w14wmchw", "orgId": "org_nwj47tan9zt24mnpzx45hy43kw", "email": "grace@hopper.example", "role": "billing", "status": "pending", "invitedBy": "usr_m9s346q3d25vt4f5v37e3s3e28", "createdAt": "2026-11-20T14:02:51Z", "expiresAt": "2026-11-27T14:02:51Z"}))]
pub struct Invitation {
    /// The invitation's id (`ivt_…`); the mail carries it.
    pub id: String,
    /// The organization it is to.
    pub org_id: String,
    /// The invited address; only a user signed in with it can answer.
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: Role,
    /// Where it stands.
    #[schema(value_type = InvitationStatus)]
    pub status: String,
    /// The user id of the member who invited.
    pub invited_by: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops being answerable (7 days after it was made).
    pub expires_at: Timestamp,
}

impl Invitation {
    /// As seen at `now`: a pending invitation past its expiry reads `expired`.
    fn seen_at(mut self, now: Timestamp) -> Invitation {
        if self.status == "pending" && self.expires_at <= now {
            self.status = "expired".into();
        }
        self
    }
}

/// Whom to invite, with which role.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "grace@example.com", "role": "billing"}))]
pub struct CreateInvitation {
    /// The address to invite; not a member's.
    email: String,
    /// The role to give, at most the inviter's own.
    #[schema(value_type = Role)]
    role: String,
}

/// Invites someone by e-mail (owner, admin); nobody invites above their own role (403008).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/invitations", tag = "invitations", operation_id = "createInvitation", params(("orgId" = String, Path, description = crate::api::ORG_ID)),
    request_body = CreateInvitation,
    responses((status = 201, description = "The invitation, mailed to the address.", body = Invitation)))]
pub async fn create(
    State(state): State<OrgsState>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
    ApiJson(body): ApiJson<CreateInvitation>,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    let email = Email::parse(&body.email);
    let role = Role::parse(&body.role);
    let mut errors = Vec::new();
    if email.is_none() {
        errors.push(crate::error::FieldError {
            field: "email".into(),
            message: "is not a valid e-mail address".into(),
        });
    }
    if role.is_none() {
        errors.push(crate::error::FieldError {
            field: "role".into(),
            message: "must be owner, admin, billing or member".into(),
        });
    }
    let (Some(email), Some(role)) = (email, role) else {
        return Err(ApiError::validations(errors));
    };
    if role.rank() > ctx.role.rank() {
        return Err(ApiError::new(
            ErrorCode::CreateForbidden,
            "You cannot invite someone to a role above your own.",
        ));
    }
    let now = state.clock.now();
    let invitation = Invitation {
        id: new_id("ivt"),
        org_id: ctx.org.id,
        email: email.as_str().to_string(),
        role,
        status: "pending".into(),
        invited_by: caller.user_id,
        created_at: now,
        expires_at: now.plus_seconds(state.config.invitation_ttl_secs),
    };
    let invitation = invite(&state, origin, invitation, &ctx.org.name).await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// One unit: the check that the address is not a member's, the invitation, its audit event
/// and (SMTP) its queued mail; the file transport writes the mail after the commit.
async fn invite(
    state: &OrgsState,
    origin: Origin,
    invitation: Invitation,
    org_name: &str,
) -> ApiResult<Invitation> {
    let now = invitation.created_at;
    let mail = templates::invitation(
        &invitation.email,
        &invitation.id,
        org_name,
        invitation.role.as_str(),
    );
    let (mailer, queued) = (state.mailer.clone(), mail.clone());
    let invitation = state
        .db
        .write(move |w| {
            super::lock_live_org_in(w, &invitation.org_id)?;
            if store::members::has_member_with_email(w, &invitation.org_id, &invitation.email)? {
                return Err(ApiError::validation(
                    "email",
                    "this address already belongs to a member",
                ));
            }
            store::invitations::insert(w, &invitation)?;
            audit::record_in(
                w,
                &origin,
                now,
                "invitation.created",
                Some(&invitation.org_id),
                json!({
                    "invitationId": invitation.id,
                    "email": invitation.email,
                    "role": invitation.role,
                }),
            )?;
            mailer.queue_in(w, now, &queued)?;
            Ok(invitation)
        })
        .await?;
    // The invitation is committed: a mail that cannot be written is logged, not answered.
    if let Err(e) = state.mailer.after_commit(now, mail).await {
        tracing::error!(template = "invitation", error = %e, "could not send a notice mail");
    }
    Ok(invitation)
}

/// The organization's invitations, newest first.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invitations", tag = "invitations", operation_id = "listInvitations",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the organization's invitations, whatever their status.", body = Page<Invitation>)))]
pub async fn list(
    State(state): State<OrgsState>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Invitation>>> {
    let now = state.clock.now();
    let mut page = store::invitations::of_org(&state.db, &ctx.org.id, &params).await?;
    page.items = page.items.into_iter().map(|i| i.seen_at(now)).collect();
    Ok(Json(page))
}

/// Revokes a pending invitation.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/invitations/{invitationId}", tag = "invitations", operation_id = "revokeInvitation",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("invitationId" = String, Path, description = "The invitation's id (`ivt_…`).")),
    responses((status = 204, description = "The invitation is revoked; it can no longer be accepted.")))]
pub async fn revoke(
    State(state): State<OrgsState>,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, id) = path;
    revoke_invitation(&state, origin, ctx.org.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One unit: the revocation of a pending invitation (404003 without one) and its audit event.
async fn revoke_invitation(
    state: &OrgsState,
    origin: Origin,
    org_id: String,
    id: String,
) -> ApiResult<()> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            if !store::invitations::revoke(w, &org_id, &id, now)? {
                return Err(ApiError::not_found("A pending invitation"));
            }
            audit::record_in(
                w,
                &origin,
                now,
                "invitation.revoked",
                Some(&org_id),
                json!({ "invitationId": id }),
            )?;
            Ok(())
        })
        .await
}

/// Pending invitations addressed to the caller's e-mail.
#[utoipa::path(get, path = "/v1/me/invitations", tag = "invitations", operation_id = "listMyInvitations",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the pending invitations to the caller's address.", body = Page<Invitation>)))]
pub async fn mine(
    State(state): State<OrgsState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<Invitation>>> {
    let now = state.clock.now();
    Ok(Json(
        store::invitations::pending_for(&state.db, &caller.email, now, &params).await?,
    ))
}

fn gone() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "The invitation was not found, has expired, or was already answered or revoked.",
    )
}

/// Inside the answering unit: the invitation if the caller can still answer it. 404003 when
/// unknown or no longer pending, 400010 when it is addressed to someone else (or the caller's
/// address is unverified).
fn answerable_in(
    w: &mut Unit<'_>,
    id: &str,
    user_id: &str,
    email: &str,
    now: Timestamp,
) -> ApiResult<Invitation> {
    let invitation = store::invitations::find(w, id)?
        .ok_or_else(gone)?
        .seen_at(now);
    if invitation.status != "pending" {
        return Err(gone());
    }
    let verified = crate::identity::account::find_by_id_in(w, user_id)?
        .is_some_and(|account| account.email_verified);
    if invitation.email != email || !verified {
        return Err(ApiError::new(
            ErrorCode::OnlyInviteeCanAccept,
            "Only the invited address, verified by signing in with it, can answer this invitation.",
        ));
    }
    Ok(invitation)
}

/// Accepts an invitation: one invitation makes at most one membership, even when accepted
/// twice at once.
#[utoipa::path(post, path = "/v1/invitations/{invitationId}/accept", tag = "invitations", operation_id = "acceptInvitation",
    params(("invitationId" = String, Path, description = "The invitation's id (`ivt_…`).")),
    responses((status = 200, description = "The caller's new membership.", body = Member)))]
pub async fn accept(
    State(state): State<OrgsState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Member>> {
    Ok(Json(
        accept_invitation(&state, origin, id, caller.user_id, caller.email).await?,
    ))
}

/// One unit: the checks, the single-use claim, the membership and its audit event.
async fn accept_invitation(
    state: &OrgsState,
    origin: Origin,
    id: String,
    user_id: String,
    email: String,
) -> ApiResult<Member> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            // The organization's lock first: a deletion under way ends with this invitation
            // gone, so the membership cannot land in a deleted organization.
            let org_id = store::invitations::find(w, &id)?.ok_or_else(gone)?.org_id;
            crate::orgs::lock_live_org_in(w, &org_id).map_err(|_| gone())?;
            let invitation = answerable_in(w, &id, &user_id, &email, now)?;
            // The claim is the single use: of two accepts at once, one updates the row.
            if !store::invitations::accept(w, &id, &user_id, now)? {
                return Err(gone());
            }
            store::members::insert(w, &invitation.org_id, &user_id, invitation.role, now)?;
            audit::record_in(
                w,
                &origin,
                now,
                "member.added",
                Some(&invitation.org_id),
                json!({ "userId": user_id, "role": invitation.role, "invitationId": id }),
            )?;
            store::members::find(w, &invitation.org_id, &user_id)?
                .ok_or_else(|| ApiError::internal("membership vanished"))
        })
        .await
}

/// Declines an invitation.
#[utoipa::path(post, path = "/v1/invitations/{invitationId}/decline", tag = "invitations", operation_id = "declineInvitation",
    params(("invitationId" = String, Path, description = "The invitation's id (`ivt_…`).")),
    responses((status = 200, description = "The declined invitation.", body = Invitation)))]
pub async fn decline(
    State(state): State<OrgsState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Invitation>> {
    Ok(Json(
        decline_invitation(&state, origin, id, caller.user_id, caller.email).await?,
    ))
}

/// One unit: the checks, the conditional update and its audit event.
async fn decline_invitation(
    state: &OrgsState,
    origin: Origin,
    id: String,
    user_id: String,
    email: String,
) -> ApiResult<Invitation> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            let mut invitation = answerable_in(w, &id, &user_id, &email, now)?;
            if !store::invitations::decline(w, &id, &user_id, now)? {
                return Err(gone());
            }
            audit::record_in(
                w,
                &origin,
                now,
                "invitation.declined",
                Some(&invitation.org_id),
                json!({ "invitationId": id }),
            )?;
            invitation.status = "declined".into();
            Ok(invitation)
        })
        .await
}

/// Revokes the pending invitations `inviter` made that their membership no longer backs (5):
/// every one after leaving (`role` `None`) or losing the right to invite, else those above
/// the new role. Runs in the unit that changes the membership.
pub(crate) fn revoke_unbacked(
    w: &mut Unit<'_>,
    org_id: &str,
    inviter: &str,
    role: Option<Role>,
    now: Timestamp,
) -> Result<u64, UnitError> {
    use super::permissions::{Action, Resource};
    let may_invite =
        role.filter(|r| super::permissions::allows(*r, Resource::Invitations, Action::Create));
    let mut revoked = 0;
    for invited in Role::ALL {
        if may_invite.is_some_and(|r| invited.rank() <= r.rank()) {
            continue;
        }
        revoked += store::invitations::revoke_pending_by(w, org_id, inviter, invited, now)?;
    }
    Ok(revoked)
}
