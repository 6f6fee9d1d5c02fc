//! `Idempotency-Key` (section 2), on the test clock's POST route (no token: scoped to the
//! client address).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Res, TestApp};

async fn advance_with_key(app: &TestApp, key: &str, body: &Value) -> Res {
    app.req(Method::POST, "/v1/dev/clock")
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
}

async fn now(app: &TestApp) -> String {
    app.get("/v1/dev/clock").await.json["now"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_same_key_and_body_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    let first = advance_with_key(&app, "k1", &json!({"advanceSeconds": 3600})).await;
    first.assert_status(200);
    // Same JSON, other key order and spacing: canonically equal.
    let replay = app
        .req(Method::POST, "/v1/dev/clock")
        .header("idempotency-key", "k1")
        .body("application/json", r#"{ "advanceSeconds" : 3600 }"#)
        .send()
        .await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.json, first.json);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // The clock moved once only.
    let t0 = charter::time::Timestamp::parse_rfc3339(first.json["now"].as_str().unwrap()).unwrap();
    let t1 = charter::time::Timestamp::parse_rfc3339(&now(&app).await).unwrap();
    assert!(t0.seconds_until(t1) < 600);
}

#[tokio::test]
async fn the_same_key_with_another_body_answers_400002() {
    let app = TestApp::spawn().await;
    advance_with_key(&app, "k2", &json!({"advanceSeconds": 60}))
        .await
        .assert_status(200);
    let res = advance_with_key(&app, "k2", &json!({"advanceSeconds": 61})).await;
    assert_eq!(
        res.assert_problem(400002)["errors"][0]["field"],
        "Idempotency-Key"
    );
}

#[tokio::test]
async fn error_answers_are_replayed_too() {
    let app = TestApp::spawn().await;
    let bad = json!({"advanceSeconds": 0});
    let first = advance_with_key(&app, "k3", &bad).await;
    first.assert_problem(400002);
    let again = advance_with_key(&app, "k3", &bad).await;
    // A replay is the first answer verbatim, so its body names the first request's id.
    assert_eq!((again.status, &again.json), (400, &first.json));
    assert_eq!(
        again.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn keys_expire_after_the_replay_window() {
    let app = TestApp::spawn().await;
    let body = json!({"advanceSeconds": 86_400});
    let first = advance_with_key(&app, "k4", &body).await;
    first.assert_status(200);
    // The first request itself moved the clock a day; one more second and the key has expired.
    app.advance(1).await;
    let second = advance_with_key(&app, "k4", &body).await;
    second.assert_status(200);
    assert_eq!(second.header("idempotent-replayed"), None);
    assert_ne!(second.json, first.json);
}

#[tokio::test]
async fn a_malformed_key_answers_400002() {
    let app = TestApp::spawn().await;
    let res = advance_with_key(&app, &"x".repeat(256), &json!({"advanceSeconds": 1})).await;
    res.assert_problem(400002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_duplicates_execute_once() {
    let app = TestApp::spawn().await;
    let start = charter::time::Timestamp::parse_rfc3339(&now(&app).await).unwrap();
    let body = json!({"advanceSeconds": 1000});
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = format!("{}/v1/dev/clock", app.base);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("idempotency-key", "race")
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(
        answers.iter().all(|(s, b)| *s == 200 && *b == answers[0].1),
        "{answers:?}"
    );
    let end = charter::time::Timestamp::parse_rfc3339(&now(&app).await).unwrap();
    let moved = start.seconds_until(end);
    assert!(
        (1000..1600).contains(&moved),
        "the clock moved {moved}s: the request ran more than once"
    );
}

/// With a key, the body of a POST is read to be compared even where the route takes none: one
/// over the size limit answers 400001, as its operation documents (the harness checks).
#[tokio::test]
async fn a_key_with_an_oversized_body_on_a_route_without_one_answers_400001() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("owner@example.com").await;
    let admin = app.admin().await;
    let res = app
        .req(Method::POST, &format!("/v1/users/{}/lock", owner.id))
        .token(&admin.token)
        .header("idempotency-key", "oversized")
        .body("application/json", vec![b' '; 2 * 1024 * 1024])
        .send()
        .await;
    res.assert_problem(400001);
}
