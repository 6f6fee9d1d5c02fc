//! Deleting an organization (5): refused while a subscription runs on; otherwise, in one unit,
//! every subscription ends now, open invoices are voided, memberships, invitations and the
//! passkey policy go, and the financial records stay (read here from the database: the
//! organization's own routes answer 404003 from then on).

use charter::db::Record;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::fixtures::{OK_CARD, ONCE_CARD, time};

const DAY: i64 = 86_400;

/// Rows of the organization's records, read directly: nothing in the API shows them any more.
async fn rows(app: &TestApp, sql: &str, org: &str) -> Vec<Record> {
    app.state
        .db
        .read_all::<Record>(sql, charter::params![org])
        .await
        .unwrap()
}

/// `(id, status)` of the organization's rows in `table`, by id.
async fn statuses(app: &TestApp, table: &str, org: &str) -> Vec<(String, String)> {
    let sql = format!("SELECT id, status FROM {table} WHERE org_id = $1 ORDER BY id");
    rows(app, &sql, org)
        .await
        .iter()
        .map(|r| (r.text("id").unwrap(), r.text("status").unwrap()))
        .collect()
}

async fn count(app: &TestApp, table: &str, org: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE org_id = $1");
    rows(app, &sql, org).await[0].int("n").unwrap()
}

