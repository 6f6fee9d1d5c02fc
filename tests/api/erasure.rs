//! Erasure (6): `DELETE /v1/users/{userId}` and `DELETE /v1/me`. What goes (credentials,
//! memberships, invitations, the address and name wherever they were copied), what stays (the
//! id, as a pseudonym), who may erase, and the last owner's refusal — also under races.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, User};

mod outbox;
mod races;

const ELEVATION_WINDOW: i64 = 600;

/// `POST` with an `Idempotency-Key`.
async fn post_keyed(app: &TestApp, token: &str, path: &str, key: &str, body: &Value) -> Value {
    let res = app
        .req(Method::POST, path)
        .token(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await;
    res.assert_status(201).clone()
}

async fn all_audit_events(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get_as(token, "/v1/audit-events?limit=100").await;
    let page = res.assert_status(200);
    assert!(page["total"].as_i64().unwrap() <= 100, "more than a page");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn erasing_a_user_leaves_the_id_and_no_trace_of_the_person() {
    let app = TestApp::spawn().await;
    let (root_id, root) = app.admin_token("root@example.com").await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).create().await.id;
    let invitations = format!("/v1/orgs/{org}/invitations");

    // Copies of the address and name in stored answers: the administrator's creation, ban,
    // suspension and lock, and the owner's invitation, all under idempotency keys. The name
    // then changes, so those answers hold one the person no longer has.
    let create =
        json!({"id": "vic.1", "email": "vic@example.com", "displayName": "Oldname Person"});
    post_keyed(&app, &root, "/v1/users", "create-vic", &create).await;
    let standing = [
        ("ban", json!({"reason": "checking"})),
        (
            "suspend",
            json!({"until": "2999-01-01T00:00:00Z", "reason": "checking"}),
        ),
        ("lock", json!({})),
    ];
    for (action, body) in &standing {
        let path = format!("/v1/users/vic.1/{action}");
        let res = app
            .req(Method::POST, &path)
            .token(&root)
            .header("Idempotency-Key", &format!("{action}-vic"))
            .json(body)
            .send()
            .await;
        assert_eq!(res.assert_status(200)["displayName"], "Oldname Person");
        if *action != "lock" {
            app.delete_as(&root, &path).await.assert_status(204);
        }
    }
    app.patch_as(&root, "/v1/users/vic.1", &json!({"displayName": "Vic Tim"}))
        .await
        .assert_status(200);
    let invite = json!({"email": "vic@example.com", "role": "admin"});
    let invitation = post_keyed(&app, &owner.token, &invitations, "invite-vic", &invite).await;
    let vic = app.sign_in("vic@example.com").await;
    assert_eq!(vic.id, "vic.1");
    app.accept_invitation(&vic, invitation["id"].as_str().unwrap())
        .await
        .assert_status(200);
    // What the person did: an invitation of their own (under a key), an access token; the
    // organization bills to their address; a wrong code was tried for it.
    let friend = json!({"email": "friend@example.com", "role": "member"});
    post_keyed(&app, &vic.token, &invitations, "vic-invites", &friend).await;
    let vic_token = app.access_token(&vic, &["orgs:read"]).await;
    app.patch_as(
        &owner.token,
        &format!("/v1/orgs/{org}"),
        &json!({"billingEmail": "vic@example.com"}),
    )
    .await
    .assert_status(200);
    let (challenge, code) = app.start_email_sign_in("vic@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    app.verify_code(&challenge, wrong)
        .await
        .assert_problem(422001);

    let before = app.stored_mentions("vic@example.com").await;
    for copy in [
        "users.email",
        "invitations.email",
        "email_challenges.email",
        "code_lockouts.email",
        "send_quotas.email",
        "audit_events.subject",
        "audit_events.details",
        "idempotency_keys.body",
        "orgs.billing_email",
    ] {
        assert!(before.iter().any(|c| c == copy), "{copy} not in {before:?}");
    }

    app.delete_as(&root, "/v1/users/vic.1")
        .await
        .assert_status(204);

    // Every credential of the person is gone.
    app.get_as(&vic.token, "/v1/me")
        .await
        .assert_problem(401001);
    app.get_as(&vic_token, "/v1/orgs")
        .await
        .assert_problem(401001);
    // The id answers 404001 on every /v1/users/{userId} route, and is never given again.
    app.get_as(&root, "/v1/users/vic.1")
        .await
        .assert_problem(404001);
    app.post_as(&root, "/v1/users/vic.1/ban", &json!({"reason": "x"}))
        .await
        .assert_problem(404001);
    app.patch_as(&root, "/v1/users/vic.1", &json!({"displayName": "X"}))
        .await
        .assert_problem(404001);
    app.delete_as(&root, "/v1/users/vic.1")
        .await
        .assert_problem(404001);
    app.post_as(
        &root,
        "/v1/users",
        &json!({"id": "vic.1", "email": "someone@example.com"}),
    )
    .await
    .assert_problem(400006);
    let users = app.get_as(&root, "/v1/users?limit=100").await;
    let users = users.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(users.iter().all(|u| u["id"] != "vic.1"), "{users:?}");

    // The organization: the membership, the invitations made and received, the billing
    // address are gone.
    let members = app
        .get_as(&owner.token, &format!("/v1/orgs/{org}/members"))
        .await;
    let members = members.assert_status(200);
    assert_eq!(members["total"], 1);
    assert_eq!(members["items"][0]["userId"], owner.id);
    let pending = app.get_as(&owner.token, &invitations).await;
    assert_eq!(pending.assert_status(200)["total"], 0);
    let shown = app.get_as(&owner.token, &format!("/v1/orgs/{org}")).await;
    assert!(shown.assert_status(200)["billingEmail"].is_null());

    // Stored answers replay without the person: the id stays, address and name are blank.
    let replay = app
        .req(Method::POST, "/v1/users")
        .token(&root)
        .header("Idempotency-Key", "create-vic")
        .json(&create)
        .send()
        .await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let body = replay.assert_status(201);
    assert_eq!(
        (&body["id"], &body["email"], &body["displayName"]),
        (&json!("vic.1"), &json!(""), &json!(""))
    );
    for (action, body) in &standing {
        let replay = app
            .req(Method::POST, &format!("/v1/users/vic.1/{action}"))
            .token(&root)
            .header("Idempotency-Key", &format!("{action}-vic"))
            .json(body)
            .send()
            .await;
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        let body = replay.assert_status(200);
        assert_eq!(
            (&body["id"], &body["email"], &body["displayName"]),
            (&json!("vic.1"), &json!(""), &json!("")),
            "{action}"
        );
    }
    let replay = app
        .req(Method::POST, &invitations)
        .token(&owner.token)
        .header("Idempotency-Key", "invite-vic")
        .json(&invite)
        .send()
        .await;
    assert_eq!(replay.assert_status(201)["email"], "");

    // The audit log keeps the id as a pseudonym, and nothing else of the person.
    let events = all_audit_events(&app, &root).await;
    let text = serde_json::to_string(&events).unwrap();
    for trace in ["vic@example.com", "Vic Tim", "Oldname Person"] {
        assert!(!text.contains(trace), "{trace} in the audit log");
    }
    let erased = events
        .iter()
        .find(|e| e["action"] == "user.erased")
        .expect("user.erased");
    assert_eq!(
        (&erased["subject"], &erased["actor"]),
        (&json!("vic.1"), &json!(root_id))
    );
    let about = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action && e["subject"] == "vic.1")
            .unwrap_or_else(|| panic!("{action} about vic.1"))
            .clone()
    };
    assert_eq!(about("user.created")["details"]["email"], "");
    about("access_token.created");
    // The wrong code was about the address; it is about the pseudonym now.
    about("code.failed");
    let left = events
        .iter()
        .find(|e| e["action"] == "member.erased")
        .expect("member.erased");
    assert_eq!(left["subject"], org);
    assert_eq!(left["details"], json!({"userId": "vic.1", "role": "admin"}));

    // Nowhere in the database either; the person's own keys are gone.
    assert_eq!(
        app.stored_mentions("vic@example.com").await,
        Vec::<String>::new()
    );
    assert_eq!(app.stored_mentions("Vic Tim").await, Vec::<String>::new());
    assert_eq!(
        app.stored_mentions("Oldname Person").await,
        Vec::<String>::new()
    );
    let own_keys: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE caller = 'user:vic.1'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(own_keys, 0);

    // The address is free: signing up with it makes a new account, a stranger to the old one.
    let again = app.sign_in("vic@example.com").await;
    assert_ne!(again.id, "vic.1");
    let orgs = app.get_as(&again.token, "/v1/orgs").await;
    assert_eq!(orgs.assert_status(200)["total"], 0);
}

