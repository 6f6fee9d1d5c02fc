//! The API reference: the OpenAPI document generated from the handlers' annotations, enriched
//! from the policy table and the error catalogue, and `/docs` rendered from it (no assets to
//! download: plain server-rendered HTML).

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
    pub docs_html: String,
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
        docs_html: render_html(&doc),
    }
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(t) = schema["type"].as_str() {
        return t.to_string();
    }
    "object".to_string()
}

/// A self-contained HTML page: operations grouped by tag, then schemas and the error catalogue.
pub fn render_html(doc: &Value) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Charter API reference</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1d2330}\
         code,pre{font-family:ui-monospace,monospace;font-size:.9em}pre{background:#f4f5f8;padding:.75rem;overflow:auto}\
         .op{border:1px solid #dde;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}.m{font-weight:700;display:inline-block;min-width:4.5rem}\
         .get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}table{border-collapse:collapse}td,th{border:1px solid #dde;padding:.25rem .5rem;text-align:left}\
         .access{color:#556;font-size:.9em}</style></head><body>",
    );
    html.push_str(&format!(
        "<h1>{} <small>{}</small></h1><p>{}</p><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1).</p>",
        esc(doc["info"]["title"].as_str().unwrap_or("API")),
        esc(doc["info"]["version"].as_str().unwrap_or("")),
        esc(doc["info"]["description"].as_str().unwrap_or(""))
    ));
    let mut ops: Vec<(String, String, String, &Value)> = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for (method, op) in item {
                    let tag = op["tags"][0].as_str().unwrap_or("other").to_string();
                    ops.push((tag, path.clone(), method.clone(), op));
                }
            }
        }
    }
    ops.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let mut current_tag = String::new();
    for (tag, path, method, op) in ops {
        if tag != current_tag {
            html.push_str(&format!("<h2 id=\"tag-{0}\">{0}</h2>", esc(&tag)));
            current_tag = tag;
        }
        html.push_str(&format!(
            "<div class=\"op\"><p><span class=\"m {0}\">{1}</span> <code>{2}</code></p>",
            esc(&method),
            esc(&method.to_uppercase()),
            esc(&path)
        ));
        for key in ["summary", "description"] {
            if let Some(text) = op[key].as_str() {
                html.push_str(&format!("<p>{}</p>", esc(text)));
            }
        }
        if let Some(rules) = op["x-charter-access"].as_array().filter(|r| !r.is_empty()) {
            let rules: Vec<String> = rules.iter().filter_map(|r| r.as_str()).map(esc).collect();
            html.push_str(&format!(
                "<p class=\"access\">Access: {}</p>",
                rules.join(", ")
            ));
        }
        if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
            html.push_str(
                "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
            );
            for p in params {
                html.push_str(&format!(
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(p["name"].as_str().unwrap_or("")),
                    esc(p["in"].as_str().unwrap_or("")),
                    esc(&schema_name(&p["schema"])),
                    esc(p["description"].as_str().unwrap_or(""))
                ));
            }
            html.push_str("</table>");
        }
        if let Some(content) = op["requestBody"]["content"].as_object() {
            for (mime, media) in content {
                html.push_str(&format!(
                    "<p>Body: <code>{}</code> {}</p>",
                    esc(&schema_name(&media["schema"])),
                    esc(mime)
                ));
            }
        }
        if let Some(responses) = op["responses"].as_object() {
            html.push_str("<ul>");
            for (status, response) in responses {
                let schema = response["content"]
                    .as_object()
                    .and_then(|c| c.values().next())
                    .map(|m| schema_name(&m["schema"]));
                html.push_str(&format!(
                    "<li><b>{}</b> {} {}</li>",
                    esc(status),
                    esc(response["description"].as_str().unwrap_or("")),
                    schema
                        .map(|s| format!("<code>{}</code>", esc(&s)))
                        .unwrap_or_default()
                ));
            }
            html.push_str("</ul>");
        }
        html.push_str("</div>");
    }
    html.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            html.push_str(&format!(
                "<h3 id=\"schema-{0}\">{0}</h3><pre>{1}</pre>",
                esc(name),
                esc(&serde_json::to_string_pretty(schema).unwrap_or_default())
            ));
        }
    }
    html.push_str("<h2 id=\"errors\">Error catalogue</h2><table><tr><th>code</th><th>status</th><th>name</th><th>description</th></tr>");
    for c in ErrorCode::ALL {
        html.push_str(&format!(
            "<tr><td id=\"e{0}\">{0}</td><td>{1}</td><td>{2}</td><td>{3}</td></tr>",
            c.code(),
            c.status(),
            c.name(),
            esc(c.description())
        ));
    }
    html.push_str("</table></body></html>");
    html
}
