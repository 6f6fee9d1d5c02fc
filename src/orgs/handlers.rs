//! Organizations (5): create, list mine, read, update, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::OrgsState;
use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::error::FieldError;
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::identity::users::Email;
use crate::list::{ListParams, Page};

use super::access::OrgContext;
use super::permissions::Role;
use super::store::orgs::OrgChanges;
use super::store::{self, Org};

/// A new organization.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme GmbH", "country": "DE"}))]
pub struct CreateOrg {
    /// Its name: 1 to 100 characters without control characters.
    name: String,
    /// ISO 3166-1 alpha-2 code (`DE`); any case, stored upper-case. Decides the tax rate.
    country: String,
}

/// Creates an organization; the creator becomes its owner (not a legal signatory).
#[utoipa::path(post, path = "/v1/orgs", tag = "organizations", operation_id = "createOrg", request_body = CreateOrg,
    responses((status = 201, description = "The new organization.", body = Org)))]
pub async fn create(
    State(state): State<OrgsState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<CreateOrg>,
) -> ApiResult<(StatusCode, Json<Org>)> {
    let mut errors = Vec::new();
    let name = parse_name(&body.name, &mut errors);
    let country = parse_country(&body.country, &mut errors);
    let (Some(name), Some(country)) = (name, country) else {
        return Err(ApiError::validations(errors));
    };
    let org = Org {
        id: new_id("org"),
        name,
        country,
        billing_email: None,
        passkeys_required: false,
        created_at: state.clock.now(),
    };
    let org = create_org(&state, caller.user_id, origin, org).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// One unit: the organization, its creator as owner, and both audit events.
async fn create_org(
    state: &OrgsState,
    creator: String,
    origin: Origin,
    org: Org,
) -> ApiResult<Org> {
    state
        .db
        .write(move |w| {
            let now = org.created_at;
            store::orgs::insert(w, &org, &creator)?;
            store::members::insert(w, &org.id, &creator, Role::Owner, now)?;
            audit::record_in(
                w,
                &origin,
                now,
                "org.created",
                Some(&org.id),
                json!({ "name": org.name }),
            )?;
            audit::record_in(
                w,
                &origin,
                now,
                "member.added",
                Some(&org.id),
                json!({ "userId": creator, "role": "owner" }),
            )?;
            Ok(org)
        })
        .await
}

/// An organization of the caller, with the caller's role in it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "org_nwj47tan9zt24mnpzx45hy43kw", "name": "Lovelace Analytics GmbH", "country": "DE", "billingEmail": "billing@lovelace.example", "passkeysRequired": false, "createdAt": "2026-11-02T09:14:05Z", "role": "owner"}))]
pub struct MyOrg {
    /// The organization.
    #[serde(flatten)]
    pub(crate) org: Org,
    /// The caller's role in it.
    pub(crate) role: Role,
}

/// The organizations the caller belongs to, newest first.
#[utoipa::path(get, path = "/v1/orgs", tag = "organizations", operation_id = "listOrgs",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the caller's organizations, with the caller's role in each.", body = Page<MyOrg>)))]
pub async fn list(
    State(state): State<OrgsState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<MyOrg>>> {
    Ok(Json(
        store::orgs::of_member(&state.db, &caller.user_id, &params).await?,
    ))
}

/// One organization.
#[utoipa::path(get, path = "/v1/orgs/{orgId}", tag = "organizations", operation_id = "getOrg", params(("orgId" = String, Path, description = crate::api::ORG_ID)),
    responses((status = 200, description = "The organization.", body = Org)))]
pub async fn get(ctx: OrgContext) -> Json<Org> {
    Json(ctx.org)
}

/// Changes to an organization's details; absent members stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Acme Europe GmbH", "billingEmail": "billing@acme.example"}))]
pub struct UpdateOrg {
    /// A new name: 1 to 100 characters; absent keeps it.
    name: Option<String>,
    /// A new ISO 3166-1 alpha-2 code; absent keeps it.
    country: Option<String>,
    /// Where invoices are mailed; `null` clears it (invoices go to the owners), absent keeps
    /// it.
    #[serde(default, with = "crate::api::extract::double_option")]
    #[schema(value_type = Option<String>)]
    billing_email: Option<Option<String>>,
}

