//! Invitations (5): created by owners and admins, mailed, accepted once by the invitee.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row as _;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::{ApiJson, ApiPath};
use crate::identity::Caller;
use crate::identity::users::Email;
use crate::list::{ListParams, Page};
use crate::mail::templates;
use crate::time::Timestamp;

use super::access::OrgContext;
use super::members::{self, Member};
use super::permissions::Role;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: Role,
    /// `pending`, `accepted`, `declined`, `revoked` or `expired`.
    pub status: String,
    pub invited_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

const COLUMNS: &str = "id, org_id, email, role, status, invited_by, created_at, expires_at";
const SELECT: &str =
    "SELECT id, org_id, email, role, status, invited_by, created_at, expires_at FROM invitations";

fn invitation(row: &crate::db::Row, now: Timestamp) -> Result<Invitation, sqlx::Error> {
    let expires_at = Timestamp::from_micros(row.try_get("expires_at")?);
    let mut status: String = row.try_get("status")?;
    if status == "pending" && expires_at <= now {
        status = "expired".into();
    }
    Ok(Invitation {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        email: row.try_get("email")?,
        role: Role::parse(&row.try_get::<String, _>("role")?).unwrap_or(Role::Member),
        status,
        invited_by: row.try_get("invited_by")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        expires_at,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    email: String,
    role: String,
}

/// Invites someone by e-mail (owner, admin); nobody invites above their own role (403008).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/invitations", tag = "invitations", params(("orgId" = String, Path)),
    request_body = CreateInvitation, responses((status = 201, body = Invitation)))]
pub async fn create(
    State(state): State<AppState>,
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
    let already_member: Option<i64> = sqlx::query_scalar("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND u.email = $2")
        .bind(&ctx.org.id)
        .bind(email.as_str())
        .fetch_optional(state.db.pool())
        .await?;
    if already_member.is_some() {
        return Err(ApiError::validation(
            "email",
            "this address already belongs to a member",
        ));
    }
    let now = state.clock.now();
    let id = new_id("ivt");
    let expires_at = now.plus_seconds(state.config.invitation_ttl_secs);
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO invitations (id, org_id, email, role, status, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
    )
    .bind(&id)
    .bind(&ctx.org.id)
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(&caller.user_id)
    .bind(now.micros())
    .bind(expires_at.micros())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "invitation.created",
        Some(&ctx.org.id),
        json!({ "invitationId": id, "email": email.as_str(), "role": role }),
    )
    .await?;
    tx.commit().await?;
    state
        .mailer
        .notify(
            &state.db,
            now,
            templates::invitation(email.as_str(), &id, &ctx.org.name, role.as_str()),
        )
        .await;
    let invitation = Invitation {
        id,
        org_id: ctx.org.id,
        email: email.as_str().to_string(),
        role,
        status: "pending".into(),
        invited_by: caller.user_id,
        created_at: now,
        expires_at,
    };
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// The organization's invitations, newest first.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invitations", tag = "invitations",
    params(("orgId" = String, Path), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)), responses((status = 200, body = Page<Invitation>)))]
pub async fn list(
    State(state): State<AppState>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Invitation>>> {
    let now = state.clock.now();
    let from = "invitations WHERE org_id = $1";
    let page = crate::db::page::by_key_rows(
        &state.db,
        &params,
        COLUMNS,
        from,
        "created_at DESC, id DESC",
        &ctx.org.id,
        |r| invitation(r, now),
    )
    .await?;
    Ok(Json(page))
}

/// Revokes a pending invitation.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/invitations/{invitationId}", tag = "invitations",
    params(("orgId" = String, Path), ("invitationId" = String, Path)), responses((status = 204)))]
pub async fn revoke(
    State(state): State<AppState>,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, id) = path;
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query("UPDATE invitations SET status = 'revoked', answered_at = $3 WHERE id = $1 AND org_id = $2 AND status = 'pending'")
        .bind(&id)
        .bind(&ctx.org.id)
        .bind(now.micros())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("A pending invitation"));
    }
    audit::record(
        &mut *tx,
        &origin,
        now,
        "invitation.revoked",
        Some(&ctx.org.id),
        json!({ "invitationId": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pending invitations addressed to the caller's e-mail.
#[utoipa::path(get, path = "/v1/me/invitations", tag = "invitations",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)), responses((status = 200, body = Page<Invitation>)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<Invitation>>> {
    let now = state.clock.now();
    let live = "email = $1 AND status = 'pending' AND expires_at > $2";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM invitations WHERE {live}"
    )))
    .bind(&caller.email)
    .bind(now.micros())
    .fetch_one(state.db.pool())
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE {live} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(&caller.email)
    .bind(now.micros())
    .bind(params.limit)
    .bind(params.from)
    .fetch_all(state.db.pool())
    .await?;
    let items = rows
        .iter()
        .map(|r| invitation(r, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page::new(&params, items, total)))
}

