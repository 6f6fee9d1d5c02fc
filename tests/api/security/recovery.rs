//! A mailbox taken over: the recovery hold (4.5).

use serde_json::json;

use crate::soft_passkey::SoftAuthenticator;
use crate::support::TestApp;

/// A mailbox alone does not open an organization that requires passkeys: after a reset the
/// user is held out for 24 h (403005) and its owners are told; an owner may end the hold.
#[tokio::test]
async fn a_reset_by_mailbox_is_held_out_of_organizations_that_require_passkeys() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (owner, _) = app.passkey_user("owner@example.com").await;
    let (member, _) = app.passkey_user("member@example.com").await;
    let shared = app.org(&owner).name("Shared").create().await.id;
    app.add_member(&shared, &member, "member").await;
    app.require_org_passkeys(&owner, &shared).await;
    // The member is the only owner of a second such organization.
    let own = app.org(&member).name("Own").create().await.id;
    app.require_org_passkeys(&member, &own).await;
    let plain = app.org(&member).name("Plain").create().await.id;

    // The attacker holds the mailbox: reset, then register a passkey of their own.
    let thief = app.reset_passkeys(&member).await;
    app.register_passkey(&thief, &mut SoftAuthenticator::new())
        .await;
    for org in [&shared, &own] {
        let res = app.get_as(&thief.token, &format!("/v1/orgs/{org}")).await;
        assert!(res.assert_problem(403005)["lockedUntil"].is_string());
        assert!(res.header("retry-after").is_some());
        // Before any role check: a write the role could not do is held too.
        app.delete_as(&thief.token, &format!("/v1/orgs/{org}"))
            .await
            .assert_problem(403005);
    }
    app.get_as(&thief.token, &format!("/v1/orgs/{plain}"))
        .await
        .assert_status(200);
    let told = app.last_mail("owner@example.com", "member-recovered");
    assert_eq!(told["data"]["organization"], "Shared");
    let told = app.last_mail(&admin.email, "member-recovered");
    assert_eq!(told["data"]["organization"], "Own");

    // Ending the hold: owners only, elevated; then the member is back.
    let hold = format!("/v1/orgs/{shared}/members/{}/recovery-hold", member.id);
    app.delete_as(&owner.token, &hold).await.assert_status(204);
    app.get_as(&thief.token, &format!("/v1/orgs/{shared}"))
        .await
        .assert_status(200);
    app.delete_as(&owner.token, &hold)
        .await
        .assert_problem(404003);
    app.delete_as(&thief.token, &hold)
        .await
        .assert_problem(403010);
    // The other hold ends by itself after recovery_hold_secs.
    app.advance(24 * 3600 + 1).await;
    app.get_as(&thief.token, &format!("/v1/orgs/{own}"))
        .await
        .assert_status(200);
}

/// A platform administrator recovered by mailbox is held out of the operator routes too.
#[tokio::test]
async fn a_recovered_platform_administrator_is_held_out_of_the_operator_routes() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.get_as(&admin.token, "/v1/users")
        .await
        .assert_status(200);
    let recovered = app.reset_passkeys(&admin).await;
    let res = app.get_as(&recovered.token, "/v1/users").await;
    assert!(res.assert_problem(403005)["lockedUntil"].is_string());
    app.get_as(&recovered.token, "/v1/audit-events")
        .await
        .assert_problem(403005);
    // Every administrator route holds, the catalogue too (no coupons from a taken mailbox).
    app.post_as(
        &recovered.token,
        "/v1/coupons",
        &json!({"code": "FREE", "percentOff": 100}),
    )
    .await
    .assert_problem(403005);
    app.advance(24 * 3600 + 1).await;
    app.get_as(&recovered.token, "/v1/users")
        .await
        .assert_status(200);
}

/// The hold is decided when a route is called: an invitation the thief accepts, or a policy an
/// owner turns on, during the hold does not open the organization.
#[tokio::test]
async fn a_membership_or_policy_that_begins_during_the_hold_is_held_too() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.passkey_user("owner@example.com").await;
    let (member, _) = app.passkey_user("member@example.com").await;
    let strict = app.org(&owner).name("Strict").create().await.id;
    app.require_org_passkeys(&owner, &strict).await;
    let relaxed = app.org(&owner).name("Relaxed").create().await.id;
    app.add_member(&relaxed, &member, "member").await;
    let invitation = app
        .invitation(&owner, &strict, &member.email, "admin")
        .create()
        .await;

    let thief = app.reset_passkeys(&member).await;
    app.accept_invitation(&thief, &invitation)
        .await
        .assert_status(200);
    app.get_as(&thief.token, &format!("/v1/orgs/{strict}/members"))
        .await
        .assert_problem(403005);
    app.get_as(&thief.token, &format!("/v1/orgs/{relaxed}"))
        .await
        .assert_status(200);
    app.require_org_passkeys(&owner, &relaxed).await;
    app.get_as(&thief.token, &format!("/v1/orgs/{relaxed}"))
        .await
        .assert_problem(403005);
}
