//! Sessions, elevation, access tokens and scopes (4.3, 4.6, 9).

use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn routes_for_users_need_a_valid_token() {
    let app = TestApp::spawn().await;
    app.get("/v1/me").await.assert_problem(401001);
    app.get_as("chs_nonsense", "/v1/me")
        .await
        .assert_problem(401001);
    app.get_as("cht_nonsense", "/v1/me")
        .await
        .assert_problem(401001);
    app.req(Method::GET, "/v1/me")
        .header("authorization", "Basic abc")
        .send()
        .await
        .assert_problem(401001);
    // Route and method come first: an unknown route never asks for a token.
    app.get("/v1/me/nothing").await.assert_problem(404003);
}

#[tokio::test]
async fn sessions_are_listed_revoked_and_signed_out() {
    let app = TestApp::spawn().await;
    let first = app.sign_in("sam@example.com").await;
    let second = app.sign_in("sam@example.com").await;
    let list = app.get_as(&second.token, "/v1/me/sessions").await;
    let list = list.assert_status(200);
    assert_eq!(list["total"], 2);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(items[0]["current"], true, "newest first");
    for field in ["id", "createdAt", "lastUsedAt", "expiresAt"] {
        assert!(items[0][field].is_string());
    }
    let other = items[1]["id"].as_str().unwrap();
    app.delete_as(&second.token, &format!("/v1/me/sessions/{other}"))
        .await
        .assert_status(204);
    app.get_as(&first.token, "/v1/me")
        .await
        .assert_problem(401001);
    app.delete_as(&second.token, &format!("/v1/me/sessions/{other}"))
        .await
        .assert_problem(404003);
    let out = app
        .post_as(&second.token, "/v1/auth/sign-out", &json!({}))
        .await;
    out.assert_status(200);
    app.get_as(&second.token, "/v1/me")
        .await
        .assert_problem(401001);
}

#[tokio::test]
async fn sessions_end_after_seven_idle_days_and_thirty_days_in_all() {
    let app = TestApp::spawn().await;
    let idle = app.sign_in("idle@example.com").await;
    let busy = app.sign_in("busy@example.com").await;
    for _ in 0..4 {
        app.advance(6 * 86400).await;
        app.get_as(&busy.token, "/v1/me").await.assert_status(200);
    }
    app.get_as(&idle.token, "/v1/me")
        .await
        .assert_problem(401001);
    app.advance(6 * 86400 + 60).await; // 30 days and a minute in all
    app.get_as(&busy.token, "/v1/me")
        .await
        .assert_problem(401001);
}

#[tokio::test]
async fn elevation_expires_after_ten_minutes_and_is_renewed_by_a_code() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("eli@example.com").await;
    let body = json!({"name": "ci", "scopes": ["orgs:read"]});
    // Just signed in: elevated.
    app.post_as(&user.token, "/v1/me/tokens", &body)
        .await
        .assert_status(201);
    app.advance(601).await;
    let res = app.post_as(&user.token, "/v1/me/tokens", &body).await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["email-otp"]));
    // A method the user cannot use, a wrong code, then the right one.
    app.post_as(
        &user.token,
        "/v1/auth/elevate/start",
        &json!({"method": "passkey"}),
    )
    .await
    .assert_problem(400002);
    let start = app
        .post_as(
            &user.token,
            "/v1/auth/elevate/start",
            &json!({"method": "email-otp"}),
        )
        .await;
    let challenge = start.assert_status(200)["challengeId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(start.json.get("publicKey").is_none());
    let code = app.last_code("eli@example.com", "elevation-code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    app.post_as(
        &user.token,
        "/v1/auth/elevate/finish",
        &json!({"challengeId": challenge, "code": wrong}),
    )
    .await
    .assert_problem(422001);
    let done = app
        .post_as(
            &user.token,
            "/v1/auth/elevate/finish",
            &json!({"challengeId": challenge, "code": code}),
        )
        .await;
    assert_eq!(done.assert_status(200)["elevated"], true);
    app.post_as(&user.token, "/v1/me/tokens", &body)
        .await
        .assert_status(201);
}

