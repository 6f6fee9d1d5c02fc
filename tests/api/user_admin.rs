//! Editing users (6): `PATCH /v1/users/{userId}` — its rules, its order of checks (the e-mail
//! change is elevated for sessions, never for access tokens), audit and notice.

use serde_json::json;

use crate::support::TestApp;

const ELEVATION_WINDOW: i64 = 600;

#[tokio::test]
async fn administrators_edit_a_users_address_and_name() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.post_as(
        &admin.token,
        "/v1/users",
        &json!({"id": "ann.1", "email": "ann@example.com", "displayName": "Ann"}),
    )
    .await
    .assert_status(201);

    let res = app
        .patch_as(
            &admin.token,
            "/v1/users/ann.1",
            &json!({"email": " Ann.New@Example.com ", "displayName": "Ann Smith"}),
        )
        .await;
    let user = res.assert_status(200);
    assert_eq!(user["email"], "ann.new@example.com");
    assert_eq!(user["displayName"], "Ann Smith");
    assert_eq!(
        app.get_as(&admin.token, "/v1/users/ann.1").await.json["email"],
        "ann.new@example.com"
    );
    // The old address is told, as after a change of one's own (4.6).
    let notice = app.last_mail("ann@example.com", "email-changed");
    assert!(
        notice["text"]
            .as_str()
            .unwrap()
            .contains("ann.new@example.com"),
        "{notice}"
    );
    // The new address signs in to the same account; the old one would make a new account.
    let signed_in = app.sign_in("ann.new@example.com").await;
    assert_eq!(signed_in.id, "ann.1");

    // `null` or empty clears the name; an absent member keeps it; no change, no event.
    let res = app
        .patch_as(
            &admin.token,
            "/v1/users/ann.1",
            &json!({"displayName": null}),
        )
        .await;
    assert!(res.assert_status(200)["displayName"].is_null());
    let res = app
        .patch_as(&admin.token, "/v1/users/ann.1", &json!({}))
        .await;
    assert_eq!(res.assert_status(200)["email"], "ann.new@example.com");

    let events = app
        .get_as(
            &admin.token,
            "/v1/audit-events?query=action:user.updated&limit=100",
        )
        .await;
    let events = events.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 2, "{events:?}");
    let (last, first) = (&events[0], &events[1]);
    assert_eq!(first["subject"], "ann.1");
    assert_eq!(first["actor"], admin.id);
    assert_eq!(first["details"]["fields"], json!(["email", "displayName"]));
    assert_eq!(first["details"]["from"], "ann@example.com");
    assert_eq!(first["details"]["to"], "ann.new@example.com");
    assert_eq!(last["details"], json!({"fields": ["displayName"]}));
}

#[tokio::test]
async fn an_edit_breaking_a_rule_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for (id, email) in [("ann.1", "ann@example.com"), ("bob.1", "bob@example.com")] {
        app.post_as(
            &admin.token,
            "/v1/users",
            &json!({"id": id, "email": email, "displayName": "Someone"}),
        )
        .await
        .assert_status(201);
    }
    // Another account's address, however it is written: 400006.
    app.patch_as(
        &admin.token,
        "/v1/users/ann.1",
        &json!({"email": " BOB@example.com", "displayName": "Changed"}),
    )
    .await
    .assert_problem(400006);
    // Malformed values: 400002 naming each field.
    let res = app
        .patch_as(
            &admin.token,
            "/v1/users/ann.1",
            &json!({"email": "not an address", "displayName": "bad\u{202E}name"}),
        )
        .await;
    let fields: Vec<&str> = res.assert_problem(400002)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "displayName"]);
    for body in [
        json!({"email": null}),
        json!({"displayName": "x".repeat(101)}),
        json!({"nickname": "Ann"}),
    ] {
        app.patch_as(&admin.token, "/v1/users/ann.1", &body)
            .await
            .assert_problem(400002);
    }
    app.patch_as(&admin.token, "/v1/users/ann.1", &json!({"email": 5}))
        .await
        .assert_problem(400001);
    // An unknown user: 404001, before the body is looked at.
    app.patch_as(&admin.token, "/v1/users/nobody", &json!({"email": 5}))
        .await
        .assert_problem(404001);

    let ann = app.get_as(&admin.token, "/v1/users/ann.1").await;
    let ann = ann.assert_status(200);
    assert_eq!(
        (ann["email"].as_str(), ann["displayName"].as_str()),
        (Some("ann@example.com"), Some("Someone"))
    );
    let events = app
        .get_as(&admin.token, "/v1/audit-events?query=action:user.updated")
        .await;
    assert_eq!(events.assert_status(200)["total"], 0);
}

