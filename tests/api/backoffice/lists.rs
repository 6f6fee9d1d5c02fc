//! The back-office's finding aids: every organization (`GET /v1/admin/orgs`, with `query`)
//! and one user's organizations (`GET /v1/users/{userId}/orgs`).

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn administrators_list_every_organization_with_a_query() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let a = app.sign_in("a@example.com").await;
    let b = app.sign_in("b@example.com").await;
    let alpha = app.org(&a).name("Alpha").country("DE").create().await.id;
    app.advance(86_400).await;
    let beta = app
        .org(&b)
        .name("Beta GmbH")
        .country("FR")
        .create()
        .await
        .id;
    let gamma = app.org(&b).name("Gamma").country("DE").create().await.id;

    let all = app.get_as(&admin.token, "/v1/admin/orgs").await;
    let all = all.assert_status(200);
    assert_eq!(all["total"], 3);
    let ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [gamma.as_str(), beta.as_str(), alpha.as_str()],
        "newest first"
    );
    // The items are the organizations as `GET /v1/orgs/{orgId}` shows them, with `deletedAt`.
    let one = app.get_as(&a.token, &format!("/v1/orgs/{alpha}")).await;
    let mut expected = one.assert_status(200).clone();
    expected["deletedAt"] = json!(null);
    assert_eq!(all["items"][2], expected);

    let ids_of = |res: &crate::support::Res| -> Vec<String> {
        res.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    let res = app
        .get_as(&admin.token, "/v1/admin/orgs?query=country:DE")
        .await;
    assert_eq!(ids_of(&res), [gamma.as_str(), alpha.as_str()]);
    let res = app
        .get_as(&admin.token, "/v1/admin/orgs?query=name:%22Beta%20GmbH%22")
        .await;
    assert_eq!(ids_of(&res), [beta.as_str()]);
    let res = app
        .get_as(
            &admin.token,
            "/v1/admin/orgs?query=country:DE%20AND%20createdAt%3C2000-01-01%20OR%20name:Alpha",
        )
        .await;
    assert_eq!(ids_of(&res), [alpha.as_str()]);
    let day = app.state.clock.now().minus_seconds(3_600);
    let res = app
        .get_as(
            &admin.token,
            &format!(
                "/v1/admin/orgs?query=createdAt%3E={}",
                day.to_string().replace('+', "%2B")
            ),
        )
        .await;
    assert_eq!(ids_of(&res), [gamma.as_str(), beta.as_str()]);
    let res = app
        .get_as(&admin.token, "/v1/admin/orgs?from=1&limit=1")
        .await;
    let page = res.assert_status(200);
    assert_eq!(
        (page["total"].as_i64(), page["items"][0]["id"].as_str()),
        (Some(3), Some(beta.as_str()))
    );

    let res = app
        .get_as(&admin.token, "/v1/admin/orgs?query=createdAt%3E%3E1")
        .await;
    assert_eq!(res.assert_problem(400015)["position"], 10);
    let res = app
        .get_as(&admin.token, "/v1/admin/orgs?query=owner:x")
        .await;
    assert_eq!(res.assert_problem(400015)["position"], 0);
    let res = app
        .get_as(&admin.token, "/v1/admin/orgs?query=name%3EA")
        .await;
    assert_eq!(res.assert_problem(400015)["position"], 4);
    // `from` and `limit` are checked before the query.
    app.get_as(&admin.token, "/v1/admin/orgs?from=-1&query=nope:1")
        .await
        .assert_problem(400003);

    app.get_as(&a.token, "/v1/admin/orgs")
        .await
        .assert_problem(403001);
    let token = app.access_token(&admin, &["orgs:read"]).await;
    let res = app.get_as(&token, "/v1/admin/orgs").await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "admin");
    let token = app.access_token(&admin, &["admin"]).await;
    assert_eq!(
        app.get_as(&token, "/v1/admin/orgs")
            .await
            .assert_status(200)["total"],
        3
    );

    // A deleted organization stays listed, marked, so its records can be found.
    app.delete_as(&a.token, &format!("/v1/orgs/{alpha}"))
        .await
        .assert_status(204);
    let res = app
        .get_as(&admin.token, "/v1/admin/orgs?query=name:Alpha")
        .await;
    let deleted = &res.assert_status(200)["items"][0];
    assert_eq!(deleted["id"], alpha.as_str());
    assert!(deleted["deletedAt"].is_string(), "{deleted}");
}

