//! The security review's findings (issue 10), each as the attack that worked before its fix.

mod abuse;
mod invitations;
mod recovery;
mod secrets;
mod sessions;

use serde_json::json;

use crate::passkeys::register;
use crate::soft_passkey::SoftAuthenticator;
use crate::support::{TestApp, User};

/// Signs in, registers a passkey and elevates with it; returns the user and the authenticator.
pub(crate) async fn passkey_user(app: &TestApp, email: &str) -> (User, SoftAuthenticator) {
    let user = app.sign_in(email).await;
    let mut authenticator = SoftAuthenticator::new();
    register(app, &user, &mut authenticator).await;
    crate::passkeys::elevate_by_passkey(app, &user, &mut authenticator).await;
    (user, authenticator)
}

pub(crate) async fn require_org_passkeys(app: &TestApp, owner: &User, org: &str) {
    app.post_as(
        &owner.token,
        &format!("/v1/orgs/{org}/security/require-passkeys"),
        &json!({}),
    )
    .await
    .assert_status(200);
}

/// A passkey reset by mailbox; returns the (restricted) session of the reset.
pub(crate) async fn reset_passkeys(app: &TestApp, user: &User) -> User {
    app.post(
        "/v1/auth/passkey-reset/start",
        &json!({"email": user.email}),
    )
    .await
    .assert_status(202);
    let code = app.last_code(&user.email, "passkey-reset-code");
    let grant = app
        .post(
            "/v1/auth/passkey-reset/finish",
            &json!({"email": user.email, "code": code}),
        )
        .await;
    User {
        token: grant.assert_status(200)["sessionToken"]
            .as_str()
            .unwrap()
            .to_string(),
        ..user.clone()
    }
}
