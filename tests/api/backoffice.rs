//! The support back-office (6): a platform administrator reads any organization as its owner
//! would, cancels its subscriptions and requests its refunds, and nothing else; an access
//! token needs `admin` beside the route's scope; every such call is audited. And the two
//! lists that find organizations: `GET /v1/admin/orgs` and `GET /v1/users/{userId}/orgs`.

use charter::http::policy;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::fixtures::{OK_CARD, offer};
use crate::support::{TestApp, User};

mod lists;

/// An organization with something in every collection: a member, an invitation, a paid
/// purchase waiting for its agreement, a second active subscription and a price calculation.
struct Customer {
    owner: User,
    org: String,
    invoice: String,
    /// Pending: paid, its agreement unsigned.
    pending: String,
    /// Active, paid by card.
    active: String,
    agreement: String,
    invitation: String,
    calculation: String,
}

async fn customer(app: &TestApp) -> Customer {
    let root = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app
        .org(&owner)
        .name("Customer GmbH")
        .invite("member@example.com", "member")
        .create()
        .await
        .id;
    let mut legal = offer(4900);
    legal["agreementRequired"] = json!(true);
    let crm = app.module(&root, "crm").offer(legal).create().await;
    let mail = app.module(&root, "mail").price(999).create().await;
    let bought = app
        .buy(&owner.token, &org, &crm)
        .card(OK_CARD)
        .create()
        .await;
    let active = app
        .buy(&owner.token, &org, &mail)
        .card(OK_CARD)
        .create()
        .await;
    let invitation = app
        .invitation(&owner, &org, "later@example.com", "billing")
        .create()
        .await;
    let calculation = app
        .calculation(&owner.token, &org)
        .module(&mail)
        .create()
        .await;
    let id = |v: &Value| v.as_str().unwrap().to_string();
    Customer {
        owner,
        invoice: id(&bought["invoice"]["id"]),
        pending: id(&bought["subscriptions"][0]["id"]),
        active: id(&active["subscriptions"][0]["id"]),
        agreement: id(&bought["agreements"][0]["id"]),
        org,
        invitation,
        calculation,
    }
}

/// Every `GET` of the organization, each with something in it.
fn reads(c: &Customer) -> Vec<String> {
    let org = &c.org;
    vec![
        format!("/v1/orgs/{org}"),
        format!("/v1/orgs/{org}/members"),
        format!("/v1/orgs/{org}/invitations"),
        format!("/v1/orgs/{org}/agreements"),
        format!("/v1/orgs/{org}/invoices"),
        format!("/v1/orgs/{org}/invoices/{}", c.invoice),
        format!("/v1/orgs/{org}/subscriptions"),
        format!("/v1/orgs/{org}/subscriptions/{}", c.pending),
        format!("/v1/orgs/{org}/price-calculations/{}", c.calculation),
        format!("/v1/orgs/{org}/exports/transactions.csv?since=2000-01-01&until=2000-12-31"),
    ]
}