#[tokio::test]
async fn changing_the_address_needs_an_elevated_session_but_not_for_a_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let root = app.root_token().await;
    app.post_as(
        &admin.token,
        "/v1/users",
        &json!({"id": "ann.1", "email": "ann@example.com"}),
    )
    .await
    .assert_status(201);
    app.advance(ELEVATION_WINDOW + 60).await;

    let res = app
        .patch_as(
            &admin.token,
            "/v1/users/ann.1",
            &json!({"email": "ann2@example.com"}),
        )
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["email-otp"]));
    // Elevation (step 7) comes before the values are checked (step 8).
    app.patch_as(
        &admin.token,
        "/v1/users/ann.1",
        &json!({"email": "not an address"}),
    )
    .await
    .assert_problem(403006);
    // Whether the address changes is known only once the body parses: a body that does not
    // parse is answered first.
    let res = app
        .patch_as(
            &admin.token,
            "/v1/users/ann.1",
            &json!({"email": "ann2@example.com", "nickname": "A"}),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    // The current address (however written) and the name are no change of address.
    let res = app
        .patch_as(
            &admin.token,
            "/v1/users/ann.1",
            &json!({"email": "ANN@example.com", "displayName": "Ann"}),
        )
        .await;
    assert_eq!(res.assert_status(200)["displayName"], "Ann");

    // An access token with `users:write` is never elevated and needs not be.
    let res = app
        .patch_as(
            &root,
            "/v1/users/ann.1",
            &json!({"email": "ann2@example.com"}),
        )
        .await;
    assert_eq!(res.assert_status(200)["email"], "ann2@example.com");

    app.elevate_by_email(&admin).await;
    let res = app
        .patch_as(
            &admin.token,
            "/v1/users/ann.1",
            &json!({"email": "ann3@example.com"}),
        )
        .await;
    assert_eq!(res.assert_status(200)["email"], "ann3@example.com");
}

#[tokio::test]
async fn only_platform_administrators_with_users_write_edit_or_erase_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("user@example.com").await;
    let user_token = app.access_token(&user, &["users:write"]).await;
    let reader = app.access_token(&admin, &["users:read"]).await;
    let path = format!("/v1/users/{}", user.id);
    let body = json!({"displayName": "Renamed"});

    app.patch_as(&user.token, &path, &body)
        .await
        .assert_problem(403001);
    app.patch_as(&user_token, &path, &body)
        .await
        .assert_problem(403001);
    app.delete_as(&user.token, &path)
        .await
        .assert_problem(403001);
    app.delete_as(&user_token, &path)
        .await
        .assert_problem(403001);
    // Nor may they erase anyone else.
    app.delete_as(&user.token, &format!("/v1/users/{}", admin.id))
        .await
        .assert_problem(403001);
    let res = app.patch_as(&reader, &path, &body).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "users:write");
    let res = app.delete_as(&reader, &path).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "users:write");
    app.patch_as(&admin.token, "/v1/users/nobody", &body)
        .await
        .assert_problem(404001);

    // Nothing changed, nobody erased.
    let res = app.get_as(&admin.token, &path).await;
    assert!(res.assert_status(200)["displayName"].is_null());
    app.get_as(&user.token, "/v1/me").await.assert_status(200);
}