#[tokio::test]
async fn the_last_owner_of_an_organization_cannot_be_erased() {
    let app = TestApp::spawn().await;
    let root = app.root_token().await;
    let a = app.sign_in("a@example.com").await;
    let b = app.sign_in("b@example.com").await;
    let org = app.org(&a).name("Solo").create().await.id;

    let res = app.delete_as(&a.token, "/v1/me").await;
    let errors = res.assert_problem(400002)["errors"].clone();
    assert_eq!(errors[0]["field"], "userId");
    assert!(
        errors[0]["message"].as_str().unwrap().contains(&org),
        "{errors}"
    );
    app.delete_as(&root, &format!("/v1/users/{}", a.id))
        .await
        .assert_problem(400002);
    // Nothing was erased.
    app.get_as(&a.token, "/v1/me").await.assert_status(200);
    let members = app
        .get_as(&a.token, &format!("/v1/orgs/{org}/members"))
        .await;
    assert_eq!(members.assert_status(200)["total"], 1);

    // With a second owner, the first may go; then the second is the last.
    app.invite_and_accept(&a, &org, &b, "owner").await;
    app.delete_as(&a.token, "/v1/me").await.assert_status(204);
    let members = app
        .get_as(&b.token, &format!("/v1/orgs/{org}/members"))
        .await;
    let members = members.assert_status(200);
    assert_eq!(members["total"], 1);
    assert_eq!(
        (&members["items"][0]["userId"], &members["items"][0]["role"]),
        (&json!(b.id), &json!("owner"))
    );
    app.delete_as(&b.token, "/v1/me")
        .await
        .assert_problem(400002);
}