/// The audit events of `action` by `actor`, oldest first.
async fn audit(app: &TestApp, action: &str, actor: &str) -> Vec<Value> {
    let root = app.root_token().await;
    let res = app
        .get_as(
            &root,
            &format!(
                "/v1/audit-events?limit=100&query=action:%22{action}%22%20AND%20actor:{actor}"
            ),
        )
        .await;
    let mut items = res.assert_status(200)["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

#[tokio::test]
async fn an_administrator_reads_any_organization_as_its_owner_and_each_read_is_audited() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let admin = app.admin().await;

    for path in reads(&c) {
        let theirs = app.get_as(&c.owner.token, &path).await;
        let res = app
            .req(Method::GET, &path)
            .token(&admin.token)
            .header("x-request-id", "support-call-1")
            .send()
            .await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
        assert_eq!(res.text, theirs.text, "{path}: what the owner sees");
        assert_eq!(res.header("cache-control"), Some("no-store"), "{path}");
    }
    // Each collection really had something in it.
    let members = app
        .get_as(&admin.token, &format!("/v1/orgs/{}/members", c.org))
        .await;
    assert_eq!(members.assert_status(200)["total"], 2);
    let invitations = app
        .get_as(&admin.token, &format!("/v1/orgs/{}/invitations", c.org))
        .await;
    assert_eq!(
        invitations.assert_status(200)["items"][0]["id"],
        c.invitation
    );
    let agreements = app
        .get_as(&admin.token, &format!("/v1/orgs/{}/agreements", c.org))
        .await;
    assert_eq!(agreements.assert_status(200)["items"][0]["id"], c.agreement);
    // Not a membership: the administrator's own organizations do not list it.
    let mine = app.get_as(&admin.token, "/v1/orgs").await;
    assert_eq!(mine.assert_status(200)["total"], 0);

    let events = audit(&app, "backoffice.read", &admin.id).await;
    let paths = reads(&c);
    assert_eq!(events.len(), paths.len() + 3, "one event per read");
    for (event, path) in events.iter().zip(&paths) {
        assert_eq!(event["actor"], admin.id.as_str());
        assert_eq!(event["subject"], c.org.as_str());
        assert_eq!(event["requestId"], "support-call-1");
        assert!(
            event["sourceAddress"]
                .as_str()
                .is_some_and(|a| !a.is_empty())
        );
        assert_eq!(event["details"]["method"], "GET");
        let without_query = path.split('?').next().unwrap();
        assert_eq!(
            event["details"]["path"], without_query,
            "no query string kept"
        );
        assert!(
            event["details"]["route"]
                .as_str()
                .unwrap()
                .starts_with("/v1/orgs/{orgId}")
        );
    }
    // The owner's own reads are not back-office calls.
    assert!(audit(&app, "backoffice.read", &c.owner.id).await.is_empty());
}

#[tokio::test]
async fn an_administrator_cancels_subscriptions_and_requests_refunds_of_any_organization() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let admin = app.admin().await;
    let org = &c.org;

    let canceled = app
        .post_as(
            &admin.token,
            &format!("/v1/orgs/{org}/subscriptions/{}/cancel", c.active),
            &json!({}),
        )
        .await;
    assert_eq!(canceled.assert_status(200)["cancelAtPeriodEnd"], true);
    let refund = app
        .post_as(
            &admin.token,
            &format!("/v1/orgs/{org}/subscriptions/{}/refund-requests", c.pending),
            &json!({"reason": "Charged by mistake, per support ticket 4711"}),
        )
        .await;
    let refund = refund.assert_status(201);
    assert_eq!(refund["subscriptionId"], c.pending.as_str());
    assert_eq!(
        app.subscription(&c.owner.token, org, &c.pending).await["status"],
        "ended"
    );

    let cancel = audit(&app, "backoffice.subscription.cancel", &admin.id).await;
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0]["subject"], org.as_str());
    assert_eq!(
        cancel[0]["details"]["route"],
        "/v1/orgs/{orgId}/subscriptions/{subscriptionId}/cancel"
    );
    let refunds = audit(&app, "backoffice.refund.request", &admin.id).await;
    assert_eq!(refunds.len(), 1);
    // The changes themselves are on record with the administrator as their actor too.
    assert_eq!(
        audit(&app, "subscription.cancel_scheduled", &admin.id)
            .await
            .len(),
        1
    );
    let succeeded = audit(&app, "refund.succeeded", &admin.id).await;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0]["requestId"], refunds[0]["requestId"]);

    // A subscription of another organization is not reachable through this one.
    let other = app.sign_in("other@example.com").await;
    let other_org = app.org(&other).name("Other").create().await.id;
    app.post_as(
        &admin.token,
        &format!("/v1/orgs/{other_org}/subscriptions/{}/cancel", c.active),
        &json!({}),
    )
    .await
    .assert_problem(404003);
    app.get_as(&admin.token, "/v1/orgs/org_missing")
        .await
        .assert_problem(404003);
}

