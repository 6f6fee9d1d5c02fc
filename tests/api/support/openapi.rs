//! Every answer a test receives, held against the OpenAPI document (`charter::app::openapi`):
//! the request is matched to its operation by method and path template, and the answer's
//! status must be one the operation documents; a problem's `code` must be among the codes the
//! document lists for that status; and a JSON body must fit the documented schema (types,
//! required and no undocumented members, enums). So the whole suite checks that the document
//! is honest: a code missing from it fails the test that received it. Route-specific codes are
//! listed in src/http/reference/answers.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde_json::Value;

use super::Res;

static DOCUMENT: LazyLock<Value> = LazyLock::new(charter::app::openapi);
static CONTRACT: LazyLock<Contract> = LazyLock::new(|| Contract::of(&DOCUMENT));

struct Operation {
    method: String,
    /// The path template's segments; `None` for a `{parameter}`.
    segments: Vec<Option<String>>,
    template: String,
    id: String,
    /// Documented statuses, and for error statuses the problem codes listed.
    statuses: BTreeMap<u16, BTreeSet<u64>>,
    /// The documented body schema by status and media type.
    bodies: BTreeMap<(u16, String), Value>,
    /// The documented media types by status, with a schema or not.
    media: BTreeSet<(u16, String)>,
}

struct Contract {
    operations: Vec<Operation>,
}

impl Contract {
    fn of(document: &Value) -> Contract {
        let mut operations = Vec::new();
        for (template, item) in document["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let mut statuses = BTreeMap::new();
                let mut bodies = BTreeMap::new();
                let mut media = BTreeSet::new();
                for (status, response) in op["responses"].as_object().expect("responses") {
                    let status: u16 = status.parse().expect("a numeric status");
                    for (media_type, content) in
                        response["content"].as_object().into_iter().flatten()
                    {
                        media.insert((status, media_type.clone()));
                        let media = media_type;
                        if !content["schema"].is_null() {
                            bodies.insert((status, media.clone()), content["schema"].clone());
                        }
                    }
                    let codes = response["content"]["application/problem+json"]["schema"]["allOf"]
                        [1]["properties"]["code"]["enum"]
                        .as_array()
                        .map(|codes| codes.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default();
                    statuses.insert(status, codes);
                }
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    segments: segments(template)
                        .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                        .collect(),
                    template: template.clone(),
                    id: op["operationId"].as_str().unwrap_or_default().to_string(),
                    statuses,
                    bodies,
                    media,
                });
            }
        }
        Contract { operations }
    }

    /// The operations whose template matches `path`, the most literal first.
    fn matching(&self, path: &str) -> Vec<&Operation> {
        let parts: Vec<&str> = segments(path).collect();
        let mut found: Vec<&Operation> = self
            .operations
            .iter()
            .filter(|op| {
                op.segments.len() == parts.len()
                    && op
                        .segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s.as_deref().is_none_or(|s| s == *p) && !p.is_empty())
            })
            .collect();
        found.sort_by_key(|op| std::cmp::Reverse(op.segments.iter().flatten().count()));
        found
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.trim_start_matches('/').split('/')
}