fn gone() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "The invitation was not found, has expired, or was already answered or revoked.",
    )
}

/// The invitation if it can still be answered by the caller: 404003 when unknown or no longer
/// pending, 400010 when it is addressed to someone else (or the caller's address is unverified).
async fn answerable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Invitation> {
    let now = state.clock.now();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(gone)?;
    let invitation = invitation(&row, now)?;
    if invitation.status != "pending" {
        return Err(gone());
    }
    let verified: Option<i64> =
        sqlx::query_scalar("SELECT email_verified_at FROM users WHERE id = $1")
            .bind(&caller.user_id)
            .fetch_one(state.db.pool())
            .await?;
    if invitation.email != caller.email || verified.is_none() {
        return Err(ApiError::new(
            ErrorCode::OnlyInviteeCanAccept,
            "Only the invited address, verified by signing in with it, can answer this invitation.",
        ));
    }
    Ok(invitation)
}

/// Accepts an invitation: one invitation makes at most one membership, even when accepted
/// twice at once.
#[utoipa::path(post, path = "/v1/invitations/{invitationId}/accept", tag = "invitations", params(("invitationId" = String, Path)),
    responses((status = 200, body = Member)))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Member>> {
    let invitation = answerable(&state, &caller, &id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let claimed = sqlx::query(
        "UPDATE invitations SET status = 'accepted', answered_at = $2, answered_by = $3 WHERE id = $1 AND status = 'pending' AND expires_at > $2",
    )
    .bind(&id)
    .bind(now.micros())
    .bind(&caller.user_id)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(gone());
    }
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(&invitation.org_id)
        .bind(&caller.user_id)
        .bind(invitation.role.as_str())
        .bind(now.micros())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "member.added",
        Some(&invitation.org_id),
        json!({ "userId": caller.user_id, "role": invitation.role, "invitationId": id }),
    )
    .await?;
    let member = members::find(&mut *tx, &invitation.org_id, &caller.user_id)
        .await?
        .ok_or_else(|| ApiError::internal("membership vanished"))?;
    tx.commit().await?;
    Ok(Json(member))
}

/// Declines an invitation.
#[utoipa::path(post, path = "/v1/invitations/{invitationId}/decline", tag = "invitations", params(("invitationId" = String, Path)),
    responses((status = 200, body = Invitation)))]
pub async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Invitation>> {
    let mut invitation = answerable(&state, &caller, &id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query("UPDATE invitations SET status = 'declined', answered_at = $2, answered_by = $3 WHERE id = $1 AND status = 'pending'")
        .bind(&id)
        .bind(now.micros())
        .bind(&caller.user_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(gone());
    }
    audit::record(
        &mut *tx,
        &origin,
        now,
        "invitation.declined",
        Some(&invitation.org_id),
        json!({ "invitationId": id }),
    )
    .await?;
    tx.commit().await?;
    invitation.status = "declined".into();
    Ok(Json(invitation))
}

/// Revokes the pending invitations `inviter` made that their membership no longer backs (5):
/// every one after leaving (`role` `None`) or losing the right to invite, else those above
/// the new role. Runs in the transaction that changes the membership.
pub async fn revoke_unbacked(
    tx: &mut crate::db::Tx,
    org_id: &str,
    inviter: &str,
    role: Option<Role>,
    now: Timestamp,
) -> ApiResult<u64> {
    use super::permissions::{Action, Resource};
    let may_invite =
        role.filter(|r| super::permissions::allows(*r, Resource::Invitations, Action::Create));
    let mut revoked = 0;
    for invited in Role::ALL {
        if may_invite.is_some_and(|r| invited.rank() <= r.rank()) {
            continue;
        }
        revoked += sqlx::query(
            "UPDATE invitations SET status = 'revoked', answered_at = $4
             WHERE org_id = $1 AND invited_by = $2 AND role = $3 AND status = 'pending'",
        )
        .bind(org_id)
        .bind(inviter)
        .bind(invited.as_str())
        .bind(now.micros())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(revoked)
}