#[tokio::test]
async fn an_administrator_changes_nothing_else_in_an_organization() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let admin = app.admin().await;
    let member = app.sign_in("member@example.com").await;
    let org = &c.org;
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::PATCH,
            format!("/v1/orgs/{org}"),
            json!({"name": "Taken over"}),
        ),
        (Method::DELETE, format!("/v1/orgs/{org}"), json!({})),
        (
            Method::PATCH,
            format!("/v1/orgs/{org}/members/{}", member.id),
            json!({"role": "owner"}),
        ),
        (
            Method::PATCH,
            format!("/v1/orgs/{org}/members/{}", member.id),
            json!({"legalSignatory": true}),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{org}/members/{}", member.id),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/invitations"),
            json!({"email": "mole@example.com", "role": "owner"}),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{org}/invitations/{}", c.invitation),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/security/require-passkeys"),
            json!({}),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{org}/security/require-passkeys"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/agreements/{}/sign", c.agreement),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/price-calculations"),
            json!({"items": []}),
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/checkouts"),
            json!({"priceCalculationId": c.calculation}),
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/invoices/{}/payments", c.invoice),
            json!({"paymentMethod": {"type": "card", "number": OK_CARD}}),
        ),
    ];
    for (method, path, body) in writes {
        let res = app
            .req(method.clone(), &path)
            .token(&admin.token)
            .json(&body)
            .send()
            .await;
        assert_eq!(res.json["code"], 403001, "{method} {path}: {}", res.text);
        res.assert_problem(403001);
    }
    // Nothing changed, and no refusal was a back-office call.
    let members = app
        .get_as(&c.owner.token, &format!("/v1/orgs/{org}/members"))
        .await;
    assert_eq!(members.assert_status(200)["total"], 2);
    let got = app.get_as(&c.owner.token, &format!("/v1/orgs/{org}")).await;
    assert_eq!(got.assert_status(200)["name"], "Customer GmbH");
    let root = app.root_token().await;
    let res = app
        .get_as(
            &root,
            &format!("/v1/audit-events?limit=0&query=actor:{}", admin.id),
        )
        .await;
    let total = res.assert_status(200)["total"].as_i64().unwrap();
    let own = app
        .get_as(
            &root,
            &format!(
                "/v1/audit-events?limit=0&query=actor:{}%20AND%20subject:{org}",
                admin.id
            ),
        )
        .await;
    assert_eq!(
        own.assert_status(200)["total"],
        0,
        "of {total} events by the administrator"
    );
}

/// Every organization route, walked as a platform administrator who is not a member: those
/// the table opens to the back-office answer past step 6, every other one 403001.
#[tokio::test]
async fn every_organization_route_is_open_to_the_backoffice_exactly_as_the_table_says() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let admin = app.admin().await;
    let mut walked = 0;
    for route in policy::ROUTES.iter().filter(|r| r.policy.org.is_some()) {
        let path = route
            .path
            .replace("{orgId}", &c.org)
            .replace("{subscriptionId}", &c.active)
            .replace("{invoiceId}", &c.invoice)
            .replace("{agreementId}", &c.agreement)
            .replace("{invitationId}", &c.invitation)
            .replace("{priceCalculationId}", &c.calculation)
            .replace("{userId}", &c.owner.id);
        let res = app
            .req(Method::from_bytes(route.method.as_bytes()).unwrap(), &path)
            .token(&admin.token)
            .json(&json!({"reason": "walk"}))
            .send()
            .await;
        if route.policy.backoffice.is_some() {
            assert_ne!(
                res.json["code"], 403001,
                "{} {} is open to the back-office: {}",
                route.method, route.path, res.text
            );
        } else {
            assert_eq!(
                res.json["code"], 403001,
                "{} {} is not open to the back-office: {}",
                route.method, route.path, res.text
            );
        }
        walked += 1;
    }
    assert!(walked >= 20, "walked {walked} routes");
}

