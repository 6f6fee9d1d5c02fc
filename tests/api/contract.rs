//! What clients see, as insta snapshots under `snapshots/`: the OpenAPI document, the error
//! catalogue and a few problem bodies with the fields and headers that come with them. A change
//! to any of them shows up as a diff in review. Request ids and times are redacted, so the
//! snapshots are the same on SQLite and PostgreSQL. How to review and update them:
//! docs/ARCHITECTURE.md, Testing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::fixtures::DECLINED_CARD;
use crate::support::{Res, TestApp};

/// The problem as a client sees it: status, the headers that belong to the contract, and the
/// body, with the request id and every time replaced by a placeholder.
fn problem(res: &Res) -> Value {
    let mut body = res.json.clone();
    redact(&mut body);
    let mut headers = serde_json::Map::new();
    for name in ["content-type", "allow", "retry-after"] {
        if let Some(value) = res.header(name) {
            let value = match name {
                // Seconds until a time the test clock chose.
                "retry-after" => "[seconds]",
                _ => value,
            };
            headers.insert(name.to_string(), json!(value));
        }
    }
    json!({"status": res.status, "headers": headers, "body": body})
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "requestId" {
                    *value = json!("[request-id]");
                } else {
                    redact(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(text) => *text = redact_times(text),
        _ => {}
    }
}

/// Every RFC 3339 time in `text`, alone or in a sentence, as `[time]`.
fn redact_times(text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            let time = word.trim_end_matches(['.', ',', ';', ')']);
            match charter::time::Timestamp::parse_rfc3339(time) {
                Some(_) => word.replacen(time, "[time]", 1),
                None => word.to_string(),
            }
        })
        .collect();
    words.join(" ")
}

#[tokio::test]
async fn the_openapi_document() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json").await;
    let document = res.assert_status(200);
    insta::assert_json_snapshot!("openapi", document);
}

/// The rules a client generator and a reader rely on, checked on the served document: unique
/// camelCase operationIds; a description on every operation's responses, every parameter and
/// every schema and member; a closed set of values as an `enum`; an example for every request
/// body; problem answers whose codes exist in the catalogue; and no pointer to a text the
/// reader does not have. (openapi-spec-validator runs on it in `.ci/run`.)
#[tokio::test]
async fn the_openapi_document_follows_the_rules() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json").await;
    let doc = res.assert_status(200);
    let mut wrong = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"].as_str().unwrap_or_default();
            let camel = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric());
            if !camel || !ids.insert(id.to_string()) {
                wrong.push(format!("{at}: operationId `{id}` is not unique camelCase"));
            }
            if op["summary"].as_str().is_none_or(str::is_empty) {
                wrong.push(format!("{at}: no summary"));
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let param = resolve(doc, param);
                if param["description"].as_str().is_none_or(str::is_empty) {
                    wrong.push(format!(
                        "{at}: parameter `{}` has no description",
                        param["name"]
                    ));
                }
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                if response["description"].as_str().is_none_or(str::is_empty) {
                    wrong.push(format!("{at}: response {status} has no description"));
                }
                let problem = &response["content"]["application/problem+json"]["schema"];
                for code in problem["allOf"][1]["properties"]["code"]["enum"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let entry = app.get(&format!("/v1/errors/{code}")).await;
                    if entry.status != 200
                        || entry.json["status"]
                            .as_u64()
                            .map(|s| s.to_string())
                            .as_ref()
                            != Some(status)
                    {
                        wrong.push(format!(
                            "{at}: {code} is no catalogue code of status {status}"
                        ));
                    }
                }
            }
            if !op["responses"]["500"]["content"]["application/problem+json"].is_object() {
                wrong.push(format!("{at}: 500001 is not documented"));
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (media, body) in content {
                    let schema = resolve(doc, &body["schema"]);
                    if schema["example"].is_null() && schema["examples"].is_null() {
                        wrong.push(format!("{at}: the {media} body has no example"));
                    }
                }
            }
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if schema["description"].as_str().is_none_or(str::is_empty) {
            wrong.push(format!("schema {name} has no description"));
        }
        members_described(schema, name, &mut wrong);
    }
    closed_sets_are_enums(doc, &mut wrong);
    objects_say_their_members(doc, "#", &mut wrong);
    let text = doc.to_string();
    for pointer in [
        "section ", "Section ", "§", "docs/", ".md", "see 4", "see 5", "see 7",
    ] {
        for (at, _) in text.match_indices(pointer) {
            // `/docs/errors#…` is a page of this server, not a file of the repository.
            if pointer == "docs/" && text[..at].ends_with('/') {
                continue;
            }
            let context = &text[at.saturating_sub(40)..(at + 40).min(text.len())];
            wrong.push(format!(
                "a pointer to a text the reader does not have: …{context}…"
            ));
        }
    }
    let numbered = text.as_bytes().windows(5).any(|w| {
        w[0] == b'('
            && w[1].is_ascii_digit()
            && w[2] == b'.'
            && w[3].is_ascii_digit()
            && (w[4] == b')' || w[4] == b';' || w[4] == b',')
    });
    if numbered {
        wrong.push("a numbered reference such as \"(4.3)\" to the specification".into());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => doc.pointer(reference.trim_start_matches('#')).unwrap(),
        None => value,
    }
}

