//! Modules (7): what an organization subscribes to. Created, renamed and archived by platform
//! administrators; read by any signed-in caller with `catalog:read`. An archived module stays
//! listed with `archivedAt` and keeps its subscriptions (they renew on their own offer), but it
//! has no active offer: nothing new can be bought (404002) and calculations made before it was
//! archived answer 409001 at checkout.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::{ApiJson, find_by_path};
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::list::{ListParams, Page};
use crate::state::Infra;
use crate::time::Timestamp;

use super::store;

/// A module of the catalogue: what an organization subscribes to.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "key": "analytics", "name": "Analytics", "description": "Dashboards and scheduled reports for every workspace.", "createdAt": "2026-10-01T08:00:00Z", "archivedAt": null}))]
pub struct Module {
    /// The module's id (`mod_…`).
    pub id: String,
    /// Unique, stable key (`a-z`, `0-9`, `.`, `_`, `-`; up to 64 characters).
    pub key: String,
    /// Its name, shown to customers.
    pub name: String,
    /// Shown to customers; also the text of the module's agreement.
    pub description: String,
    /// When it was added to the catalogue.
    pub created_at: Timestamp,
    /// When the module was archived; null while it can be bought. An archived module has no
    /// active offer and takes no new offers; its subscriptions go on.
    pub archived_at: Option<Timestamp>,
}

/// The module named by `{moduleId}`, loaded before the body is read (404003 comes first).
pub struct ModulePath(pub Module);

impl<S: Send + Sync> FromRequestParts<S> for ModulePath
where
    Infra: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        find_by_path(parts, state, not_found, |db, id: String| async move {
            store::modules::find(&db, &id).await
        })
        .await
        .map(ModulePath)
    }
}

pub(super) fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No module has this id.")
}

/// A new module for the catalogue.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "crm", "name": "CRM", "description": "Contacts, deals and pipelines for your sales team."}))]
pub struct CreateModule {
    /// A unique, stable key: 1 to 64 characters of `a-z`, `0-9`, `.`, `_` or `-`; one in use
    /// answers 400002.
    key: String,
    /// Its name: 1 to 200 printable characters.
    name: String,
    /// Shown to customers and used as the text of its agreement: at most 20,000 characters.
    description: String,
}

fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn invalid(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// A module's name: 1 to 200 printable characters once trimmed.
fn parse_name(name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        errors.push(invalid("name", "must be 1 to 200 printable characters"));
    }
    name
}

fn check_description(description: &str, errors: &mut Vec<FieldError>) {
    if description.chars().count() > 20_000 {
        errors.push(invalid("description", "must be at most 20000 characters"));
    }
}

fn parse(body: CreateModule) -> ApiResult<CreateModule> {
    let mut errors = Vec::new();
    if !valid_key(&body.key) {
        errors.push(invalid(
            "key",
            "must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'",
        ));
    }
    let name = parse_name(&body.name, &mut errors);
    check_description(&body.description, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validations(errors));
    }
    Ok(CreateModule { name, ..body })
}

/// Adds a module to the catalogue (platform administrators). A key in use answers 400002.
#[utoipa::path(post, path = "/v1/modules", tag = "catalogue", operation_id = "createModule", request_body = CreateModule,
    responses((status = 201, description = "The new module.", body = Module)))]
pub async fn create(
    State(state): State<Infra>,
    origin: Origin,
    ApiJson(body): ApiJson<CreateModule>,
) -> ApiResult<(StatusCode, Json<Module>)> {
    let body = parse(body)?;
    let now = state.clock.now();
    let created = Module {
        id: new_id("mod"),
        key: body.key,
        name: body.name,
        description: body.description,
        created_at: now,
        archived_at: None,
    };
    let created = add(&state, &origin, created).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Inserts the module and audits it, in one unit of work; a key in use answers 400002.
async fn add(state: &Infra, origin: &Origin, created: Module) -> ApiResult<Module> {
    let (origin, now) = (origin.clone(), created.created_at);
    state
        .db
        .write(move |w| {
            if !store::modules::insert(w, &created, now)? {
                return Err(ApiError::validation("key", "a module with this key exists"));
            }
            audit::record_in(
                w,
                &origin,
                now,
                "module.created",
                Some(&created.id),
                json!({ "key": created.key, "name": created.name }),
            )?;
            Ok(created)
        })
        .await
}

/// The catalogue's modules, newest first.
#[utoipa::path(get, path = "/v1/modules", tag = "catalogue", operation_id = "listModules",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the catalogue's modules.", body = Page<Module>)))]
pub async fn list(State(state): State<Infra>, params: ListParams) -> ApiResult<Json<Page<Module>>> {
    let (items, total) = store::modules::page(&state.db, &params).await?;
    Ok(Json(Page::new(&params, items, total)))
}

/// One module (404003 when unknown).
#[utoipa::path(get, path = "/v1/modules/{moduleId}", tag = "catalogue", operation_id = "getModule", params(("moduleId" = String, Path, description = "The module's id (`mod_…`).")),
    responses((status = 200, description = "The module.", body = Module)))]
