//! E-mail code sign-in (4.1): sign-up, codes, lockouts and quotas.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn an_email_code_signs_up_then_signs_in() {
    let app = TestApp::spawn().await;
    let start = app
        .post(
            "/v1/auth/email-otp/start",
            &json!({"email": "  Ada@Example.COM "}),
        )
        .await;
    let body = start.assert_status(202);
    assert!(body["challengeId"].as_str().is_some() && body["expiresAt"].as_str().is_some());
    let mail = app.last_mail("ada@example.com", "sign-in-code");
    let code = mail["data"]["code"].as_str().unwrap();
    assert!(code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()));
    assert!(
        mail["text"].as_str().unwrap().contains(code)
            && mail["subject"].is_string()
            && mail["sentAt"].is_string()
    );

    let res = app
        .verify_code(body["challengeId"].as_str().unwrap(), code)
        .await;
    let grant = res.assert_status(200);
    assert!(grant["sessionToken"].as_str().unwrap().starts_with("chs_"));
    assert_eq!(grant["restricted"], false);
    assert_eq!(grant["user"]["email"], "ada@example.com");
    assert!(grant["user"]["id"].as_str().unwrap().starts_with("usr_"));
    assert!(grant["expiresAt"].is_string());
    assert_eq!(res.header("cache-control"), Some("no-store"));

    let me = app
        .get_as(grant["sessionToken"].as_str().unwrap(), "/v1/me")
        .await;
    let me = me.assert_status(200);
    assert_eq!(me["id"], grant["user"]["id"]);
    for field in [
        "email",
        "displayName",
        "createdAt",
        "termsAcceptedVersion",
        "passkeysRequired",
        "platformAdmin",
    ] {
        assert!(me.get(field).is_some(), "GET /v1/me has {field}: {me}");
    }
    // Signing in again finds the same account.
    let again = app.sign_in("ADA@example.com").await;
    assert_eq!(again.id, me["id"].as_str().unwrap());
}

#[tokio::test]
async fn wrong_unknown_expired_and_used_codes_answer_422001() {
    let app = TestApp::spawn().await;
    let (challenge, code) = app.start_email_sign_in("bob@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    app.verify_code(&challenge, wrong)
        .await
        .assert_problem(422001);
    app.verify_code("chl_unknown", &code)
        .await
        .assert_problem(422001);
    app.verify_code(&challenge, &code).await.assert_status(200);
    app.verify_code(&challenge, &code)
        .await
        .assert_problem(422001);

    let (challenge, code) = app.start_email_sign_in("bob@example.com").await;
    app.advance(601).await;
    app.verify_code(&challenge, &code)
        .await
        .assert_problem(422001);
}

#[tokio::test]
async fn five_wrong_codes_lock_the_address_with_doubling() {
    let app = TestApp::spawn().await;
    let (challenge, code) = app.start_email_sign_in("eve@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.verify_code(&challenge, wrong)
            .await
            .assert_problem(422001);
    }
    let locked = app.verify_code(&challenge, wrong).await;
    let body = locked.assert_problem(403005).clone();
    let until =
        charter::time::Timestamp::parse_rfc3339(body["lockedUntil"].as_str().unwrap()).unwrap();
    let retry: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry), "Retry-After {retry}");
    // Even the right code is refused while locked.
    app.verify_code(&challenge, &code)
        .await
        .assert_problem(403005);
    // The lock never blocks sending a new code, and it ends after 15 minutes.
    app.advance(901).await;
    assert!(app.state.clock.now() > until);
    let (challenge, code) = app.start_email_sign_in("eve@example.com").await;
    for _ in 0..5 {
        app.verify_code(&challenge, wrong)
            .await
            .assert_problem(422001);
    }
    let second = app.verify_code(&challenge, &code).await;
    second.assert_problem(403005);
    let retry: i64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1790..=1800).contains(&retry),
        "the second lock doubles: {retry}"
    );
    app.advance(1801).await;
    let (challenge, code) = app.start_email_sign_in("eve@example.com").await;
    app.verify_code(&challenge, &code).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_wrong_codes_get_at_most_five_evaluated() {
    let app = TestApp::spawn().await;
    let (challenge, code) = app.start_email_sign_in("race@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let url = format!("{}/v1/auth/email-otp/verify", app.base);
        let body = json!({"challengeId": challenge, "code": wrong});
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let evaluated = statuses.iter().filter(|s| **s == 422).count();
    let locked = statuses.iter().filter(|s| **s == 403).count();
    assert!(
        evaluated <= 5,
        "{evaluated} wrong codes were evaluated: {statuses:?}"
    );
    assert_eq!(evaluated + locked, 50, "{statuses:?}");
    app.verify_code(&challenge, &code)
        .await
        .assert_problem(403005);
}

#[tokio::test]
async fn the_sixth_code_in_an_hour_answers_403005_for_any_address() {
    let app = TestApp::spawn().await;
    for email in ["known@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            app.post("/v1/auth/email-otp/start", &json!({"email": email}))
                .await
                .assert_status(202);
        }
        let res = app
            .post("/v1/auth/email-otp/start", &json!({"email": email}))
            .await;
        assert!(res.assert_problem(403005)["lockedUntil"].is_string());
        assert!(res.header("retry-after").is_some());
    }
    app.advance(3601).await;
    app.post(
        "/v1/auth/email-otp/start",
        &json!({"email": "known@example.com"}),
    )
    .await
    .assert_status(202);
}

#[tokio::test]
async fn bad_addresses_answer_400002() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/v1/auth/email-otp/start",
            &json!({"email": "not-an-address"}),
        )
        .await;
    assert_eq!(res.assert_problem(400002)["errors"][0]["field"], "email");
    app.post("/v1/auth/email-otp/start", &json!({}))
        .await
        .assert_problem(400001);
}

#[tokio::test]
async fn sign_in_answers_hold_secrets_so_their_idempotency_keys_are_not_replayed() {
    let app = TestApp::spawn().await;
    let (challenge, code) = app.start_email_sign_in("key@example.com").await;
    let body = json!({"challengeId": challenge, "code": code});
    let first = app
        .req(reqwest::Method::POST, "/v1/auth/email-otp/verify")
        .header("idempotency-key", "s1")
        .json(&body)
        .send()
        .await;
    first.assert_status(200);
    let again = app
        .req(reqwest::Method::POST, "/v1/auth/email-otp/verify")
        .header("idempotency-key", "s1")
        .json(&body)
        .send()
        .await;
    again.assert_problem(400002);
    assert!(!again.text.contains("chs_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lockout_count_holds_across_two_processes() {
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    let (challenge, code) = app.start_email_sign_in("two@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            peer.base.clone()
        };
        let body = json!({"challengeId": challenge, "code": wrong});
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/v1/auth/email-otp/verify"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let evaluated = statuses.iter().filter(|s| **s == 422).count();
    assert!(
        evaluated <= 5,
        "{evaluated} evaluated across two processes: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        40 - evaluated
    );
}

#[tokio::test]
async fn a_replayed_403005_keeps_its_retry_after() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        app.post(
            "/v1/auth/email-otp/start",
            &json!({"email": "replay@example.com"}),
        )
        .await
        .assert_status(202);
    }
    let send = || {
        app.req(reqwest::Method::POST, "/v1/auth/email-otp/start")
            .header("idempotency-key", "q6")
            .json(&json!({"email": "replay@example.com"}))
            .send()
    };
    let first = send().await;
    first.assert_problem(403005);
    let again = send().await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        (again.status, again.header("retry-after")),
        (403, first.header("retry-after"))
    );
}
