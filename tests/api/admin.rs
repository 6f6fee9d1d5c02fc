//! Platform administration (6), terms (4.6), e-mail change (4.6) and the audit log.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn administrators_create_and_read_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let res = app
        .post_as(
            &admin.token,
            "/v1/users",
            &json!({"id": "alice.1", "email": "Alice@Example.com", "displayName": "Alice"}),
        )
        .await;
    let user = res.assert_status(201);
    assert_eq!(
        (user["id"].as_str(), user["email"].as_str()),
        (Some("alice.1"), Some("alice@example.com"))
    );
    let generated = app
        .post_as(
            &admin.token,
            "/v1/users",
            &json!({"email": "gen@example.com"}),
        )
        .await;
    assert!(
        generated.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .starts_with("usr_")
    );

    app.post_as(
        &admin.token,
        "/v1/users",
        &json!({"id": "alice.1", "email": "other@example.com"}),
    )
    .await
    .assert_problem(400006);
    app.post_as(
        &admin.token,
        "/v1/users",
        &json!({"email": "ALICE@example.com"}),
    )
    .await
    .assert_problem(400006);
    for bad in ["usr_abc", "has space", "", &"x".repeat(65)] {
        let res = app
            .post_as(
                &admin.token,
                "/v1/users",
                &json!({"id": bad, "email": "z@example.com"}),
            )
            .await;
        assert_eq!(res.assert_problem(400002)["errors"][0]["field"], "id");
    }

    let one = app.get_as(&admin.token, "/v1/users/alice.1").await;
    assert_eq!(one.assert_status(200)["displayName"], "Alice");
    app.get_as(&admin.token, "/v1/users/nobody")
        .await
        .assert_problem(404001);
    app.post_as(
        &admin.token,
        "/v1/users/nobody/ban",
        &json!({"reason": "x"}),
    )
    .await
    .assert_problem(404001);
    // 404001 comes before the body is looked at.
    app.post_as(&admin.token, "/v1/users/nobody/ban", &json!({}))
        .await
        .assert_problem(404001);
    let list = app.get_as(&admin.token, "/v1/users?limit=2").await;
    let list = list.assert_status(200);
    assert_eq!(list["total"], 3);
    assert_eq!(list["items"][0]["email"], "gen@example.com", "newest first");

    // Someone who is not an administrator.
    let user = app.sign_in("alice@example.com").await;
    app.get_as(&user.token, "/v1/users")
        .await
        .assert_problem(403001);
    app.post_as(&user.token, "/v1/users", &json!({"email": "q@example.com"}))
        .await
        .assert_problem(403001);
}

#[tokio::test]
async fn a_banned_user_cannot_sign_in_or_use_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("ban@example.com").await;
    let res = app
        .post_as(
            &admin.token,
            &format!("/v1/users/{}/ban", user.id),
            &json!({"reason": "fraud"}),
        )
        .await;
    assert_eq!(res.assert_status(200)["banned"], true);
    app.get_as(&user.token, "/v1/me")
        .await
        .assert_problem(403003);
    // Only after the code verifies does sign-in tell.
    let (challenge, code) = app.start_email_sign_in("ban@example.com").await;
    app.verify_code(&challenge, "999999x")
        .await
        .assert_problem(422001);
    app.verify_code(&challenge, &code)
        .await
        .assert_problem(403003);
    app.delete_as(&admin.token, &format!("/v1/users/{}/ban", user.id))
        .await
        .assert_status(204);
    app.get_as(&user.token, "/v1/me").await.assert_status(200);
}

#[tokio::test]
async fn a_suspension_lasts_until_its_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("sus@example.com").await;
    let until = app.state.clock.now().plus_seconds(86400);
    let path = format!("/v1/users/{}/suspend", user.id);
    app.post_as(
        &admin.token,
        &path,
        &json!({"until": "2001-01-01T00:00:00Z", "reason": "x"}),
    )
    .await
    .assert_problem(400002);
    app.post_as(
        &admin.token,
        &path,
        &json!({"until": until, "reason": "cooling off"}),
    )
    .await
    .assert_status(200);
    let res = app.get_as(&user.token, "/v1/me").await;
    assert_eq!(res.assert_problem(403004)["suspendedUntil"], json!(until));
    app.advance(86401).await;
    // Seven idle days have not passed: the session still works once the suspension ends.
    app.get_as(&user.token, "/v1/me").await.assert_status(200);
    app.post_as(
        &admin.token,
        &path,
        &json!({"until": app.state.clock.now().plus_seconds(60), "reason": "again"}),
    )
    .await
    .assert_status(200);
    app.get_as(&user.token, "/v1/me")
        .await
        .assert_problem(403004);
    app.delete_as(&admin.token, &path).await.assert_status(204);
    app.get_as(&user.token, "/v1/me").await.assert_status(200);
}

#[tokio::test]
async fn a_lock_holds_every_credential_that_existed_for_good() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("lock@example.com").await;
    let token = app.access_token(&user, &["orgs:read"]).await;
    let res = app
        .post_as(
            &admin.token,
            &format!("/v1/users/{}/lock", user.id),
            &json!({}),
        )
        .await;
    assert_eq!(res.assert_status(200)["locked"], true);
    app.get_as(&user.token, "/v1/me")
        .await
        .assert_problem(403002);
    app.get_as(&token, "/v1/me").await.assert_problem(403002);
    // The victim's next sign-in starts a fresh session and revives nothing a thief holds.
    let fresh = app.sign_in("lock@example.com").await;
    app.get_as(&fresh.token, "/v1/me").await.assert_status(200);
    app.get_as(&token, "/v1/me").await.assert_problem(403002);
    app.get_as(&user.token, "/v1/me")
        .await
        .assert_problem(403002);
    let shown = app
        .get_as(&admin.token, &format!("/v1/users/{}", user.id))
        .await;
    assert!(shown.assert_status(200)["lockedAt"].is_string());
}

