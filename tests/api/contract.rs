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