#[tokio::test]
async fn two_owners_erased_at_once_leave_one() {
    let app = TestApp::spawn().await;
    let root = app.root_token().await;
    let a = app.sign_in("a@example.com").await;
    let b = app.sign_in("b@example.com").await;
    let org = app.org(&a).create().await.id;
    app.invite_and_accept(&a, &org, &b, "owner").await;

    let b_path = format!("/v1/users/{}", b.id);
    let (ra, rb) = tokio::join!(
        app.delete_as(&a.token, "/v1/me"),
        app.delete_as(&root, &b_path),
    );
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [204, 400], "{} {}", ra.text, rb.text);
    let survivor: &User = if ra.status == 204 { &b } else { &a };
    let members = app
        .get_as(&survivor.token, &format!("/v1/orgs/{org}/members"))
        .await;
    let members = members.assert_status(200);
    assert_eq!(members["total"], 1);
    assert_eq!(members["items"][0]["role"], "owner");

    // One user erased twice at once: once.
    let c = app.sign_in("c@example.com").await;
    let path = format!("/v1/users/{}", c.id);
    let (r1, r2) = tokio::join!(app.delete_as(&root, &path), app.delete_as(&root, &path));
    let mut statuses = [r1.status, r2.status];
    statuses.sort();
    assert_eq!(statuses, [204, 404], "{} {}", r1.text, r2.text);
    for res in [&r1, &r2].into_iter().filter(|r| r.status == 404) {
        res.assert_problem(404001);
    }
}

#[tokio::test]
async fn erasing_oneself_needs_an_elevated_session() {
    let app = TestApp::spawn().await;
    let user = app.sign_in("self@example.com").await;
    let token = app
        .access_token(&user, &["orgs:read", "orgs:write", "users:write"])
        .await;
    // Routes under /v1/me are for sessions.
    app.delete_as(&token, "/v1/me").await.assert_problem(403001);
    app.advance(ELEVATION_WINDOW + 60).await;
    let res = app.delete_as(&user.token, "/v1/me").await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["email-otp"]));
    app.get_as(&user.token, "/v1/me").await.assert_status(200);

    app.elevate_by_email(&user).await;
    app.delete_as(&user.token, "/v1/me")
        .await
        .assert_status(204);
    app.get_as(&user.token, "/v1/me")
        .await
        .assert_problem(401001);
    app.get_as(&token, "/v1/me").await.assert_problem(401001);
}

#[tokio::test]
async fn an_administrator_erases_with_an_elevated_session_or_a_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let root = app.root_token().await;
    let one = app.sign_in("one@example.com").await;
    let two = app.sign_in("two@example.com").await;
    app.advance(ELEVATION_WINDOW + 60).await;

    let res = app
        .delete_as(&admin.token, &format!("/v1/users/{}", one.id))
        .await;
    assert_eq!(res.assert_problem(403006)["methods"], json!(["email-otp"]));
    // An access token with `users:write` is never elevated and needs not be.
    app.delete_as(&root, &format!("/v1/users/{}", two.id))
        .await
        .assert_status(204);
    app.elevate_by_email(&admin).await;
    app.delete_as(&admin.token, &format!("/v1/users/{}", one.id))
        .await
        .assert_status(204);
    app.get_as(&one.token, "/v1/me")
        .await
        .assert_problem(401001);
}