/// Changes the name, country or billing e-mail.
#[utoipa::path(patch, path = "/v1/orgs/{orgId}", tag = "organizations", operation_id = "updateOrg", params(("orgId" = String, Path, description = crate::api::ORG_ID)), request_body = UpdateOrg,
    responses((status = 200, description = "The organization after the change.", body = Org)))]
pub async fn update(
    State(state): State<OrgsState>,
    ctx: OrgContext,
    origin: Origin,
    ApiJson(body): ApiJson<UpdateOrg>,
) -> ApiResult<Json<Org>> {
    let mut errors = Vec::new();
    let name = body
        .name
        .as_deref()
        .and_then(|n| parse_name(n, &mut errors));
    let country = body
        .country
        .as_deref()
        .and_then(|c| parse_country(c, &mut errors));
    let billing_email = match body.billing_email {
        Some(Some(text)) => match Email::parse(&text) {
            Some(e) => Some(Some(e.as_str().to_string())),
            None => {
                errors.push(FieldError {
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
    let changes = OrgChanges {
        name,
        country,
        billing_email,
    };
    let org = update_org(&state, origin, ctx.org.id, changes).await?;
    Ok(Json(org))
}

async fn update_org(
    state: &OrgsState,
    origin: Origin,
    org_id: String,
    changes: OrgChanges,
) -> ApiResult<Org> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            let org = store::orgs::update(w, &org_id, changes)?
                .ok_or_else(super::access::org_not_found)?;
            audit::record_in(
                w,
                &origin,
                now,
                "org.updated",
                Some(&org.id),
                json!({ "name": org.name, "country": org.country }),
            )?;
            Ok(org)
        })
        .await
}

/// Deletes an organization.
///
/// Owner only. Refused with 400002 while a subscription is active or past due without being
/// set to cancel at its period's end (cancel it first), or while a payment or refund of the
/// organization is under way. Otherwise, at once: every subscription ends now (without a
/// refund), open invoices are voided, and the memberships, invitations and passkey policy go.
/// Invoices, payments, refunds and subscriptions stay for the installation's platform
/// administrators. Afterwards every route of the organization answers 404003 and it leaves
/// `GET /v1/orgs`.
#[utoipa::path(delete, path = "/v1/orgs/{orgId}", tag = "organizations", operation_id = "deleteOrg", params(("orgId" = String, Path, description = crate::api::ORG_ID)),
    responses((status = 204, description = "The organization is deleted.")))]
pub async fn delete(
    State(state): State<OrgsState>,
    ctx: OrgContext,
    origin: Origin,
) -> ApiResult<StatusCode> {
    delete_org(&state, origin, ctx.org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One unit after the organization's row lock (so no checkout or payment slips in): the domains
/// above wind up their part or refuse (`OrgsState::close_dependents`), then the organization
/// goes and the deletion is audited.
async fn delete_org(state: &OrgsState, origin: Origin, org: Org) -> ApiResult<()> {
    let now = state.clock.now();
    let close_dependents = state.close_dependents;
    state
        .db
        .write(move |w| {
            super::lock_live_org_in(w, &org.id)?;
            close_dependents(w, &origin, &org.id, now)?;
            store::orgs::delete(w, &org.id, now)?;
            audit::record_in(
                w,
                &origin,
                now,
                "org.deleted",
                Some(&org.id),
                json!({ "name": org.name }),
            )?;
            Ok(())
        })
        .await
}

/// An organization name (see `crate::names`).
fn parse_name(text: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = crate::names::parse(text);
    if name.is_none() {
        errors.push(FieldError {
            field: "name".into(),
            message: crate::names::RULE.into(),
        });
    }
    name
}

/// A country: two letters (ISO 3166-1 alpha-2), stored upper-case.
fn parse_country(text: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let country = text.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.push(FieldError {
            field: "country".into(),
            message: "must be an ISO 3166-1 alpha-2 code such as DE".into(),
        });
        return None;
    }
    Some(country)
}
