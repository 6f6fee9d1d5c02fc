//! Modules (7): what an organization subscribes to. Created by platform administrators; read
//! by any signed-in caller with `catalog:read`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::{ApiJson, ApiPath};
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
}

/// The module named by `{moduleId}`, loaded before the body is read (404003 comes first).
pub struct ModulePath(pub Module);

impl<S: Send + Sync> FromRequestParts<S> for ModulePath
where
    Infra: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let not_found = || ApiError::new(ErrorCode::NotFound, "No module has this id.");
        let ApiPath(id) = ApiPath::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let infra = <Infra as axum::extract::FromRef<S>>::from_ref(state);
        store::modules::find(&infra.db, &id)
            .await?
            .map(ModulePath)
            .ok_or_else(not_found)
    }
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

fn parse(body: CreateModule) -> ApiResult<CreateModule> {
    let mut errors = Vec::new();
    let mut error = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    if !valid_key(&body.key) {
        error(
            "key",
            "must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'",
        );
    }
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        error("name", "must be 1 to 200 printable characters");
    }
    if body.description.chars().count() > 20_000 {
        error("description", "must be at most 20000 characters");
    }
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