/// Checks `res`, the answer to `method path` (the path as sent, query string included).
#[track_caller]
pub fn check(method: &str, path: &str, res: &Res) {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let method = if method == "HEAD" { "GET" } else { method };
    let is_problem = res
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/problem+json"));
    let code = res.json["code"].as_u64();
    let matching = CONTRACT.matching(path);
    let Some(op) = matching.iter().find(|op| op.method == method) else {
        // Not an operation: an unknown route or a method the path does not serve answers
        // 404003 (so a route served without an annotation cannot pass unseen); test-only
        // routes (`/test/…`) may answer as they like.
        if path.starts_with("/test/") {
            return;
        }
        assert_eq!(
            code.filter(|_| is_problem),
            Some(404003),
            "{method} {path} is no operation of the OpenAPI document, yet answered {} {}",
            res.status,
            res.text
        );
        return;
    };
    let Some(codes) = op.statuses.get(&res.status) else {
        panic!(
            "{method} {} ({}) answered status {}, which the OpenAPI document does not list for it (it lists {:?}): {}",
            op.template,
            op.id,
            res.status,
            op.statuses.keys().collect::<Vec<_>>(),
            res.text
        );
    };
    if res.status >= 400 {
        assert!(
            is_problem,
            "{method} {path} answered {} without problem+json",
            res.status
        );
        let code = code.unwrap_or_else(|| panic!("a problem without a code: {}", res.text));
        assert!(
            codes.contains(&code),
            "{method} {} ({}) answered {code}, which the OpenAPI document does not list for it \
             (it lists {codes:?} for status {}); add it to src/http/reference/answers.rs, or fix \
             the server: {}",
            op.template,
            op.id,
            res.status,
            res.text
        );
    }
    let media = res
        .header("content-type")
        .and_then(|t| t.split(';').next())
        .unwrap_or_default();
    // A body in a media type the document does not name for this status is undocumented.
    assert!(
        res.text.is_empty() || op.media.contains(&(res.status, media.to_string())),
        "{method} {} ({}) answered {} with a {media} body, which the OpenAPI document does not name for that status",
        op.template,
        op.id,
        res.status
    );
    // Only JSON bodies are held against their schema (a page or a script is text).
    let json = media == "application/json" || media.ends_with("+json");
    if let Some(schema) = op
        .bodies
        .get(&(res.status, media.to_string()))
        .filter(|_| json)
    {
        let mut wrong = Vec::new();
        fits(&res.json, schema, "", &mut wrong);
        assert!(
            wrong.is_empty(),
            "{method} {} ({}) answered {} with a body the OpenAPI document does not describe:\n{}\n{}",
            op.template,
            op.id,
            res.status,
            wrong.join("\n"),
            res.text
        );
    }
}

/// `schema` with a `$ref` resolved (one level; references do not chain here).
fn resolve(schema: &Value) -> &Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            DOCUMENT
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves"))
        }
        None => schema,
    }
}

/// The properties `schema` declares, through `allOf`; `None` for a free-form object.
fn properties(schema: &Value) -> Option<BTreeSet<String>> {
    let schema = resolve(schema);
    let mut names: Option<BTreeSet<String>> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect());
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let more = properties(part)?;
        names.get_or_insert_with(BTreeSet::new).extend(more);
    }
    names
}

/// Whether `value` fits `schema` (the parts of JSON Schema the document uses); what does not
/// is added to `wrong`, each with its JSON pointer.
fn fits(value: &Value, schema: &Value, at: &str, wrong: &mut Vec<String>) {
    let schema = resolve(schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        fits_shallow(value, part, at, wrong);
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let fitting = choices
            .iter()
            .filter(|choice| {
                let mut inner = Vec::new();
                fits(value, choice, at, &mut inner);
                inner.is_empty()
            })
            .count();
        if fitting != 1 {
            wrong.push(format!("{at}: fits {fitting} of the `oneOf` choices"));
        }
    }
    fits_shallow(value, schema, at, wrong);
    if let (Some(object), Some(known)) = (value.as_object(), properties(schema)) {
        for key in object.keys().filter(|k| !known.contains(*k)) {
            wrong.push(format!("{at}/{key}: not documented"));
        }
    }
}

/// `fits` without the check for undocumented members (an `allOf` part sees only its own).
fn fits_shallow(value: &Value, schema: &Value, at: &str, wrong: &mut Vec<String>) {
    let schema = resolve(schema);
    if schema.get("allOf").is_some() && schema.get("properties").is_none() {
        for part in schema["allOf"].as_array().into_iter().flatten() {
            fits_shallow(value, part, at, wrong);
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let typed = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !typed {
        wrong.push(format!("{at}: a {kind}, documented as {types:?}"));
        return;
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        wrong.push(format!("{at}: {value} is not one of {values:?}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                wrong.push(format!("{at}/{name}: required, missing"));
            }
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(member) = object.get(name) {
                fits(member, property, &format!("{at}/{name}"), wrong);
            }
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            fits(item, item_schema, &format!("{at}/{i}"), wrong);
        }
    }
}
