//! What `enrich` adds to each operation and schema of the generated document.

use serde_json::{Value, json};

use crate::http::policy::{self, Access};

use super::{answers, codes, text};

/// One operation: its access rule, bearer security, the shared list parameters, its query
/// fields and its problem answers.
pub(super) fn enrich(method: &str, op: &mut Value, policy: &policy::Policy) {
    let operation_id = op["operationId"].as_str().unwrap_or_default().to_string();
    // A short title for navigation; what the handler's doc comment says leads the description.
    let said = op["summary"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    let more = op["description"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    op["summary"] = json!(text::title(&operation_id));
    op["description"] = json!(match (said.is_empty(), more.is_empty()) {
        (false, false) => format!("{said}\n\n{more}"),
        (false, true) => said,
        _ => more,
    });
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
        op["security"] =
            json!([{ "bearer": policy.scope.map(|s| vec![s.as_str()]).unwrap_or_default() }]);
    }
    op["x-charter-access"] = json!(rules);
    // The codes follow from the parameters as the handler declared them.
    let codes = codes::of_operation(&operation_id, policy, method, op);
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for param in params.iter_mut() {
            let name = param["name"].as_str().unwrap_or_default();
            if param["in"] == "query" && matches!(name, "from" | "limit" | "query") {
                *param = json!({ "$ref": format!("#/components/parameters/{name}") });
            }
        }
    }
    if let Some(fields) = answers::query_fields(&operation_id) {
        let described = op["description"].as_str().unwrap_or_default().to_string();
        let fields = text::query_fields(fields);
        op["description"] = json!(if described.is_empty() {
            fields
        } else {
            format!("{described}\n\n{fields}")
        });
    }
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        responses.retain(|status, _| !status.starts_with(['4', '5']) && status != "default");
        responses.extend(codes::responses(&codes));
    }
}

/// An optional member that references a schema is written `oneOf: [{$ref, description},
/// {type: null}]`; its description belongs to the member, where readers and generators look.
pub(super) fn hoist_descriptions(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if object.get("description").is_none()
        && let Some(Value::Array(choices)) = object.get_mut("oneOf")
        && let Some(description) = choices
            .iter_mut()
            .find_map(|c| c.as_object_mut()?.remove("description"))
    {
        object.insert("description".into(), description);
    }
    for value in object.values_mut() {
        match value {
            Value::Array(items) => items.iter_mut().for_each(hoist_descriptions),
            other => hoist_descriptions(other),
        }
    }
}

/// A page's items as a reference to the item's schema rather than a copy of it, so that a
/// generated client has one type per resource.
pub(super) fn pages_by_reference(schemas: &mut serde_json::Map<String, Value>) {
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        if schemas.contains_key(item) {
            schemas[&name]["properties"]["items"]["items"] =
                json!({ "$ref": format!("#/components/schemas/{item}") });
        }
    }
}