#[tokio::test]
async fn deleting_is_refused_while_a_subscription_runs_on() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).create().await.id;
    let admin_member = app
        .invited_member(&owner, &org, "admin@acme.example", "admin")
        .await;
    let stranger = app.sign_in("stranger@example.com").await;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(500).create().await;
    // Sessions idle out over a month; an access token does not.
    let token = app
        .access_token(
            &owner,
            &["orgs:read", "orgs:write", "billing:read", "billing:write"],
        )
        .await;
    let path = format!("/v1/orgs/{org}");
    let subs = format!("{path}/subscriptions");

    let crm_sub =
        app.buy(&token, &org, &crm).card(OK_CARD).create().await["subscriptions"][0].clone();
    let wiki_sub =
        app.buy(&token, &org, &wiki).card(ONCE_CARD).create().await["subscriptions"][0].clone();
    let res = app.delete_as(&token, &path).await;
    assert_eq!(res.assert_problem(400002)["errors"][0]["field"], "orgId");

    // Who may: the owner, with `orgs:write` on an access token.
    app.delete_as(&admin_member.token, &path)
        .await
        .assert_problem(403011);
    app.delete_as(&stranger.token, &path)
        .await
        .assert_problem(403001);
    let reader = app.access_token(&owner, &["orgs:read"]).await;
    let res = app.delete_as(&reader, &path).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "orgs:write");
    app.delete_as(&token, "/v1/orgs/org_missing")
        .await
        .assert_problem(404003);

    // One set to cancel at its period's end no longer refuses it; one past due does.
    let crm_id = crm_sub["id"].as_str().unwrap();
    app.post_as(&token, &format!("{subs}/{crm_id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    let wiki_id = wiki_sub["id"].as_str().unwrap();
    let end = time(&wiki_sub["currentPeriodEnd"]);
    app.advance(app.state.clock.now().seconds_until(end) + 3600)
        .await;
    let past_due = app.subscription(&token, &org, wiki_id).await;
    assert_eq!(
        (
            past_due["status"].as_str(),
            past_due["cancelAtPeriodEnd"].as_bool()
        ),
        (Some("past_due"), Some(false))
    );
    app.delete_as(&token, &path).await.assert_problem(400002);
    app.post_as(&token, &format!("{subs}/{wiki_id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    app.delete_as(&token, &path).await.assert_status(204);
    app.delete_as(&token, &path).await.assert_problem(404003);
    assert_eq!(app.audited(&admin, "org.deleted").await, 1);
}

#[tokio::test]
async fn deleting_ends_every_subscription_voids_open_invoices_and_keeps_the_records() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let (owner, _authenticator) = app.passkey_user("owner@example.com").await;
    let org = app.org(&owner).create().await.id;
    let admin_member = app
        .invited_member(&owner, &org, "admin@acme.example", "admin")
        .await;
    let billing = app
        .invited_member(&owner, &org, "billing@acme.example", "billing")
        .await;
    let invitee = app.sign_in("later@example.com").await;
    let invitation = app
        .invitation(&owner, &org, &invitee.email, "member")
        .create()
        .await;
    app.require_org_passkeys(&owner, &org).await;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(500).create().await;
    let token = app
        .access_token(
            &owner,
            &["orgs:read", "orgs:write", "billing:read", "billing:write"],
        )
        .await;
    let path = format!("/v1/orgs/{org}");

    // A paid subscription set to cancel at its period's end, and an unpaid checkout.
    let paid = app.buy(&token, &org, &crm).card(OK_CARD).create().await;
    let crm_sub = paid["subscriptions"][0].clone();
    let crm_id = crm_sub["id"].as_str().unwrap().to_string();
    app.post_as(
        &token,
        &format!("{path}/subscriptions/{crm_id}/cancel"),
        &json!({}),
    )
    .await
    .assert_status(200);
    let open = app.buy(&token, &org, &wiki).create().await;
    let paid_invoice = paid["invoice"]["id"].as_str().unwrap().to_string();
    let open_invoice = open["invoice"]["id"].as_str().unwrap().to_string();

    app.delete_as(&admin_member.token, &path)
        .await
        .assert_problem(403011);
    app.delete_as(&billing.token, &path)
        .await
        .assert_problem(403011);
    let deleted_at = app.state.clock.now();
    app.delete_as(&token, &path).await.assert_status(204);

    // Gone from every organization route, for every former member.
    for route in [
        path.clone(),
        format!("{path}/members"),
        format!("{path}/invoices"),
        format!("{path}/invoices/{paid_invoice}"),
        format!("{path}/subscriptions"),
        format!("{path}/agreements"),
        format!("{path}/exports/transactions.csv?since=2020-01-01&until=2020-01-02"),
    ] {
        app.get_as(&owner.token, &route)
            .await
            .assert_problem(404003);
    }
    app.patch_as(&token, &path, &json!({"name": "Back"}))
        .await
        .assert_problem(404003);
    app.calculation(&billing.token, &org)
        .module(&crm)
        .send()
        .await
        .assert_problem(404003);
    for user in [&owner.token, &admin_member.token, &billing.token] {
        let mine = app.get_as(user, "/v1/orgs").await;
        assert_eq!(mine.assert_status(200)["total"], 0);
    }
    app.accept_invitation(&invitee, &invitation)
        .await
        .assert_problem(404003);
    let policy = app
        .get_as(&billing.token, "/v1/me/security/require-passkeys")
        .await;
    assert_eq!(policy.assert_status(200)["requiredBy"], json!([]));

    // What the platform administrators still find: the organization, marked deleted, and its
    // financial records — every subscription ended now, the open invoice voided.
    let found = charter::orgs::find_including_deleted(&app.state.db, &org)
        .await
        .unwrap()
        .expect("the organization's row stays");
    assert_eq!(found.org.name, "Acme");
    assert!(!found.org.passkeys_required, "the policy goes");
    assert!(found.deleted_at.is_some_and(|at| at >= deleted_at));
    let ended = rows(
        &app,
        "SELECT status, ended_at FROM subscriptions WHERE org_id = $1",
        &org,
    )
    .await;
    assert_eq!(ended.len(), 2);
    for row in &ended {
        assert_eq!(row.text("status").unwrap(), "ended");
        assert_eq!(
            row.int("ended_at").unwrap(),
            found.deleted_at.unwrap().micros(),
            "ended now, not at the period's end"
        );
    }
    let mut invoices = vec![
        (paid_invoice.clone(), "paid".to_string()),
        (open_invoice.clone(), "void".to_string()),
    ];
    invoices.sort();
    assert_eq!(statuses(&app, "invoices", &org).await, invoices);
    assert_eq!(count(&app, "payments", &org).await, 1);
    assert_eq!(count(&app, "refunds", &org).await, 0, "no refund");
    assert_eq!(count(&app, "memberships", &org).await, 0);
    assert_eq!(count(&app, "invitations", &org).await, 0);

    assert_eq!(app.audited(&admin, "org.deleted").await, 1);
    assert_eq!(app.audited(&admin, "subscription.ended").await, 2);
    assert_eq!(app.audited(&admin, "invoice.voided").await, 1);

    // The back-office still reads the financial records through the organization's routes,
    // and nothing else of it.
    let listed = app.get_as(&admin, &format!("{path}/invoices")).await;
    assert_eq!(listed.assert_status(200)["total"], 2);
    let kept = app
        .get_as(&admin, &format!("{path}/invoices/{open_invoice}"))
        .await;
    assert_eq!(kept.assert_status(200)["status"], "void");
    let today = &app.state.clock.now().to_rfc3339()[..10];
    let csv = app
        .get_as(
            &admin,
            &format!("{path}/exports/transactions.csv?since={today}&until={today}"),
        )
        .await;
    csv.assert_status(200);
    assert!(csv.text.contains(&paid_invoice), "{}", csv.text);
    for route in [
        path.clone(),
        format!("{path}/members"),
        format!("{path}/subscriptions"),
    ] {
        app.get_as(&admin, &route).await.assert_problem(404003);
    }
    app.post_as(
        &admin,
        &format!("{path}/subscriptions/{crm_id}/cancel"),
        &json!({}),
    )
    .await
    .assert_problem(404003);

    // Nothing renews afterwards.
    let end = time(&crm_sub["currentPeriodEnd"]);
    app.advance(app.state.clock.now().seconds_until(end) + 40 * DAY)
        .await;
    assert_eq!(count(&app, "invoices", &org).await, 2, "no renewal invoice");
    assert_eq!(app.audited(&admin, "subscription.renewed").await, 0);
    assert_eq!(app.audited(&admin, "subscription.ended").await, 2);
}

#[tokio::test]
async fn a_checkout_racing_the_deletion_leaves_nothing_running() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    for _ in 0..4 {
        let org = app.org(&owner).create().await.id;
        let calculation = app
            .calculation(&owner.token, &org)
            .module(&crm)
            .create()
            .await;
        let checkout = app.checkout(&owner.token, &org, &calculation);
        let path = format!("/v1/orgs/{org}");
        let (checked_out, deleted) =
            tokio::join!(checkout.send(), app.delete_as(&owner.token, &path));
        deleted.assert_status(204);
        assert!(
            [201, 404].contains(&checked_out.status),
            "{}: {:?}",
            checked_out.status,
            checked_out.json
        );
        let live: Vec<Value> = statuses(&app, "subscriptions", &org)
            .await
            .into_iter()
            .filter(|(_, status)| status != "ended")
            .map(|(id, status)| json!([id, status]))
            .collect();
        assert_eq!(live, Vec::<Value>::new());
        let open: Vec<_> = statuses(&app, "invoices", &org)
            .await
            .into_iter()
            .filter(|(_, status)| status == "open")
            .collect();
        assert!(open.is_empty(), "{open:?}");
    }
}

#[tokio::test]
async fn an_invitation_accepted_while_the_organization_is_deleted_leaves_no_membership() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("owner@example.com").await;
    let invitee = app.sign_in("invitee@example.com").await;
    for _ in 0..12 {
        let org = app.org(&owner).create().await.id;
        let invitation = app
            .invitation(&owner, &org, &invitee.email, "owner")
            .create()
            .await;
        let path = format!("/v1/orgs/{org}");
        let (accepted, deleted) = tokio::join!(
            app.accept_invitation(&invitee, &invitation),
            app.delete_as(&owner.token, &path)
        );
        assert!(
            [200, 404].contains(&accepted.status),
            "{}: {:?}",
            accepted.status,
            accepted.json
        );
        // An owner who joined first blocks nothing: the deletion is the first owner's.
        deleted.assert_status(204);
        assert_eq!(count(&app, "memberships", &org).await, 0);
    }
    // Nothing of the deleted organizations holds the invitee: they can leave for good.
    let mine = app.get_as(&invitee.token, "/v1/orgs").await;
    assert_eq!(mine.assert_status(200)["total"], 0);
}
