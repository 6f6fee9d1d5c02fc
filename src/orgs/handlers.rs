//! Organizations (5): create, list mine, read, update, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ApiJson;
use crate::identity::Caller;
use crate::identity::users::Email;
use crate::list::{ListParams, Page};

use super::access::OrgContext;
use super::permissions::Role;
use super::store::{self, ORG_COLUMNS, Org};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    name: String,
    country: String,
}

/// Creates an organization; the creator becomes its owner (not a legal signatory).
#[utoipa::path(post, path = "/v1/orgs", tag = "organizations", request_body = CreateOrg, responses((status = 201, body = Org)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<CreateOrg>,
) -> ApiResult<(StatusCode, Json<Org>)> {
    let mut errors = Vec::new();
    let name = store::parse_name(&body.name, &mut errors);
    let country = store::parse_country(&body.country, &mut errors);
    let (Some(name), Some(country)) = (name, country) else {
        return Err(ApiError::validations(errors));
    };
    let now = state.clock.now();
    let id = new_id("org");
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO orgs (id, name, country, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&name)
    .bind(&country)
    .bind(now.micros())
    .bind(&caller.user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(&id)
    .bind(&caller.user_id)
    .bind(now.micros())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "org.created",
        Some(&id),
        json!({ "name": name }),
    )
    .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "member.added",
        Some(&id),
        json!({ "userId": caller.user_id, "role": "owner" }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Org {
            id,
            name,
            country,
            billing_email: None,
            passkeys_required: false,
            created_at: now,
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyOrg {
    #[serde(flatten)]
    org: Org,
    /// The caller's role in it.
    role: Role,
}

/// The organizations the caller belongs to, newest first.
#[utoipa::path(get, path = "/v1/orgs", tag = "organizations",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)), responses((status = 200, body = Page<MyOrg>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<MyOrg>>> {
    use sqlx::Row as _;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE user_id = $1")
        .bind(&caller.user_id)
        .fetch_one(state.db.pool())
        .await?;
    let columns = ORG_COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {columns}, m.role FROM orgs o JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1
         ORDER BY o.created_at DESC, o.id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(&caller.user_id)
    .bind(params.limit)
    .bind(params.from)
    .fetch_all(state.db.pool())
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(MyOrg {
                org: Org::from_row(r)?,
                role: Role::parse(&r.try_get::<String, _>("role")?).unwrap_or(Role::Member),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(Page::new(&params, items, total)))
}

/// One organization (members only).
#[utoipa::path(get, path = "/v1/orgs/{orgId}", tag = "organizations", params(("orgId" = String, Path)), responses((status = 200, body = Org)))]
pub async fn get(ctx: OrgContext) -> Json<Org> {
    Json(ctx.org)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateOrg {
    name: Option<String>,
    country: Option<String>,
    /// `null` clears it.
    #[serde(default, with = "crate::http::extract::double_option")]
    #[schema(value_type = Option<String>)]
    billing_email: Option<Option<String>>,
}

/// Changes the name, country or billing e-mail.
#[utoipa::path(patch, path = "/v1/orgs/{orgId}", tag = "organizations", params(("orgId" = String, Path)), request_body = UpdateOrg,
    responses((status = 200, body = Org)))]
pub async fn update(
    State(state): State<AppState>,
    ctx: OrgContext,
    origin: Origin,
    ApiJson(body): ApiJson<UpdateOrg>,
) -> ApiResult<Json<Org>> {
    let mut errors = Vec::new();
    let name = body
        .name
        .as_deref()
        .and_then(|n| store::parse_name(n, &mut errors));
    let country = body
        .country
        .as_deref()
        .and_then(|c| store::parse_country(c, &mut errors));
    let billing_email = match body.billing_email {
        Some(Some(text)) => match Email::parse(&text) {
            Some(e) => Some(Some(e.as_str().to_string())),
            None => {
                errors.push(crate::error::FieldError {
                    field: "billingEmail".into(),
                    message: "is not a valid e-mail address".into(),
                });
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::validations(errors));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    // Only the members sent change: a concurrent update of another field is kept.
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE orgs SET name = COALESCE($2, name), country = COALESCE($3, country),
                billing_email = CASE WHEN $4 = 1 THEN $5 ELSE billing_email END
         WHERE id = $1 RETURNING {ORG_COLUMNS}"
    )))
    .bind(&ctx.org.id)
    .bind(name)
    .bind(country)
    .bind(billing_email.is_some() as i64)
    .bind(billing_email.flatten())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(super::access::org_not_found)?;
    let org = Org::from_row(&row)?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "org.updated",
        Some(&org.id),
        json!({ "name": org.name, "country": org.country }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(org))
}

/// Deletes an organization (owner); refused with 400002 while it has active subscriptions.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}", tag = "organizations", params(("orgId" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgContext,
    origin: Origin,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    super::lock_org(&mut tx, &ctx.org.id).await?;
    if super::active_subscriptions(&mut tx, &ctx.org.id).await? > 0 {
        return Err(ApiError::validation(
            "orgId",
            "the organization has active subscriptions; cancel them first",
        ));
    }
    sqlx::query("DELETE FROM orgs WHERE id = $1")
        .bind(&ctx.org.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "org.deleted",
        Some(&ctx.org.id),
        json!({ "name": ctx.org.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
