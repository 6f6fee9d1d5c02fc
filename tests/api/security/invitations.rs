//! A hostile organization member: invitations that outlive their inviter's right.

use serde_json::json;

use crate::support::{TestApp, User};

async fn invitation(app: &TestApp, inviter: &User, org: &str, email: &str, role: &str) -> String {
    let res = app
        .post_as(
            &inviter.token,
            &format!("/v1/orgs/{org}/invitations"),
            &json!({"email": email, "role": role}),
        )
        .await;
    res.assert_status(201)["id"].as_str().unwrap().to_string()
}

async fn accept(app: &TestApp, invitee: &User, id: &str) -> crate::support::Res {
    app.post_as(
        &invitee.token,
        &format!("/v1/invitations/{id}/accept"),
        &json!({}),
    )
    .await
}

/// An invitation does not outlive its inviter's right to invite at its role (5).
#[tokio::test]
async fn invitations_end_with_the_inviters_right_to_make_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("o@example.com").await;
    let org = crate::orgs::create_org(&app, &owner, "Org").await;
    let second = app.sign_in("second@example.com").await;
    let admin = app.sign_in("admin@example.com").await;
    let leaver = app.sign_in("leaver@example.com").await;
    crate::orgs::add_member(&app, &org, &second, "owner").await;
    crate::orgs::add_member(&app, &org, &admin, "admin").await;
    crate::orgs::add_member(&app, &org, &leaver, "admin").await;
    let invitees: Vec<User> = futures_join(&app, &["a", "b", "c", "d", "e"]).await;
    let as_owner = invitation(&app, &second, &org, &invitees[0].email, "owner").await;
    let as_member = invitation(&app, &second, &org, &invitees[1].email, "member").await;
    let by_admin = invitation(&app, &admin, &org, &invitees[2].email, "admin").await;
    let by_leaver = invitation(&app, &leaver, &org, &invitees[3].email, "member").await;
    let kept = invitation(&app, &owner, &org, &invitees[4].email, "admin").await;

    // An owner made admin can no longer invite owners; an admin made billing invites no one.
    for (user, role) in [(&second, "admin"), (&admin, "billing")] {
        app.patch_as(
            &owner.token,
            &format!("/v1/orgs/{org}/members/{}", user.id),
            &json!({ "role": role }),
        )
        .await
        .assert_status(200);
    }
    app.delete_as(
        &leaver.token,
        &format!("/v1/orgs/{org}/members/{}", leaver.id),
    )
    .await
    .assert_status(204);
    for (invitee, id) in [(0, &as_owner), (2, &by_admin), (3, &by_leaver)] {
        accept(&app, &invitees[invitee], id)
            .await
            .assert_problem(404003);
    }
    accept(&app, &invitees[1], &as_member)
        .await
        .assert_status(200);
    accept(&app, &invitees[4], &kept).await.assert_status(200);
}

async fn futures_join(app: &TestApp, names: &[&str]) -> Vec<User> {
    let mut users = Vec::new();
    for name in names {
        users.push(app.sign_in(&format!("{name}@invitee.example")).await);
    }
    users
}
