//! Stolen sessions: passkey registration, locks, cached answers.

use serde_json::json;

use crate::soft_passkey::SoftAuthenticator;
use crate::support::{TestApp, User};

const ELEVATION_WINDOW: i64 = 600;

/// A stolen session past its elevation window cannot register a passkey of its own.
#[tokio::test]
async fn a_stolen_session_cannot_register_its_own_passkey() {
    let app = TestApp::spawn().await;
    let victim = app.sign_in("victim@example.com").await;
    app.advance(ELEVATION_WINDOW + 1).await;
    let res = app
        .post_as(
            &victim.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["email-otp"]));

    // A user with a passkey must prove it with a passkey, not a mailed code.
    app.elevate_by_email(&victim).await;
    let mut own = SoftAuthenticator::new();
    app.register_passkey(&victim, &mut own).await;
    app.advance(ELEVATION_WINDOW + 1).await;
    let res = app
        .post_as(
            &victim.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["passkey"]));
}

/// Registering is not an authentication: it neither elevates nor counts as a passkey sign-in.
#[tokio::test]
async fn registering_a_passkey_does_not_elevate_the_session() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("register@example.com").await;
    let mut authenticator = SoftAuthenticator::new();
    // Elevated by the e-mail sign-in itself; now the user has a passkey, so only a passkey
    // authentication would count, and registering it was none.
    app.register_passkey(&user, &mut authenticator).await;
    let res = app
        .post_as(
            &user.token,
            "/v1/me/tokens",
            &json!({"name": "t", "scopes": ["orgs:read"]}),
        )
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["passkey"]));
    // The passkey itself works for elevation and sign-in.
    app.passkey_sign_in(Some("register@example.com"), &mut authenticator)
        .await
        .assert_status(200);
}

/// A restricted session may always register (it exists for that), but registering only lifts
/// the restriction.
#[tokio::test]
async fn a_restricted_session_registers_without_elevation_and_stays_unelevated() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("restricted@example.com").await;
    let mut first = SoftAuthenticator::new();
    app.register_passkey(&user, &mut first).await;
    app.post_as(&user.token, "/v1/me/security/require-passkeys", &json!({}))
        .await
        .assert_problem(403006);
    let signed_in = app
        .passkey_sign_in(Some("restricted@example.com"), &mut first)
        .await;
    let session = signed_in.assert_status(200)["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_as(&session, "/v1/me/security/require-passkeys", &json!({}))
        .await
        .assert_status(200);
    // The reset leaves passkeys required and none registered: a restricted session.
    app.post(
        "/v1/auth/passkey-reset/start",
        &json!({"email": "restricted@example.com"}),
    )
    .await
    .assert_status(202);
    let code = app.last_code("restricted@example.com", "passkey-reset-code");
    let grant = app
        .post(
            "/v1/auth/passkey-reset/finish",
            &json!({"email": "restricted@example.com", "code": code}),
        )
        .await;
    let grant = grant.assert_status(200).clone();
    assert_eq!(grant["restricted"], true);
    let restricted = User {
        token: grant["sessionToken"].as_str().unwrap().to_string(),
        ..user.clone()
    };
    app.advance(ELEVATION_WINDOW + 1).await;
    let mut fresh = SoftAuthenticator::new();
    app.register_passkey(&restricted, &mut fresh).await;
    // No longer restricted, and not elevated by the registration.
    app.get_as(&restricted.token, "/v1/me/sessions")
        .await
        .assert_status(200);
    let res = app
        .post_as(
            &restricted.token,
            "/v1/me/tokens",
            &json!({"name": "t", "scopes": ["orgs:read"]}),
        )
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["passkey"]));
}

/// Answers holding tokens or personal data are never stored by a cache (section 2).
#[tokio::test]
async fn private_answers_are_not_stored() {
    let app = TestApp::spawn().await;
    let (challenge, code) = app.start_email_sign_in("cache@example.com").await;
    let grant = app.verify_code(&challenge, &code).await;
    assert_eq!(grant.header("cache-control"), Some("no-store"));
    let token = grant.json["sessionToken"].as_str().unwrap().to_string();
    for path in ["/v1/me", "/v1/me/sessions", "/v1/orgs"] {
        let res = app.get_as(&token, path).await;
        assert_eq!(res.header("cache-control"), Some("no-store"), "{path}");
    }
    // Refusals of private routes too, and the e-mail code start.
    let res = app.get("/v1/me").await;
    res.assert_problem(401001);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let res = app
        .post(
            "/v1/auth/email-otp/start",
            &json!({"email": "x@example.com"}),
        )
        .await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
    // Public documents may be cached.
    let res = app.get("/v1/errors").await;
    assert_eq!(res.header("cache-control"), None);
}

/// Once the user has a passkey, no session registers another without its proof: not even a
/// second restricted session left open on another device.
#[tokio::test]
async fn a_second_restricted_session_needs_the_new_passkey_to_register() {
    let app = TestApp::spawn().await;
    let (user, _) = app.passkey_user("two@example.com").await;
    app.post_as(&user.token, "/v1/me/security/require-passkeys", &json!({}))
        .await
        .assert_status(200);
    let one = app.reset_passkeys(&user).await;
    let (challenge, code) = app.start_email_sign_in(&user.email).await;
    let two = app.verify_code(&challenge, &code).await;
    assert_eq!(two.assert_status(200)["restricted"], true);
    let two = User {
        token: two.json["sessionToken"].as_str().unwrap().into(),
        ..user.clone()
    };
    app.register_passkey(&one, &mut SoftAuthenticator::new())
        .await;
    let res = app
        .post_as(&two.token, "/v1/me/passkeys/registration/start", &json!({}))
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["passkey"]));
}

/// A token minted by a session that is older than a lock is held like its session, even when
/// the mint committed after the lock's instant (a request in flight while the lock commits).
#[tokio::test]
async fn a_token_made_by_a_session_older_than_a_lock_is_held() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("lineage@example.com").await;
    app.advance(60).await;
    let token = app.access_token(&user, &["orgs:read"]).await;
    let lock_at = app.state.clock.now().micros() - 30 * 1_000_000;
    sqlx::query("UPDATE users SET locked_at = $2 WHERE id = $1")
        .bind(&user.id)
        .bind(lock_at)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.get_as(&token, "/v1/me").await.assert_problem(403002);
}
