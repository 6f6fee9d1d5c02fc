//! Members (5): list, change role or signatory, remove. An organization always keeps an owner.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row as _;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::{ApiJson, ApiPath};
use crate::identity::Caller;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::access::OrgContext;
use super::permissions::Role;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub legal_signatory: bool,
    pub joined_at: Timestamp,
}

const MEMBER_COLUMNS: &str = "m.user_id, u.email, m.role, m.legal_signatory, m.joined_at";
const MEMBERS: &str = "memberships m JOIN users u ON u.id = m.user_id";

fn member(row: &crate::db::Row) -> Result<Member, sqlx::Error> {
    Ok(Member {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        role: Role::parse(&row.try_get::<String, _>("role")?).unwrap_or(Role::Member),
        legal_signatory: row.try_get::<i64, _>("legal_signatory")? != 0,
        joined_at: Timestamp::from_micros(row.try_get("joined_at")?),
    })
}

pub async fn find<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    org_id: &str,
    user_id: &str,
) -> ApiResult<Option<Member>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM {MEMBERS} WHERE m.org_id = $1 AND m.user_id = $2"
    )))
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.as_ref().map(member).transpose()?)
}

/// The members, oldest first (the founder leads).
#[utoipa::path(get, path = "/v1/orgs/{orgId}/members", tag = "members",
    params(("orgId" = String, Path), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)), responses((status = 200, body = Page<Member>)))]
pub async fn list(
    State(state): State<AppState>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Member>>> {
    let from = format!("{MEMBERS} WHERE m.org_id = $1");
    let page = crate::db::page::by_key_rows(
        &state.db,
        &params,
        MEMBER_COLUMNS,
        &from,
        "m.joined_at, m.user_id",
        &ctx.org.id,
        member,
    )
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateMember {
    role: Option<String>,
    legal_signatory: Option<bool>,
}

fn last_owner() -> ApiError {
    ApiError::validation("role", "the organization must keep at least one owner")
}

/// Counts owners inside the transaction that changes them. The caller has locked the
/// organization row first (`lock_org`), so two changes cannot both remove "the other" owner.
async fn owners(tx: &mut crate::db::Tx, org_id: &str) -> ApiResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Changes a member's role and/or legal-signatory flag (owner; signatory changes elevated).
#[utoipa::path(patch, path = "/v1/orgs/{orgId}/members/{userId}", tag = "members",
    params(("orgId" = String, Path), ("userId" = String, Path)), request_body = UpdateMember, responses((status = 200, body = Member)))]
pub async fn update(
    State(state): State<AppState>,
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
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    super::lock_org(&mut tx, &ctx.org.id).await?;
    let current = find(&mut *tx, &ctx.org.id, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("The member"))?;
    if let Some(role) = role.filter(|r| *r != current.role) {
        if current.role == Role::Owner && owners(&mut tx, &ctx.org.id).await? <= 1 {
            return Err(last_owner());
        }
        sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
            .bind(&ctx.org.id)
            .bind(&user_id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        super::invitations::revoke_unbacked(&mut tx, &ctx.org.id, &user_id, Some(role), now)
            .await?;
        audit::record(
            &mut *tx,
            &origin,
            now,
            "member.role_changed",
            Some(&ctx.org.id),
            json!({ "userId": user_id, "from": current.role, "to": role }),
        )
        .await?;
    }
    if let Some(flag) = body
        .legal_signatory
        .filter(|f| *f != current.legal_signatory)
    {
        sqlx::query(
            "UPDATE memberships SET legal_signatory = $3 WHERE org_id = $1 AND user_id = $2",
        )
        .bind(&ctx.org.id)
        .bind(&user_id)
        .bind(flag as i64)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut *tx,
            &origin,
            now,
            "member.signatory_changed",
            Some(&ctx.org.id),
            json!({ "userId": user_id, "legalSignatory": flag }),
        )
        .await?;
    }
    let updated = find(&mut *tx, &ctx.org.id, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("The member"))?;
    tx.commit().await?;
    Ok(Json(updated))
}

/// Removes a member (owner or admin; admins cannot remove owners); anyone may leave.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/members/{userId}", tag = "members",
    params(("orgId" = String, Path), ("userId" = String, Path)), responses((status = 204)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, user_id) = path;
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    super::lock_org(&mut tx, &ctx.org.id).await?;
    let target = find(&mut *tx, &ctx.org.id, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("The member"))?;
    let leaving = user_id == caller.user_id;
    if !leaving && target.role == Role::Owner && ctx.role != Role::Owner {
        return Err(ApiError::new(
            ErrorCode::DeleteForbidden,
            "Only an owner may remove an owner.",
        ));
    }
    if target.role == Role::Owner && owners(&mut tx, &ctx.org.id).await? <= 1 {
        return Err(last_owner());
    }
    sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(&ctx.org.id)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
    super::invitations::revoke_unbacked(&mut tx, &ctx.org.id, &user_id, None, now).await?;
    let action = if leaving {
        "member.left"
    } else {
        "member.removed"
    };
    audit::record(
        &mut *tx,
        &origin,
        now,
        action,
        Some(&ctx.org.id),
        json!({ "userId": user_id, "role": target.role }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends a member's recovery hold early (4.5; owner, elevated): the owner vouches for them.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}/members/{userId}/recovery-hold", tag = "members",
    params(("orgId" = String, Path), ("userId" = String, Path)), responses((status = 204)))]
pub async fn end_recovery_hold(
    State(state): State<AppState>,
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
