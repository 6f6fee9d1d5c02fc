//! Passkeys (4.2), the passkey requirement (4.4) and passkey reset (4.5), with a software
//! authenticator on the configured origin.

use serde_json::{Value, json};

use crate::soft_passkey::SoftAuthenticator;
use crate::support::{ORIGIN, TestApp, User};

fn has_no_nulls(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => items.iter().all(has_no_nulls),
        Value::Object(map) => map.values().all(has_no_nulls),
        _ => true,
    }
}

#[tokio::test]
async fn registration_options_have_the_webauthn_json_shape() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("shape@example.com").await;
    let start = app
        .post_as(
            &user.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await;
    let options = &start.assert_status(200)["publicKey"];
    assert!(options.get("publicKey").is_none(), "bare options");
    assert!(has_no_nulls(options), "{options}");
    assert_eq!(options["rp"]["id"], "localhost");
    assert!(options["rp"]["name"].is_string());
    assert_eq!(options["user"]["name"], "shape@example.com");
    assert!(options["challenge"].as_str().unwrap().len() >= 22);
    let algs: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert!(algs.contains(&-7) && algs.contains(&-257));
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["attestation"], "none");
    // The same user handle every time.
    let again = app
        .post_as(
            &user.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await;
    assert_eq!(again.json["publicKey"]["user"]["id"], options["user"]["id"]);
}