#[tokio::test]
async fn new_terms_must_be_accepted_before_anything_else() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("terms@example.com").await;
    let token = app.access_token(&user, &["orgs:read"]).await;
    app.get("/v1/terms/current").await.assert_problem(404003);
    let res = app
        .post_as(
            &admin.token,
            "/v1/terms",
            &json!({"version": "2026-11", "url": "https://example.com/terms"}),
        )
        .await;
    res.assert_status(201);
    app.post_as(
        &admin.token,
        "/v1/terms",
        &json!({"version": "2026-11", "url": "https://example.com/terms"}),
    )
    .await
    .assert_problem(400002);
    app.post_as(
        &admin.token,
        "/v1/terms",
        &json!({"version": "x", "url": "ftp://nope"}),
    )
    .await
    .assert_problem(400002);
    let current = app.get("/v1/terms/current").await;
    assert_eq!(current.assert_status(200)["version"], "2026-11");

    // The publisher accepted; everyone else answers 451001 but on the exempt routes.
    app.get_as(&admin.token, "/v1/users")
        .await
        .assert_status(200);
    let res = app.get_as(&user.token, "/v1/me/sessions").await;
    assert_eq!(res.assert_problem(451001)["termsVersion"], "2026-11");
    app.get_as(&token, "/v1/users").await.assert_problem(451001);
    app.get_as(&user.token, "/v1/me").await.assert_status(200);
    app.get("/v1/errors").await.assert_status(200);
    app.post_as(
        &user.token,
        "/v1/me/terms/accept",
        &json!({"version": "2025-01"}),
    )
    .await
    .assert_problem(400002);
    // Accepting needs no scope and works with an access token.
    let res = app
        .post_as(
            &token,
            "/v1/me/terms/accept",
            &json!({"version": "2026-11"}),
        )
        .await;
    assert_eq!(res.assert_status(200)["termsAcceptedVersion"], "2026-11");
    app.get_as(&user.token, "/v1/me/sessions")
        .await
        .assert_status(200);
    // Terms come before scope in the order of checks.
    app.post_as(
        &admin.token,
        "/v1/terms",
        &json!({"version": "2026-12", "url": "https://example.com/t2"}),
    )
    .await
    .assert_status(201);
    app.get_as(&token, "/v1/users").await.assert_problem(451001);
}

#[tokio::test]
async fn the_email_address_changes_with_a_code_sent_to_the_new_one() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("old@example.com").await;
    app.sign_in("taken@example.com").await;
    for bad in ["nope", "old@example.com", "TAKEN@example.com"] {
        app.post_as(&user.token, "/v1/me/email/start", &json!({"newEmail": bad}))
            .await
            .assert_problem(400009);
    }
    app.advance(601).await;
    app.post_as(
        &user.token,
        "/v1/me/email/start",
        &json!({"newEmail": "new@example.com"}),
    )
    .await
    .assert_problem(403006);
    app.elevate_by_email(&user).await;
    let res = app
        .post_as(
            &user.token,
            "/v1/me/email/start",
            &json!({"newEmail": "New@Example.com"}),
        )
        .await;
    let challenge = res.assert_status(202)["challengeId"]
        .as_str()
        .unwrap()
        .to_string();
    let code = app.last_code("new@example.com", "email-change-code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    app.post_as(
        &user.token,
        "/v1/me/email/verify",
        &json!({"challengeId": challenge, "code": wrong}),
    )
    .await
    .assert_problem(422001);
    let res = app
        .post_as(
            &user.token,
            "/v1/me/email/verify",
            &json!({"challengeId": challenge, "code": code}),
        )
        .await;
    assert_eq!(res.assert_status(200)["email"], "new@example.com");
    assert!(
        app.last_mail("old@example.com", "email-changed")["text"]
            .as_str()
            .unwrap()
            .contains("new@example.com")
    );
    let again = app.sign_in("new@example.com").await;
    assert_eq!(again.id, user.id);
}

#[tokio::test]
async fn the_audit_log_records_security_events_with_their_origin() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("audited@example.com").await;
    let (challenge, _) = app.start_email_sign_in("audited@example.com").await;
    app.verify_code(&challenge, "000000x").await;
    app.post_as(
        &admin.token,
        &format!("/v1/users/{}/ban", user.id),
        &json!({"reason": "test"}),
    )
    .await
    .assert_status(200);
    let res = app.get_as(&admin.token, "/v1/audit-events?limit=100").await;
    let events = res.assert_status(200)["items"].as_array().unwrap().clone();
    let ban = events
        .iter()
        .find(|e| e["action"] == "user.banned")
        .expect("ban audited");
    assert_eq!(ban["actor"], admin.id.as_str());
    assert_eq!(ban["subject"], user.id.as_str());
    assert!(ban["requestId"].as_str().unwrap().len() > 4);
    assert_eq!(ban["sourceAddress"], "127.0.0.1");
    assert!(ban["createdAt"].is_string());
    for action in [
        "session.created",
        "user.signed_up",
        "code.failed",
        "access_token.created",
    ] {
        assert!(
            events.iter().any(|e| e["action"] == action),
            "{action} audited"
        );
    }
    assert_eq!(events[0]["action"], "user.banned", "newest first");
    let user_token = app.sign_in("other@example.com").await.token;
    app.get_as(&user_token, "/v1/audit-events")
        .await
        .assert_problem(403001);
}
