//! The API reference: the OpenAPI document generated from the handlers' annotations, enriched
//! from the policy table and the error catalogue (`/docs` renders it in the browser: see
//! `http::docs`).

use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;

use crate::error::ErrorCode;
use crate::http::policy::{self, Access};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Charter",
        description = "Self-hosted accounts, organizations and subscription commerce. Every error answers `application/problem+json` with a catalogue `code` (see `GET /v1/errors`).",
        version = env!("CARGO_PKG_VERSION"),
    ),
    components(schemas(Problem, crate::error::FieldError)),
)]
pub struct ApiDoc;

/// The error body (RFC 9457 with extension members; see section 3).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only: errors are rendered by `ApiError`.
pub struct Problem {
    /// `/v1/errors/{code}`
    r#type: String,
    /// The catalogue name.
    title: String,
    status: u16,
    code: u32,
    detail: String,
    request_id: String,
}

pub struct Reference {
    pub openapi_json: String,
}

/// Adds what the code knows beyond the annotations: each operation's access rule and scope,
/// bearer security, and the problem response.
pub fn enrich(doc: OpenApiDoc) -> Value {
    let mut doc = serde_json::to_value(&doc).unwrap_or_else(|_| json!({}));
    doc["openapi"] = json!("3.1.0");
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http", "scheme": "bearer",
        "description": "A session token (`chs_…`) or an access token (`cht_…`)."
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let Some(policy) = policy::lookup(&method.to_ascii_uppercase(), path) else {
                    continue;
                };
                let mut rules = Vec::new();
                match policy.access {
                    Access::Public => {}
                    Access::Token => rules.push("session or access token".to_string()),
                    Access::Session => rules.push("sessions only".to_string()),
                    Access::PlatformAdmin => rules.push("platform administrators".to_string()),
                }
                if let Some(scope) = policy.scope {
                    rules.push(format!("scope `{}`", scope.as_str()));
                }
                match policy.elevation {
                    policy::Elevation::No => {}
                    policy::Elevation::Required | policy::Elevation::ExceptFirstPasskey => {
                        rules.push("elevated session".to_string())
                    }
                    policy::Elevation::ForSessions => {
                        rules.push("elevated session (access tokens need none)".to_string())
                    }
                }
                if policy.backoffice.is_some() {
                    rules.push(
                        "platform administrators on any organization, as its owner (support back-office; audited; an access token also needs scope `admin`)"
                            .to_string(),
                    );
                }
                if policy.dev_only {
                    rules.push("only with `--dev`".to_string());
                }
                if policy.access != Access::Public {
                    op["security"] = json!([{ "bearer": policy.scope.map(|s| vec![s.as_str()]).unwrap_or_default() }]);
                }
                op["x-charter-access"] = json!(rules);
                op["responses"]["default"] = json!({
                    "description": "An error from the catalogue (`GET /v1/errors`).",
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                });
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