#[tokio::test]
async fn a_registered_passkey_signs_in_with_and_without_an_email() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("pk@example.com").await;
    let mut authenticator = SoftAuthenticator::new();
    let passkey = app.register_passkey(&user, &mut authenticator).await;
    assert!(passkey["id"].as_str().unwrap().starts_with("pk_"));
    assert_eq!(passkey["name"], "Laptop");
    app.last_mail("pk@example.com", "passkey-added");

    let list = app.get_as(&user.token, "/v1/me/passkeys").await;
    assert_eq!(list.assert_status(200)["total"], 1);

    let res = app
        .passkey_sign_in(Some("PK@example.com"), &mut authenticator)
        .await;
    let grant = res.assert_status(200);
    assert_eq!(grant["user"]["id"], user.id.as_str());
    assert_eq!(grant["restricted"], false);
    let res = app.passkey_sign_in(None, &mut authenticator).await;
    assert_eq!(res.assert_status(200)["user"]["id"], user.id.as_str());
    let list = app.get_as(&user.token, "/v1/me/passkeys").await;
    assert!(list.json["items"][0]["lastUsedAt"].is_string());

    // Renaming, and excluding the registered credential next time.
    let id = passkey["id"].as_str().unwrap();
    let res = app
        .patch_as(
            &user.token,
            &format!("/v1/me/passkeys/{id}"),
            &json!({"name": "Phone"}),
        )
        .await;
    assert_eq!(res.assert_status(200)["name"], "Phone");
    // A second passkey needs the first one's proof (4.2).
    app.elevate_by_passkey(&user, &mut authenticator).await;
    let start = app
        .post_as(
            &user.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await;
    assert_eq!(
        start.json["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn passkey_sign_in_start_for_an_address_without_passkeys_answers_404004() {
    let app = TestApp::spawn().await;
    app.sign_in("plain@example.com").await;
    app.post(
        "/v1/auth/passkey/start",
        &json!({"email": "plain@example.com"}),
    )
    .await
    .assert_problem(404004);
    app.post(
        "/v1/auth/passkey/start",
        &json!({"email": "nobody@example.com"}),
    )
    .await
    .assert_problem(404004);
}

/// Two valid assertions for one challenge (the authenticator signed twice, each with a higher
/// counter), sent at once: the ceremony is taken inside the finishing unit, so exactly one
/// signs in.
#[tokio::test]
async fn one_challenge_signs_in_once_when_two_assertions_race() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("racer@example.com").await;
    let mut authenticator = SoftAuthenticator::new();
    app.register_passkey(&user, &mut authenticator).await;
    for round in 0..6 {
        let start = app
            .post(
                "/v1/auth/passkey/start",
                &json!({"email": "racer@example.com"}),
            )
            .await
            .json;
        let first = authenticator.authenticate(&start["publicKey"], ORIGIN);
        let second = authenticator.authenticate(&start["publicKey"], ORIGIN);
        let first = json!({"challengeId": start["challengeId"], "credential": first});
        let second = json!({"challengeId": start["challengeId"], "credential": second});
        let (a, b) = tokio::join!(
            app.post("/v1/auth/passkey/finish", &first),
            app.post("/v1/auth/passkey/finish", &second),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [200, 401], "round {round}");
    }
}

#[tokio::test]
async fn forged_replayed_and_foreign_assertions_answer_401001() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("hostile@example.com").await;
    let mut authenticator = SoftAuthenticator::new();
    app.register_passkey(&user, &mut authenticator).await;

    // A tampered signature.
    let start = app
        .post(
            "/v1/auth/passkey/start",
            &json!({"email": "hostile@example.com"}),
        )
        .await
        .json;
    let mut credential = authenticator.authenticate(&start["publicKey"], ORIGIN);
    let signature = credential["response"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    // Change the first character: the decoded signature differs in its first byte.
    let first = if signature.starts_with('M') { 'N' } else { 'M' };
    let flipped = format!("{first}{}", &signature[1..]);
    credential["response"]["signature"] = json!(flipped);
    app.post(
        "/v1/auth/passkey/finish",
        &json!({"challengeId": start["challengeId"], "credential": credential}),
    )
    .await
    .assert_problem(401001);

    // Failures are audited against the user they claimed.
    let admin = app.admin().await;
    let events = app
        .get_as(
            &admin.token,
            "/v1/audit-events?query=action:sign_in.passkey_failed",
        )
        .await;
    assert_eq!(
        events.assert_status(200)["items"][0]["subject"],
        user.id.as_str()
    );

    // Another origin.
    let start = app
        .post(
            "/v1/auth/passkey/start",
            &json!({"email": "hostile@example.com"}),
        )
        .await
        .json;
    let credential = authenticator.authenticate(&start["publicKey"], "http://localhost:9999");
    app.post(
        "/v1/auth/passkey/finish",
        &json!({"challengeId": start["challengeId"], "credential": credential}),
    )
    .await
    .assert_problem(401001);

    // A replayed challenge: the first use succeeds, the second is refused.
    let start = app
        .post(
            "/v1/auth/passkey/start",
            &json!({"email": "hostile@example.com"}),
        )
        .await
        .json;
    let credential = authenticator.authenticate(&start["publicKey"], ORIGIN);
    let body = json!({"challengeId": start["challengeId"], "credential": credential});
    app.post("/v1/auth/passkey/finish", &body)
        .await
        .assert_status(200);
    app.post("/v1/auth/passkey/finish", &body)
        .await
        .assert_problem(401001);

    // An expired challenge.
    let start = app
        .post(
            "/v1/auth/passkey/start",
            &json!({"email": "hostile@example.com"}),
        )
        .await
        .json;
    let credential = authenticator.authenticate(&start["publicKey"], ORIGIN);
    app.advance(601).await;
    app.post(
        "/v1/auth/passkey/finish",
        &json!({"challengeId": start["challengeId"], "credential": credential}),
    )
    .await
    .assert_problem(401001);

    // Another authenticator's credential for this user's challenge.
    let mut stranger = SoftAuthenticator::new();
    let other = app.sign_in("stranger@example.com").await;
    app.register_passkey(&other, &mut stranger).await;
    let start = app
        .post(
            "/v1/auth/passkey/start",
            &json!({"email": "hostile@example.com"}),
        )
        .await
        .json;
    let mut options = start["publicKey"].clone();
    options.as_object_mut().unwrap().remove("allowCredentials");
    let credential = stranger.authenticate(&options, ORIGIN);
    app.post(
        "/v1/auth/passkey/finish",
        &json!({"challengeId": start["challengeId"], "credential": credential}),
    )
    .await
    .assert_problem(401001);
}

#[tokio::test]
async fn a_failing_credential_on_a_signed_in_route_answers_400002_and_keeps_the_session() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("keep@example.com").await;
    let mut authenticator = SoftAuthenticator::new();
    let start = app
        .post_as(
            &user.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await
        .json;
    let credential = authenticator.register(&start["publicKey"], "http://localhost:9999");
    let res = app
        .post_as(
            &user.token,
            "/v1/me/passkeys/registration/finish",
            &json!({"challengeId": start["challengeId"], "credential": credential}),
        )
        .await;
    assert_eq!(
        res.assert_problem(400002)["errors"][0]["field"],
        "credential"
    );
    app.get_as(&user.token, "/v1/me").await.assert_status(200);
}

#[tokio::test]
async fn passkey_users_elevate_with_a_passkey_only() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("elev@example.com").await;
    let mut authenticator = SoftAuthenticator::new();
    let passkey = app.register_passkey(&user, &mut authenticator).await;
    // Registering is no authentication (4.2): elevate with the passkey.
    app.elevate_by_passkey(&user, &mut authenticator).await;
    app.post_as(
        &user.token,
        "/v1/me/tokens",
        &json!({"name": "a", "scopes": ["orgs:read"]}),
    )
    .await
    .assert_status(201);
    // An e-mail sign-in is not enough for a passkey user.
    let emailed = app.sign_in("elev@example.com").await;
    let res = app
        .post_as(
            &emailed.token,
            "/v1/me/tokens",
            &json!({"name": "b", "scopes": ["orgs:read"]}),
        )
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["passkey"]));
    app.post_as(
        &emailed.token,
        "/v1/auth/elevate/start",
        &json!({"method": "email-otp"}),
    )
    .await
    .assert_problem(400002);
    let start = app
        .post_as(
            &emailed.token,
            "/v1/auth/elevate/start",
            &json!({"method": "passkey"}),
        )
        .await;
    let start = start.assert_status(200).clone();
    let credential = authenticator.authenticate(&start["publicKey"], ORIGIN);
    let res = app
        .post_as(
            &emailed.token,
            "/v1/auth/elevate/finish",
            &json!({"challengeId": start["challengeId"], "credential": credential}),
        )
        .await;
    res.assert_status(200);
    app.post_as(
        &emailed.token,
        "/v1/me/tokens",
        &json!({"name": "b", "scopes": ["orgs:read"]}),
    )
    .await
    .assert_status(201);
    // Deleting needs elevation too.
    app.advance(601).await;
    let id = passkey["id"].as_str().unwrap();
    app.delete_as(&emailed.token, &format!("/v1/me/passkeys/{id}"))
        .await
        .assert_problem(403006);
}