/// Every member of `schema` (through `allOf`, `oneOf` and `items`) has a description.
fn members_described(schema: &Value, at: &str, wrong: &mut Vec<String>) {
    for part in ["allOf", "oneOf"] {
        for choice in schema[part].as_array().into_iter().flatten() {
            members_described(choice, at, wrong);
        }
    }
    if schema["items"].is_object() {
        members_described(&schema["items"], &format!("{at}[]"), wrong);
    }
    for (name, member) in schema["properties"].as_object().into_iter().flatten() {
        let at = format!("{at}.{name}");
        if member["description"].as_str().is_none_or(str::is_empty) {
            wrong.push(format!("{at} has no description"));
        }
        members_described(member, &at, wrong);
    }
}

/// Every object schema names its members or says that any member goes (`additionalProperties`):
/// a bare `{"type": "object"}` is typed by generators as an object with no members
/// (openapi-typescript makes it `Record<string, never>`), so a client could neither send nor read
/// one. A free-form member is `#[schema(value_type = HashMap<String, Value>)]`, not `Object`.
fn objects_say_their_members(node: &Value, at: &str, wrong: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            let is_object = match &map.get("type") {
                Some(Value::String(kind)) => kind == "object",
                Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
                _ => false,
            };
            let says = [
                "properties",
                "additionalProperties",
                "allOf",
                "oneOf",
                "anyOf",
            ];
            if is_object && !says.iter().any(|key| map.contains_key(*key)) {
                wrong.push(format!(
                    "{at}: an object schema without properties or additionalProperties"
                ));
            }
            for (key, value) in map {
                objects_say_their_members(value, &format!("{at}/{key}"), wrong);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                objects_say_their_members(item, &format!("{at}/{i}"), wrong);
            }
        }
        _ => {}
    }
}

/// Members whose values form a closed set (statuses, roles, intervals, kinds, scopes, methods,
/// decline codes, payment method types) are enums.
fn closed_sets_are_enums(doc: &Value, wrong: &mut Vec<String>) {
    const CLOSED: &[&str] = &[
        "status",
        "role",
        "interval",
        "kind",
        "scopes",
        "methods",
        "method",
        "declineCode",
        "requiredScope",
        "type",
    ];
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        for (member, value) in schema["properties"].as_object().into_iter().flatten() {
            if !CLOSED.contains(&member.as_str()) || (name == "Problem" && member == "type") {
                continue;
            }
            let mut value = value;
            if let Some(choice) = value["oneOf"].as_array().and_then(|c| c.first()) {
                value = choice;
            }
            if value["items"].is_object() {
                value = &value["items"];
            }
            let value = resolve(doc, value);
            let is_enum = value["enum"].is_array() || name == "Problem" && member == "status";
            let numeric = value["type"] == "integer";
            if !is_enum && !numeric {
                wrong.push(format!("{name}.{member} is a closed set without an `enum`"));
            }
        }
    }
}

#[tokio::test]
async fn the_error_catalogue() {
    let app = TestApp::spawn().await;
    let res = app.get("/v1/errors?limit=100").await;
    let catalogue = res.assert_status(200);
    assert!(
        catalogue["total"].as_u64() < Some(100),
        "one page holds all"
    );
    insta::assert_json_snapshot!("errors", catalogue);
}

#[tokio::test]
async fn a_missing_token_answers_401001() {
    let app = TestApp::spawn().await;
    let res = app.get("/v1/me").await;
    res.assert_problem(401001);
    insta::assert_json_snapshot!("problem_401001", problem(&res));
}

#[tokio::test]
async fn a_wrong_method_answers_404003_with_allow() {
    let app = TestApp::spawn().await;
    let res = app.req(Method::DELETE, "/v1/errors").send().await;
    res.assert_problem(404003);
    insta::assert_json_snapshot!("problem_404003_allow", problem(&res));
}

#[tokio::test]
async fn a_declined_card_answers_400013_with_its_decline_code() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).create().await.id;
    let crm = app.module(&admin, "crm").create().await;
    let calc = app
        .calculation(&owner.token, &org)
        .module(&crm)
        .create()
        .await;
    let res = app
        .checkout(&owner.token, &org, &calc)
        .card(DECLINED_CARD)
        .send()
        .await;
    res.assert_problem(400013);
    insta::assert_json_snapshot!("problem_400013_decline_code", problem(&res));
}

#[tokio::test]
async fn a_locked_address_answers_403005_with_locked_until() {
    let app = TestApp::spawn().await;
    let (challenge, code) = app.start_email_sign_in("eve@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.verify_code(&challenge, wrong)
            .await
            .assert_problem(422001);
    }
    let res = app.verify_code(&challenge, wrong).await;
    res.assert_problem(403005);
    insta::assert_json_snapshot!("problem_403005_locked_until", problem(&res));
}