#[tokio::test]
async fn administrators_list_the_organizations_of_a_user() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let owner = app.sign_in("owner@example.com").await;
    let user = app.sign_in("user@example.com").await;
    let first = app
        .org(&owner)
        .name("First")
        .member(&user, "billing")
        .create()
        .await
        .id;
    app.advance(60).await;
    let second = app.org(&user).name("Second").create().await.id;
    app.org(&owner).name("Not hers").create().await;

    let res = app
        .get_as(&admin.token, &format!("/v1/users/{}/orgs", user.id))
        .await;
    let page = res.assert_status(200);
    assert_eq!(page["total"], 2);
    assert_eq!(
        page["items"],
        json!([
            {"orgId": second, "name": "Second", "role": "owner"},
            {"orgId": first, "name": "First", "role": "billing"},
        ])
    );
    let res = app
        .get_as(
            &admin.token,
            &format!("/v1/users/{}/orgs?limit=1&from=1", user.id),
        )
        .await;
    assert_eq!(res.assert_status(200)["items"][0]["orgId"], first.as_str());
    let res = app
        .get_as(&admin.token, &format!("/v1/users/{}/orgs", admin.id))
        .await;
    assert_eq!(res.assert_status(200)["total"], 0);

    app.get_as(&admin.token, "/v1/users/nobody/orgs")
        .await
        .assert_problem(404001);
    app.get_as(&user.token, &format!("/v1/users/{}/orgs", user.id))
        .await
        .assert_problem(403001);
    let token = app.access_token(&admin, &["orgs:read", "admin"]).await;
    let res = app
        .get_as(&token, &format!("/v1/users/{}/orgs", user.id))
        .await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "users:read");
    let token = app.access_token(&admin, &["users:read"]).await;
    app.get_as(&token, &format!("/v1/users/{}/orgs", user.id))
        .await
        .assert_status(200);
}

/// Both lists are back-office reads: each call writes one `backoffice.read` event, actor the
/// administrator, subject the user whose organizations are listed (none for every
/// organization), before the list is read, so a call is on record whatever it then answers;
/// a call refused before (not an administrator, an unknown user) records nothing.
#[tokio::test]
async fn each_list_call_is_on_record_as_a_backoffice_read() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("user@example.com").await;
    let org = app.org(&user).name("Hers").create().await.id;

    let res = app
        .req(reqwest::Method::GET, "/v1/admin/orgs?query=name:Hers")
        .token(&admin.token)
        .header("x-request-id", "find-1")
        .send()
        .await;
    assert_eq!(res.assert_status(200)["items"][0]["id"], org.as_str());
    let path = format!("/v1/users/{}/orgs", user.id);
    let res = app
        .req(reqwest::Method::GET, &format!("{path}?limit=5"))
        .token(&admin.token)
        .header("x-request-id", "find-2")
        .send()
        .await;
    assert_eq!(res.assert_status(200)["total"], 1);

    let events = super::audit(&app, "backoffice.read", &admin.id).await;
    assert_eq!(events.len(), 2, "one event per call: {events:?}");
    let of_request = |events: &[serde_json::Value], id: &str| {
        events
            .iter()
            .find(|e| e["requestId"] == id)
            .unwrap_or_else(|| panic!("no event of {id}: {events:?}"))
            .clone()
    };
    let all = &of_request(&events, "find-1");
    assert_eq!(
        (&all["actor"], &all["subject"], &all["requestId"]),
        (&json!(admin.id), &json!(null), &json!("find-1"))
    );
    assert_eq!(
        all["details"],
        json!({"method": "GET", "route": "/v1/admin/orgs", "path": "/v1/admin/orgs"})
    );
    assert!(all["sourceAddress"].as_str().is_some_and(|a| !a.is_empty()));
    let hers = &of_request(&events, "find-2");
    assert_eq!(
        (&hers["actor"], &hers["subject"], &hers["requestId"]),
        (&json!(admin.id), &json!(user.id), &json!("find-2"))
    );
    assert_eq!(
        hers["details"],
        json!({"method": "GET", "route": "/v1/users/{userId}/orgs", "path": path})
    );

    // A query the list refuses: the call is on record (without its query string).
    app.req(reqwest::Method::GET, "/v1/admin/orgs?query=owner:x")
        .token(&admin.token)
        .header("x-request-id", "find-3")
        .send()
        .await
        .assert_problem(400015);
    let events = super::audit(&app, "backoffice.read", &admin.id).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        of_request(&events, "find-3")["details"]["path"],
        "/v1/admin/orgs"
    );
    // Refused before the call is admitted: nothing on record.
    app.get_as(&admin.token, "/v1/users/nobody/orgs")
        .await
        .assert_problem(404001);
    app.get_as(&user.token, "/v1/admin/orgs")
        .await
        .assert_problem(403001);
    let events = super::audit(&app, "backoffice.read", &admin.id).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        super::audit(&app, "backoffice.read", &user.id)
            .await
            .is_empty()
    );
}