#[tokio::test]
async fn requiring_passkeys_adds_a_second_step_to_email_sign_in() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("req@example.com").await;
    let path = "/v1/me/security/require-passkeys";
    app.post_as(&user.token, path, &json!({}))
        .await
        .assert_problem(404004);
    let mut authenticator = SoftAuthenticator::new();
    let passkey = app.register_passkey(&user, &mut authenticator).await;
    app.elevate_by_passkey(&user, &mut authenticator).await;
    let res = app.post_as(&user.token, path, &json!({})).await;
    assert_eq!(res.assert_status(200)["passkeysRequired"], true);
    app.post_as(&user.token, path, &json!({}))
        .await
        .assert_problem(400014);
    let res = app.get_as(&user.token, path).await;
    assert_eq!(res.assert_status(200)["requiredBy"], json!(["self"]));
    // The existing session keeps working.
    app.get_as(&user.token, "/v1/me/passkeys")
        .await
        .assert_status(200);

    let (challenge, code) = app.start_email_sign_in("req@example.com").await;
    let res = app.verify_code(&challenge, &code).await;
    let second = res.assert_problem(403013).clone();
    let credential = authenticator.authenticate(&second["publicKey"], ORIGIN);
    let res = app
        .post(
            "/v1/auth/passkey/finish",
            &json!({"challengeId": second["challengeId"], "credential": credential}),
        )
        .await;
    assert_eq!(res.assert_status(200)["user"]["passkeysRequired"], true);

    // The last passkey of a user who must use passkeys stays.
    let id = passkey["id"].as_str().unwrap();
    let res = app
        .delete_as(&user.token, &format!("/v1/me/passkeys/{id}"))
        .await;
    res.assert_problem(400002);
    app.delete_as(&user.token, path).await.assert_status(204);
    app.delete_as(&user.token, &format!("/v1/me/passkeys/{id}"))
        .await
        .assert_status(204);
}