#[tokio::test]
async fn erasing_oneself_works_before_new_terms_are_accepted_and_when_restricted() {
    let app = TestApp::spawn().await;
    let root = app.root_token().await;
    let user = app.sign_in("terms@example.com").await;
    app.post_as(
        &root,
        "/v1/terms",
        &json!({"version": "2026-11", "url": "https://example.com/terms"}),
    )
    .await
    .assert_status(201);
    app.get_as(&user.token, "/v1/orgs")
        .await
        .assert_problem(451001);
    app.delete_as(&user.token, "/v1/me")
        .await
        .assert_status(204);

    // A restricted session (passkeys required, none registered) may erase its account, but
    // only elevated: unlike registering a first passkey, erasure is not waived for it.
    let (owner, _key) = app.passkey_user("owner@example.com").await;
    app.post_as(
        &owner.token,
        "/v1/me/terms/accept",
        &json!({"version": "2026-11"}),
    )
    .await
    .assert_status(200);
    let org = app.org(&owner).create().await.id;
    let member = app.sign_in("member@example.com").await;
    app.post_as(
        &member.token,
        "/v1/me/terms/accept",
        &json!({"version": "2026-11"}),
    )
    .await
    .assert_status(200);
    app.add_member(&org, &member, "member").await;
    app.require_org_passkeys(&owner, &org).await;
    let restricted = |grant: &Value| {
        assert_eq!(grant["restricted"], true);
        grant["sessionToken"].as_str().unwrap().to_string()
    };
    let (challenge, code) = app.start_email_sign_in("member@example.com").await;
    let stale = restricted(app.verify_code(&challenge, &code).await.assert_status(200));
    app.advance(ELEVATION_WINDOW + 60).await;
    app.delete_as(&stale, "/v1/me").await.assert_problem(403006);
    let (challenge, code) = app.start_email_sign_in("member@example.com").await;
    let fresh = restricted(app.verify_code(&challenge, &code).await.assert_status(200));
    app.delete_as(&fresh, "/v1/me").await.assert_status(204);
    let members = app
        .get_as(&owner.token, &format!("/v1/orgs/{org}/members"))
        .await;
    assert_eq!(members.assert_status(200)["total"], 1);
}

#[tokio::test]
async fn queued_mail_to_the_person_goes_and_mentions_of_them_are_blanked() {
    // SMTP to a closed port: mail stays queued.
    let app = TestApp::spawn_configured(|c| c.mail = "smtp://127.0.0.1:9".to_string()).await;
    let root = app.root_token().await;
    person_with_mail(&app, &root, json!({"id": "q.1", "email": "q@example.com"})).await;
    let queued = app.queued_mail().await;
    assert_eq!(queued.len(), 2);
    assert!(
        queued[0]["text"]
            .as_str()
            .unwrap()
            .contains("gone@example.com")
    );
    assert_eq!(queued[1]["to"], "gone@example.com");

    app.delete_as(&root, "/v1/users/q.1")
        .await
        .assert_status(204);

    // The invitation is not sent; the notice to the other account's address stays, blanked.
    let queued = app.queued_mail().await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["to"], "q@example.com");
    let text = queued[0]["text"].as_str().unwrap();
    assert!(text.contains("address of your account to ."), "{text}");
    assert!(!queued[0].to_string().contains("gone@example.com"));
    assert_eq!(
        app.stored_mentions("gone@example.com").await,
        Vec::<String>::new()
    );
    let other = app.get_as(&root, "/v1/users/other.1").await;
    assert_eq!(other.assert_status(200)["email"], "q@example.com");
}

/// The person `q.1`, created from `created` at q@example.com and moved to gone@example.com
/// (the old address is told of the new one), the old address then taken by `other.1`, and an
/// invitation to the person mailed from an organization of the administrator's; its id.
pub(crate) async fn person_with_mail(app: &TestApp, root: &str, created: Value) -> String {
    app.post_as(root, "/v1/users", &created)
        .await
        .assert_status(201);
    // The old address is told of the new one; then another account takes the old address.
    app.patch_as(root, "/v1/users/q.1", &json!({"email": "gone@example.com"}))
        .await
        .assert_status(200);
    app.post_as(
        root,
        "/v1/users",
        &json!({"id": "other.1", "email": "q@example.com"}),
    )
    .await
    .assert_status(201);
    let org = app
        .post_as(
            root,
            "/v1/orgs",
            &json!({"name": "Root Co", "country": "DE"}),
        )
        .await;
    let org = org.assert_status(201)["id"].as_str().unwrap().to_string();
    app.post_as(
        root,
        &format!("/v1/orgs/{org}/invitations"),
        &json!({"email": "gone@example.com", "role": "member"}),
    )
    .await
    .assert_status(201);
    org
}