#[tokio::test]
async fn access_tokens_are_shown_once_and_limited_by_scope() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("tok@example.com").await;
    let res = app
        .post_as(
            &user.token,
            "/v1/me/tokens",
            &json!({"name": "ci", "scopes": ["orgs:read", "billing:read"]}),
        )
        .await;
    let created = res.assert_status(201).clone();
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("cht_"));
    assert_eq!(created["scopes"], json!(["orgs:read", "billing:read"]));
    assert!(created["id"].as_str().unwrap().starts_with("tok_"));
    let list = app.get_as(&user.token, "/v1/me/tokens").await;
    let list = list.assert_status(200);
    assert_eq!(list["total"], 1);
    assert!(list["items"][0].get("token").is_none());
    assert!(!list.to_string().contains(token));
    // The user is told.
    app.last_mail("tok@example.com", "token-created");

    // Access tokens may read /v1/me, never act as a session.
    app.get_as(token, "/v1/me").await.assert_status(200);
    app.get_as(token, "/v1/me/sessions")
        .await
        .assert_problem(403001);
    let res = app
        .post_as(
            token,
            "/v1/me/tokens",
            &json!({"name": "x", "scopes": ["admin"]}),
        )
        .await;
    res.assert_problem(403001);
    app.post_as(
        token,
        "/v1/auth/elevate/start",
        &json!({"method": "email-otp"}),
    )
    .await
    .assert_problem(403001);

    // Scope before role: a non-administrator's token without the scope gets 403014, with it 403001.
    let res = app.get_as(token, "/v1/users").await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "users:read");
    let users_token = app.access_token(&user, &["users:read"]).await;
    app.get_as(&users_token, "/v1/users")
        .await
        .assert_problem(403001);

    // Bad requests.
    let res = app
        .post_as(
            &user.token,
            "/v1/me/tokens",
            &json!({"name": "", "scopes": ["nope"]}),
        )
        .await;
    let errors = res.assert_problem(400002)["errors"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(errors.len(), 2, "{errors:?}");

    // Revoked tokens stop working.
    let id = created["id"].as_str().unwrap();
    app.delete_as(&user.token, &format!("/v1/me/tokens/{id}"))
        .await
        .assert_status(204);
    app.get_as(token, "/v1/me").await.assert_problem(401001);
    app.delete_as(&user.token, &format!("/v1/me/tokens/{id}"))
        .await
        .assert_problem(404003);
}

#[tokio::test]
async fn expired_access_tokens_answer_401001() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("exp@example.com").await;
    let expires = app.state.clock.now().plus_seconds(3600);
    let res = app
        .post_as(
            &user.token,
            "/v1/me/tokens",
            &json!({"name": "short", "scopes": ["orgs:read"], "expiresAt": expires}),
        )
        .await;
    let token = res.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    app.get_as(&token, "/v1/me").await.assert_status(200);
    app.advance(3601).await;
    app.get_as(&token, "/v1/me").await.assert_problem(401001);
    let past =
        json!({"name": "past", "scopes": ["orgs:read"], "expiresAt": "2001-01-01T00:00:00Z"});
    app.elevate_by_email(&user).await;
    app.post_as(&user.token, "/v1/me/tokens", &past)
        .await
        .assert_problem(400002);
}

#[tokio::test]
async fn the_profile_can_be_changed() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("pat@example.com").await;
    let res = app
        .patch_as(&user.token, "/v1/me", &json!({"displayName": "  Pat  "}))
        .await;
    assert_eq!(res.assert_status(200)["displayName"], "Pat");
    let res = app
        .patch_as(
            &user.token,
            "/v1/me",
            &json!({"displayName": "x".repeat(101)}),
        )
        .await;
    res.assert_problem(400002);
    app.patch_as(&user.token, "/v1/me", &json!({"email": "x@y.z"}))
        .await
        .assert_problem(400002);
}