#[tokio::test]
async fn a_passkey_reset_removes_passkeys_ends_sessions_and_locks_tokens() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("reset@example.com").await;
    let mut authenticator = SoftAuthenticator::new();
    app.register_passkey(&user, &mut authenticator).await;
    app.elevate_by_passkey(&user, &mut authenticator).await;
    let token = app.access_token(&user, &["orgs:read"]).await;
    app.post_as(&user.token, "/v1/me/security/require-passkeys", &json!({}))
        .await
        .assert_status(200);

    app.post(
        "/v1/auth/passkey-reset/start",
        &json!({"email": "nobody@example.com"}),
    )
    .await
    .assert_status(202);
    let res = app
        .post(
            "/v1/auth/passkey-reset/start",
            &json!({"email": "reset@example.com"}),
        )
        .await;
    res.assert_status(202);
    let code = app.last_code("reset@example.com", "passkey-reset-code");
    assert!(code.len() == 8 && code.chars().all(|c| c.is_ascii_alphanumeric()));
    app.post(
        "/v1/auth/passkey-reset/finish",
        &json!({"email": "reset@example.com", "code": "WRONG123"}),
    )
    .await
    .assert_problem(403012);
    app.post(
        "/v1/auth/passkey-reset/finish",
        &json!({"email": "nobody@example.com", "code": "WRONG123"}),
    )
    .await
    .assert_problem(403012);

    let res = app
        .post(
            "/v1/auth/passkey-reset/finish",
            &json!({"email": "reset@example.com", "code": code}),
        )
        .await;
    let grant = res.assert_status(200).clone();
    // Passkeys are still required but gone: the new session is restricted.
    assert_eq!(grant["restricted"], true);
    let restricted = grant["sessionToken"].as_str().unwrap();
    app.get_as(&user.token, "/v1/me")
        .await
        .assert_problem(401001);
    app.get_as(&token, "/v1/me").await.assert_problem(403002);
    app.last_mail("reset@example.com", "passkey-reset");

    // A restricted session may read itself and register a passkey, nothing else.
    app.get_as(restricted, "/v1/me").await.assert_status(200);
    let res = app.get_as(restricted, "/v1/me/sessions").await;
    let body = res.assert_problem(403013);
    assert!(body.get("challengeId").is_none());
    app.get("/v1/terms/current").await.assert_problem(404003);
    let mut fresh = SoftAuthenticator::new();
    let new_user = User {
        token: restricted.to_string(),
        ..user.clone()
    };
    app.register_passkey(&new_user, &mut fresh).await;
    // The new passkey signs in; what existed at the reset stays dead (4.3).
    let res = app
        .passkey_sign_in(Some("reset@example.com"), &mut fresh)
        .await;
    let signed_in = res.assert_status(200)["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    app.get_as(&signed_in, "/v1/me").await.assert_status(200);
    app.get_as(&token, "/v1/me").await.assert_problem(403002);
    app.get_as(&user.token, "/v1/me")
        .await
        .assert_problem(401001);
}

#[tokio::test]
async fn five_wrong_reset_codes_lock_the_address() {
    let app = TestApp::spawn().await;
    app.sign_in("lockreset@example.com").await;
    app.post(
        "/v1/auth/passkey-reset/start",
        &json!({"email": "lockreset@example.com"}),
    )
    .await
    .assert_status(202);
    let code = app.last_code("lockreset@example.com", "passkey-reset-code");
    for _ in 0..5 {
        app.post(
            "/v1/auth/passkey-reset/finish",
            &json!({"email": "lockreset@example.com", "code": "AAAAAAAA"}),
        )
        .await
        .assert_problem(403012);
    }
    let res = app
        .post(
            "/v1/auth/passkey-reset/finish",
            &json!({"email": "lockreset@example.com", "code": code}),
        )
        .await;
    assert!(res.assert_problem(403005)["lockedUntil"].is_string());
}