pub async fn get(ModulePath(module): ModulePath) -> Json<Module> {
    Json(module)
}

/// The fields of a module to change; an absent field keeps its value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CRM Pro", "description": "Customer relations, with sales forecasts."}))]
pub struct UpdateModule {
    /// 1 to 200 printable characters (surrounding spaces are trimmed).
    name: Option<String>,
    /// Shown to customers, and the text of the agreements checkouts create from now on
    /// (agreements made before keep the text they were made with). At most 20000 characters.
    description: Option<String>,
}

/// Edits a module's name or description.
///
/// Platform administrators only. An archived module may be edited too. A request with neither
/// field changes nothing and answers the module as it is.
#[utoipa::path(patch, path = "/v1/modules/{moduleId}", tag = "catalogue", operation_id = "updateModule",
    params(("moduleId" = String, Path, description = "The module's id (`mod_…`).")),
    request_body = UpdateModule,
    responses((status = 200, description = "The module as it is after the change.", body = Module)))]
pub async fn update(
    State(state): State<Infra>,
    origin: Origin,
    ModulePath(module): ModulePath,
    ApiJson(body): ApiJson<UpdateModule>,
) -> ApiResult<Json<Module>> {
    let changes = parse_changes(body)?;
    Ok(Json(update_module(&state, &origin, module, changes).await?))
}

fn parse_changes(body: UpdateModule) -> ApiResult<store::modules::ModuleChanges> {
    let mut errors = Vec::new();
    let name = body.name.map(|n| parse_name(&n, &mut errors));
    if let Some(description) = &body.description {
        check_description(description, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::validations(errors));
    }
    Ok(store::modules::ModuleChanges {
        name,
        description: body.description,
    })
}

/// Applies the changes and audits them, in one unit of work; no change at all answers the
/// module as it is, unaudited.
async fn update_module(
    state: &Infra,
    origin: &Origin,
    module: Module,
    changes: store::modules::ModuleChanges,
) -> ApiResult<Module> {
    if changes.name.is_none() && changes.description.is_none() {
        return Ok(module);
    }
    let (origin, now) = (origin.clone(), state.clock.now());
    state
        .db
        .write(move |w| {
            let details = json!({ "name": changes.name, "descriptionChanged": changes.description.is_some() });
            let module = store::modules::update(w, &module.id, changes)?.ok_or_else(not_found)?;
            audit::record_in(w, &origin, now, "module.updated", Some(&module.id), details)?;
            Ok(module)
        })
        .await
}

/// Archives a module: it stays listed but can no longer be bought.
///
/// Platform administrators only. The module stays listed and readable, with `archivedAt`. Its
/// active offer answers 404002, and so do new price calculations with it; price calculations
/// made before answer 409001 at checkout. Subscriptions that exist go on and renew on their own
/// offer. No offer can be added to an archived module (400002, field `moduleId`); ending one
/// still works, and so does editing the module. Archiving cannot be undone; archiving again
/// answers 200 with the module unchanged (`archivedAt` keeps the first time).
#[utoipa::path(post, path = "/v1/modules/{moduleId}/archive", tag = "catalogue", operation_id = "archiveModule",
    params(("moduleId" = String, Path, description = "The module's id (`mod_…`).")),
    responses((status = 200, description = "The archived module, with `archivedAt`.", body = Module)))]
pub async fn archive(
    State(state): State<Infra>,
    origin: Origin,
    ModulePath(module): ModulePath,
) -> ApiResult<Json<Module>> {
    Ok(Json(archive_module(&state, &origin, module).await?))
}

/// Archives the module and audits it, in one unit of work; an archived module is answered as
/// it is, unaudited. The module after it.
async fn archive_module(state: &Infra, origin: &Origin, module: Module) -> ApiResult<Module> {
    let (origin, now) = (origin.clone(), state.clock.now());
    state
        .db
        .write(move |w| {
            if store::modules::archive(w, &module.id, now)? {
                audit::record_in(
                    w,
                    &origin,
                    now,
                    "module.archived",
                    Some(&module.id),
                    json!({ "key": module.key }),
                )?;
            }
            store::modules::find_in(w, &module.id)?.ok_or_else(not_found)
        })
        .await
}
