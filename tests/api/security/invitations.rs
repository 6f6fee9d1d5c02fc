//! A hostile organization member: invitations that outlive their inviter's right.

use serde_json::json;

use crate::support::TestApp;

/// An invitation does not outlive its inviter's right to invite at its role (5).
#[tokio::test]
async fn invitations_end_with_the_inviters_right_to_make_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("o@example.com").await;
    let org = app.org(&owner).name("Org").create().await.id;
    let second = app.sign_in("second@example.com").await;
    let admin = app.sign_in("admin@example.com").await;
    let leaver = app.sign_in("leaver@example.com").await;
    app.add_member(&org, &second, "owner").await;
    app.add_member(&org, &admin, "admin").await;
    app.add_member(&org, &leaver, "admin").await;
    let invitees = app
        .sign_in_all(&[
            "a@invitee.example",
            "b@invitee.example",
            "c@invitee.example",
            "d@invitee.example",
            "e@invitee.example",
        ])
        .await;
    let as_owner = app
        .invitation(&second, &org, &invitees[0].email, "owner")
        .create()
        .await;
    let as_member = app
        .invitation(&second, &org, &invitees[1].email, "member")
        .create()
        .await;
    let by_admin = app
        .invitation(&admin, &org, &invitees[2].email, "admin")
        .create()
        .await;
    let by_leaver = app
        .invitation(&leaver, &org, &invitees[3].email, "member")
        .create()
        .await;
    let kept = app
        .invitation(&owner, &org, &invitees[4].email, "admin")
        .create()
        .await;

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
        app.accept_invitation(&invitees[invitee], id)
            .await
            .assert_problem(404003);
    }
    app.accept_invitation(&invitees[1], &as_member)
        .await
        .assert_status(200);
    app.accept_invitation(&invitees[4], &kept)
        .await
        .assert_status(200);
}