#[tokio::test]
async fn an_access_token_needs_the_admin_scope_beside_the_routes_own() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let admin = app.admin().await;
    let org = format!("/v1/orgs/{}", c.org);

    let read_only = app.access_token(&admin, &["orgs:read"]).await;
    let res = app.get_as(&read_only, &org).await;
    res.assert_problem(403001);
    assert!(res.json["detail"].as_str().unwrap().contains("`admin`"));
    let support = app.access_token(&admin, &["orgs:read", "admin"]).await;
    assert_eq!(
        app.get_as(&support, &org).await.assert_status(200)["id"],
        c.org.as_str()
    );
    // `admin` does not stand in for the route's own scope.
    let admin_only = app.access_token(&admin, &["admin"]).await;
    let res = app.get_as(&admin_only, &org).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "orgs:read");
    let res = app.get_as(&admin_only, &format!("{org}/invoices")).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "billing:read");
    // Writes likewise.
    let billing = app.access_token(&admin, &["billing:write"]).await;
    let cancel = format!("{org}/subscriptions/{}/cancel", c.active);
    app.post_as(&billing, &cancel, &json!({}))
        .await
        .assert_problem(403001);
    let billing_support = app.access_token(&admin, &["billing:write", "admin"]).await;
    app.post_as(&billing_support, &cancel, &json!({}))
        .await
        .assert_status(200);
    // Only the calls that went through were back-office calls.
    assert_eq!(audit(&app, "backoffice.read", &admin.id).await.len(), 1);
    assert_eq!(
        audit(&app, "backoffice.subscription.cancel", &admin.id)
            .await
            .len(),
        1
    );

    // A token with `admin` of someone who is not a platform administrator opens nothing.
    let outsider = app.sign_in("outsider@example.com").await;
    let outsider_token = app.access_token(&outsider, &["orgs:read", "admin"]).await;
    app.get_as(&outsider_token, &org)
        .await
        .assert_problem(403001);
}

#[tokio::test]
async fn a_member_of_another_organization_is_still_refused() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let stranger = app.sign_in("stranger@example.com").await;
    app.org(&stranger).name("Stranger Ltd").create().await;
    for path in reads(&c) {
        app.get_as(&stranger.token, &path)
            .await
            .assert_problem(403001);
    }
    app.post_as(
        &stranger.token,
        &format!("/v1/orgs/{}/subscriptions/{}/cancel", c.org, c.active),
        &json!({}),
    )
    .await
    .assert_problem(403001);
}

#[tokio::test]
async fn what_an_administrator_may_do_as_a_member_is_not_a_backoffice_call() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let admin = app.admin().await;
    app.add_member(&c.org, &admin, "member").await;

    // A member may read the organization: by membership, not audited as support.
    app.get_as(&admin.token, &format!("/v1/orgs/{}", c.org))
        .await
        .assert_status(200);
    assert!(audit(&app, "backoffice.read", &admin.id).await.is_empty());
    // A `member` may not read invoices (403009); the back-office may, and says so.
    app.get_as(&admin.token, &format!("/v1/orgs/{}/invoices", c.org))
        .await
        .assert_status(200);
    let events = audit(&app, "backoffice.read", &admin.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["details"]["route"], "/v1/orgs/{orgId}/invoices");
    // Without the back-office (a token without `admin`) the role decides as for anyone.
    let token = app.access_token(&admin, &["billing:read"]).await;
    app.get_as(&token, &format!("/v1/orgs/{}/invoices", c.org))
        .await
        .assert_problem(403009);
    // Nor does the back-office lift the member's own limits on writes.
    app.patch_as(
        &admin.token,
        &format!("/v1/orgs/{}", c.org),
        &json!({"name": "Taken over"}),
    )
    .await
    .assert_problem(403010);
}

#[tokio::test]
async fn a_recovered_administrator_is_held_out_of_the_backoffice() {
    let app = TestApp::spawn().await;
    let c = customer(&app).await;
    let admin = app.admin().await;
    let recovered = app.reset_passkeys(&admin).await;
    let path = format!("/v1/orgs/{}/invoices", c.org);
    let res = app.get_as(&recovered.token, &path).await;
    assert!(res.assert_problem(403005)["lockedUntil"].is_string());
    assert!(audit(&app, "backoffice.read", &admin.id).await.is_empty());
    app.advance(24 * 3600 + 1).await;
    app.get_as(&recovered.token, &path).await.assert_status(200);
}
