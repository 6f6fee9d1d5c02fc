//! The support back-office (section 6): platform administrators helping the installation's
//! customers. Who may use an organization route this way is decided in step 6
//! (`access::authorize`, from the policy table's `backoffice` rule); this module records each
//! such call and serves the two lists that find organizations: every organization
//! (`GET /v1/admin/orgs`) and one user's (`GET /v1/users/{userId}/orgs`), which are back-office
//! reads too and recorded the same way.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Origin};
use crate::error::ApiResult;
use crate::identity::admin::TargetUser;
use crate::list::{ListParams, Page};
use crate::state::Infra;

use super::FoundOrg;
use super::OrgsState;
use super::access::Backoffice;
use super::permissions::Role;
use super::store;

/// A back-office call: on an organization route that only the back-office allowed, or one of
/// the two lists.
pub struct Call {
    pub kind: Backoffice,
    /// The organization called, the user whose organizations are listed, or none (the list of
    /// every organization).
    pub subject: Option<String>,
    pub method: String,
    /// The route's template (`/v1/orgs/{orgId}/invoices`).
    pub route: String,
    /// The path called, without its query string (which may hold a customer's data).
    pub path: String,
}

/// Audits a back-office call with the administrator as actor (see [`Call::subject`]): one
/// small unit of work per call, reads included.
pub async fn record(state: &Infra, origin: &Origin, call: Call) -> ApiResult<()> {
    let now = state.clock.now();
    let origin = origin.clone();
    state
        .db
        .write(move |w| {
            audit::record_in(
                w,
                &origin,
                now,
                call.kind.action(),
                call.subject.as_deref(),
                json!({ "method": call.method, "route": call.route, "path": call.path }),
            )?;
            Ok(())
        })
        .await
}

/// Every organization of the installation, newest first (platform administrators).
///
/// Each call is recorded in the audit log as `backoffice.read`, with the administrator as
/// actor and no subject.
#[utoipa::path(get, path = "/v1/admin/orgs", tag = "organizations", operation_id = "listAdminOrgs",
    params(
        ("from" = Option<i64>, Query, description = "How many items to skip (default 0)."),
        ("limit" = Option<i64>, Query, description = "How many items to return, 0 to 100 (default 20); 0 gives only the total."),
        ("query" = Option<String>, Query, description = "A filter in the list query language on `name` and `country` (exact, case-sensitive; countries are upper-case) and `createdAt`, e.g. `country:DE AND createdAt>=2026-01-01`."),
    ),
    responses((status = 200, description = "A page of organizations, newest first, whatever the caller's membership; a deleted organization is listed with its `deletedAt` (its invoices and their export stay readable to the back-office).", body = Page<FoundOrg>)))]
pub async fn list_all(
    State(state): State<OrgsState>,
    origin: Origin,
    params: ListParams,
) -> ApiResult<Json<Page<FoundOrg>>> {
    Ok(Json(all_orgs(&state, &origin, &params).await?))
}

/// Every organization, the read on record first (`backoffice.read`, no subject: the call
/// concerns no one organization).
async fn all_orgs(
    state: &Infra,
    origin: &Origin,
    params: &ListParams,
) -> ApiResult<Page<FoundOrg>> {
    let route = "/v1/admin/orgs";
    record(state, origin, list_call(None, route, route.to_string())).await?;
    store::orgs::page_all(&state.db, params).await
}

/// One of the lists as a back-office read (the query string left out, as on every call).
fn list_call(subject: Option<String>, route: &str, path: String) -> Call {
    Call {
        kind: Backoffice::Read,
        subject,
        method: "GET".into(),
        route: route.into(),
        path,
    }
}

/// An organization a user belongs to, as the back-office sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"orgId": "org_nwj47tan9zt24mnpzx45hy43kw", "name": "Lovelace Analytics GmbH", "role": "owner"}))]
pub struct UserOrg {
    /// The organization's id (`org_…`).
    pub org_id: String,
    /// The organization's name.
    pub name: String,
    /// The user's role in it.
    pub role: Role,
}

/// The organizations a user belongs to, newest membership first (platform administrators).
///
/// Each call is recorded in the audit log as `backoffice.read`, with the administrator as
/// actor and the user as subject.
#[utoipa::path(get, path = "/v1/users/{userId}/orgs", tag = "users", operation_id = "listUserOrgs",
    params(
        ("userId" = String, Path, description = "The user's id."),
        ("from" = Option<i64>, Query, description = "How many items to skip (default 0)."),
        ("limit" = Option<i64>, Query, description = "How many items to return, 0 to 100 (default 20); 0 gives only the total."),
    ),
    responses((status = 200, description = "A page of the user's memberships: each organization's id and name and the user's role there.", body = Page<UserOrg>)))]
pub async fn list_of_user(
    State(state): State<OrgsState>,
    origin: Origin,
    TargetUser(user): TargetUser,
    params: ListParams,
) -> ApiResult<Json<Page<UserOrg>>> {
    Ok(Json(orgs_of_user(&state, &origin, user.id, &params).await?))
}

/// A user's organizations, the read on record first (`backoffice.read`, subject: the user).
async fn orgs_of_user(
    state: &Infra,
    origin: &Origin,
    user_id: String,
    params: &ListParams,
) -> ApiResult<Page<UserOrg>> {
    let path = format!("/v1/users/{user_id}/orgs");
    let call = list_call(Some(user_id.clone()), "/v1/users/{userId}/orgs", path);
    record(state, origin, call).await?;
    store::orgs::of_user(&state.db, &user_id, params).await
}
