//! The API reference: the OpenAPI document generated from the handlers' annotations, enriched
//! from the policy table and the error catalogue (`/docs` renders it in the browser: see
//! `http::docs`).

mod answers;
mod codes;
mod operations;
mod problem;
#[cfg(test)]
mod tests;
mod text;

use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;

use crate::error::ErrorCode;
use crate::http::policy;

pub use codes::catalogue_link;
pub use problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Charter",
        version = env!("CARGO_PKG_VERSION"),
    ),
    components(schemas(Problem, crate::error::FieldError)),
)]
pub struct ApiDoc;

pub struct Reference {
    pub openapi_json: String,
}

/// Adds what the code knows beyond the annotations: the introduction and tags, the shared list
/// parameters, each operation's access rule and scope, bearer security, and the problem
/// answers with the catalogue codes each operation can give.
pub fn enrich(doc: OpenApiDoc) -> Value {
    let mut doc = serde_json::to_value(&doc).unwrap_or_else(|_| json!({}));
    doc["openapi"] = json!("3.1.0");
    doc["info"]["description"] = json!(text::introduction());
    doc["tags"] = text::tags();
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http", "scheme": "bearer",
        "description": "A session token (`chs_…`) from a sign-in, or an access token (`cht_…`) from `POST /v1/me/tokens`."
    });
    doc["components"]["parameters"] = text::list_parameters();
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        operations::pages_by_reference(schemas);
        schemas
            .values_mut()
            .for_each(operations::hoist_descriptions);
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let Some(policy) = policy::lookup(&method.to_ascii_uppercase(), path) else {
                    continue;
                };
                operations::enrich(method, op, policy);
            }
        }
    }
    doc["x-error-catalogue"] = json!(ErrorCode::ALL.iter().map(|c| json!({
        "code": c.code(), "name": c.name(), "status": c.status(), "description": c.description()
    })).collect::<Vec<_>>());
    doc
}

pub fn build(doc: OpenApiDoc) -> Reference {
    let doc = enrich(doc);
    Reference {
        openapi_json: doc.to_string(),
    }
}
