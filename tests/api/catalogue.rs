//! Catalogue upkeep (7): editing and archiving modules, ending offers, listing, reading and
//! deleting coupons — who may, every refusal, and what each change does to price calculations,
//! checkouts and the subscriptions that exist.

use serde_json::{Value, json};

use crate::support::fixtures::{OK_CARD, offer, time};
use crate::support::{TestApp, User};

const DAY: i64 = 86_400;

/// The clock's time `seconds` from now, as the API writes it.
fn from_now(app: &TestApp, seconds: i64) -> String {
    app.state.clock.now().plus_seconds(seconds).to_rfc3339()
}

/// The field names of a 400002's `errors`.
fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// A platform administrator's session and a non-administrator's.
async fn admin_and_user(app: &TestApp) -> (User, User) {
    (app.admin().await, app.sign_in("shopper@example.com").await)
}

#[tokio::test]
async fn modules_are_edited_by_platform_admins_only() {
    let app = TestApp::spawn().await;
    let (admin, user) = admin_and_user(&app).await;
    let crm = app.module(&admin.token, "crm").create().await;
    let path = format!("/v1/modules/{crm}");

    let res = app
        .patch_as(
            &admin.token,
            &path,
            &json!({"name": "  CRM Pro ", "description": "Customer relations, with forecasts."}),
        )
        .await;
    let edited = res.assert_status(200).clone();
    assert_eq!(
        (
            edited["name"].as_str(),
            edited["description"].as_str(),
            edited["key"].as_str()
        ),
        (
            Some("CRM Pro"),
            Some("Customer relations, with forecasts."),
            Some("crm")
        )
    );
    assert_eq!(edited["archivedAt"], Value::Null);
    let res = app
        .patch_as(&admin.token, &path, &json!({"description": ""}))
        .await;
    assert_eq!(
        (
            res.assert_status(200)["name"].as_str(),
            res.json["description"].as_str()
        ),
        (Some("CRM Pro"), Some("")),
        "an absent field keeps its value"
    );
    let res = app.patch_as(&admin.token, &path, &json!({})).await;
    assert_eq!(
        res.assert_status(200)["name"],
        "CRM Pro",
        "nothing to change"
    );
    assert_eq!(
        app.get_as(&user.token, &path).await.assert_status(200)["name"],
        "CRM Pro"
    );

    // Every rule of creation, each field named.
    let bad = json!({"name": "", "description": "x".repeat(20_001)});
    let res = app.patch_as(&admin.token, &path, &bad).await;
    assert_eq!(fields(res.assert_problem(400002)), ["name", "description"]);
    let res = app
        .patch_as(&admin.token, &path, &json!({"name": "a\u{7}b"}))
        .await;
    assert_eq!(fields(res.assert_problem(400002)), ["name"]);
    let res = app
        .patch_as(&admin.token, &path, &json!({"name": "x".repeat(201)}))
        .await;
    assert_eq!(fields(res.assert_problem(400002)), ["name"]);
    app.patch_as(&admin.token, &path, &json!({"key": "other"}))
        .await
        .assert_problem(400002);
    app.patch_as(&admin.token, &path, &json!({"name": 5}))
        .await
        .assert_problem(400001);

    // Who may: platform administrators, with `catalog:write` on an access token.
    app.patch_as(&user.token, &path, &json!({"name": "Mine"}))
        .await
        .assert_problem(403001);
    let reader = app.access_token(&admin, &["catalog:read"]).await;
    let res = app.patch_as(&reader, &path, &json!({"name": "X"})).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "catalog:write");
    let writer = app.access_token(&admin, &["catalog:write"]).await;
    app.patch_as(&writer, &path, &json!({"name": "CRM"}))
        .await
        .assert_status(200);
    // The module is found before the body is read.
    app.patch_as(&admin.token, "/v1/modules/mod_missing", &json!({"bad": 1}))
        .await
        .assert_problem(404003);

    let root = app.root_token().await;
    assert_eq!(app.audited(&root, "module.updated").await, 3);
}

#[tokio::test]
async fn an_archived_module_stays_listed_but_cannot_be_bought() {
    let app = TestApp::spawn().await;
    let (admin, user) = admin_and_user(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).create().await.id;
    let crm = app.module(&admin.token, "crm").price(1999).create().await;
    let wiki = app.module(&admin.token, "wiki").price(500).create().await;
    let archive = |id: &str| format!("/v1/modules/{id}/archive");

    // A calculation made before the archive, and a subscription that exists.
    let before = app
        .calculation(&owner.token, &org)
        .module(&wiki)
        .create()
        .await;
    let bought = app
        .buy(&owner.token, &org, &crm)
        .card(OK_CARD)
        .create()
        .await;
    let sub = bought["subscriptions"][0].clone();

    app.post_as(&user.token, &archive(&crm), &json!({}))
        .await
        .assert_problem(403001);
    let reader = app.access_token(&admin, &["catalog:read"]).await;
    let res = app.post_as(&reader, &archive(&crm), &json!({})).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "catalog:write");
    app.post_as(&admin.token, &archive("mod_missing"), &json!({}))
        .await
        .assert_problem(404003);

    let res = app.post_as(&admin.token, &archive(&crm), &json!({})).await;
    let archived = res.assert_status(200).clone();
    assert_eq!(archived["id"], crm.as_str());
    let at = archived["archivedAt"].clone();
    assert!(at.is_string(), "{archived}");
    app.advance(60).await;
    let res = app.post_as(&admin.token, &archive(&crm), &json!({})).await;
    assert_eq!(
        res.assert_status(200)["archivedAt"],
        at,
        "archiving again changes nothing"
    );
    app.post_as(&admin.token, &archive(&wiki), &json!({}))
        .await
        .assert_status(200);

    // Still listed and readable, with archivedAt; no active offer, no new offer.
    let list = app.get_as(&user.token, "/v1/modules").await;
    assert_eq!(list.assert_status(200)["total"], 2);
    let listed = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == crm.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["archivedAt"], at);
    let module = app.get_as(&user.token, &format!("/v1/modules/{crm}")).await;
    assert_eq!(module.assert_status(200)["archivedAt"], at);
    app.get_as(&user.token, &format!("/v1/modules/{crm}/active-offer"))
        .await
        .assert_problem(404002);
    let offers = app
        .get_as(&user.token, &format!("/v1/modules/{crm}/offers"))
        .await;
    assert_eq!(
        offers.assert_status(200)["total"],
        1,
        "its offers are still listed"
    );
    let res = app
        .post_as(
            &admin.token,
            &format!("/v1/modules/{crm}/offers"),
            &offer(999),
        )
        .await;
    assert_eq!(fields(res.assert_problem(400002)), ["moduleId"]);
    // An archived module may still be edited.
    app.patch_as(
        &admin.token,
        &format!("/v1/modules/{crm}"),
        &json!({"name": "Old CRM"}),
    )
    .await
    .assert_status(200);

    // New calculations: 404002; the earlier one: 409001 at checkout.
    let other = app.sign_in("other@example.com").await;
    let other_org = app.org(&other).create().await.id;
    app.calculation(&other.token, &other_org)
        .module(&crm)
        .send()
        .await
        .assert_problem(404002);
    let res = app
        .checkout(&owner.token, &org, &before)
        .card(OK_CARD)
        .send()
        .await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], before);

    // The subscription that exists goes on: it renews at its period's end on its own offer.
    // (Sessions idle out over a month; an access token does not.)
    let billing = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let id = sub["id"].as_str().unwrap();
    let end = time(&sub["currentPeriodEnd"]);
    app.advance(app.state.clock.now().seconds_until(end) + 3600)
        .await;
    let renewed = app.subscription(&billing, &org, id).await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(renewed["currentPeriodStart"], sub["currentPeriodEnd"]);
    assert_eq!(renewed["offerId"], sub["offerId"]);
    let invoice = renewed["latestInvoiceId"].as_str().unwrap();
    assert_ne!(invoice, bought["invoice"]["id"].as_str().unwrap());
    let bill = app.invoice(&billing, &org, invoice).await;
    assert_eq!(
        (
            bill["kind"].as_str(),
            bill["status"].as_str(),
            bill["total"]["amount"].as_i64()
        ),
        (Some("renewal"), Some("paid"), Some(1999))
    );

    let root = app.root_token().await;
    assert_eq!(
        app.audited(&root, "module.archived").await,
        2,
        "once per module"
    );
    assert_eq!(app.audited(&root, "subscription.renewed").await, 1);
}

#[tokio::test]
async fn an_offer_ends_only_earlier_and_its_calculations_go_stale() {
    let app = TestApp::spawn().await;
    let (admin, user) = admin_and_user(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).create().await.id;
    let crm = app
        .module(&admin.token, "crm")
        .without_offer()
        .create()
        .await;
    let wiki = app.module(&admin.token, "wiki").create().await;
    let offers = format!("/v1/modules/{crm}/offers");
    let created = app.post_as(&admin.token, &offers, &offer(1999)).await;
    let first = created.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{offers}/{first}");
    let calculation = app
        .calculation(&owner.token, &org)
        .module(&crm)
        .create()
        .await;

    // Who may, and ids before the body.
    let tomorrow = from_now(&app, DAY);
    let body = json!({ "validUntil": tomorrow });
    app.patch_as(&user.token, &path, &body)
        .await
        .assert_problem(403001);
    let reader = app.access_token(&admin, &["catalog:read"]).await;
    let res = app.patch_as(&reader, &path, &body).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "catalog:write");
    app.patch_as(
        &admin.token,
        &format!("/v1/modules/mod_missing/offers/{first}"),
        &json!({}),
    )
    .await
    .assert_problem(404003);
    app.patch_as(&admin.token, &format!("{offers}/off_missing"), &json!({}))
        .await
        .assert_problem(404003);
    let wiki_offer = app
        .get_as(&admin.token, &format!("/v1/modules/{wiki}/active-offer"))
        .await;
    let wiki_offer = wiki_offer.assert_status(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch_as(&admin.token, &format!("{offers}/{wiki_offer}"), &body)
        .await
        .assert_problem(404003);

    // The body: validUntil is required, nothing else may change, and it is checked against
    // now, validFrom and the end it has.
    app.patch_as(&admin.token, &path, &json!({}))
        .await
        .assert_problem(400001);
    let res = app
        .patch_as(
            &admin.token,
            &path,
            &json!({"validUntil": tomorrow, "price": {"amount": 1, "currency": "EUR"}}),
        )
        .await;
    res.assert_problem(400002);
    let res = app
        .patch_as(
            &admin.token,
            &path,
            &json!({"validUntil": from_now(&app, -60)}),
        )
        .await;
    assert_eq!(fields(res.assert_problem(400002)), ["validUntil"]);
    let res = app
        .patch_as(
            &admin.token,
            &path,
            &json!({"validUntil": "1999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        fields(res.assert_problem(400002)),
        ["validUntil", "validUntil"],
        "before now and before validFrom"
    );

    let res = app.patch_as(&admin.token, &path, &body).await;
    let ended = res.assert_status(200).clone();
    assert_eq!(
        (ended["id"].as_str(), time(&ended["validUntil"])),
        (Some(first.as_str()), time(&json!(tomorrow)))
    );
    assert_eq!(
        (ended["price"].clone(), ended["validFrom"].clone()),
        (
            created.json["price"].clone(),
            created.json["validFrom"].clone()
        ),
        "price and terms never change"
    );
    let res = app
        .patch_as(
            &admin.token,
            &path,
            &json!({"validUntil": from_now(&app, 2 * DAY)}),
        )
        .await;
    assert_eq!(
        fields(res.assert_problem(400002)),
        ["validUntil"],
        "only earlier"
    );
    app.patch_as(&admin.token, &path, &body)
        .await
        .assert_status(200);
    // Still active until then, but the calculation made before is stale.
    let active = app
        .get_as(&user.token, &format!("/v1/modules/{crm}/active-offer"))
        .await;
    assert_eq!(active.assert_status(200)["id"], first.as_str());
    let res = app.checkout(&owner.token, &org, &calculation).send().await;
    assert_eq!(
        res.assert_problem(409001)["priceCalculationId"],
        calculation
    );

    // Ended a minute from now, then past: no active offer, no new calculation.
    let soon = app
        .calculation(&owner.token, &org)
        .module(&crm)
        .create()
        .await;
    app.patch_as(
        &admin.token,
        &path,
        &json!({"validUntil": from_now(&app, 60)}),
    )
    .await
    .assert_status(200);
    app.advance(120).await;
    app.get_as(&user.token, &format!("/v1/modules/{crm}/active-offer"))
        .await
        .assert_problem(404002);
    app.calculation(&owner.token, &org)
        .module(&crm)
        .send()
        .await
        .assert_problem(404002);
    let res = app.checkout(&owner.token, &org, &soon).send().await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], soon);

    // A scheduled offer is withdrawn by ending it when it starts.
    let mut later = offer(2999);
    later["validFrom"] = json!("2999-01-01T00:00:00Z");
    let scheduled = app.post_as(&admin.token, &offers, &later).await;
    let scheduled = scheduled.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .patch_as(
            &admin.token,
            &format!("{offers}/{scheduled}"),
            &json!({"validUntil": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.assert_status(200)["validUntil"], "2999-01-01T00:00:00Z");

    let root = app.root_token().await;
    assert_eq!(
        app.audited(&root, "offer.ended").await,
        3,
        "the repeated end changed nothing"
    );
}

#[tokio::test]
async fn coupons_are_listed_read_and_deleted_by_platform_admins() {
    let app = TestApp::spawn().await;
    let (admin, user) = admin_and_user(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).create().await.id;
    let crm = app.module(&admin.token, "crm").price(1000).create().await;
    let wiki = app.module(&admin.token, "wiki").price(1000).create().await;
    let welcome = app
        .coupon(&admin.token, "welcome")
        .percent_off(10)
        .create()
        .await;
    let fixed = app
        .coupon(&admin.token, "FIXED")
        .amount_off(100, "EUR")
        .max_redemptions(5)
        .create()
        .await;
    let id = welcome["id"].as_str().unwrap();
    let path = format!("/v1/coupons/{id}");

    let list = app.get_as(&admin.token, "/v1/coupons").await;
    let list = list.assert_status(200).clone();
    assert_eq!(
        (
            list["total"].as_i64(),
            list["from"].as_i64(),
            list["limit"].as_i64()
        ),
        (Some(2), Some(0), Some(20))
    );
    assert_eq!(list["items"][0]["id"], fixed["id"], "newest first");
    assert_eq!(list["items"][1], welcome);
    let page = app.get_as(&admin.token, "/v1/coupons?from=1&limit=1").await;
    assert_eq!(page.assert_status(200)["items"][0]["id"], id);
    let empty = app.get_as(&admin.token, "/v1/coupons?limit=0").await;
    assert_eq!(
        (
            empty.assert_status(200)["items"].clone(),
            empty.json["total"].as_i64()
        ),
        (json!([]), Some(2))
    );
    app.get_as(&admin.token, "/v1/coupons?limit=101")
        .await
        .assert_problem(400005);
    app.get_as(&admin.token, "/v1/coupons?from=-1")
        .await
        .assert_problem(400003);
    let one = app.get_as(&admin.token, &path).await;
    assert_eq!(one.assert_status(200)["redemptions"], 0);
    assert_eq!(one.json["code"], "WELCOME");

    // Reads need `catalog:read` and a platform administrator; deleting, `catalog:write`.
    for route in ["/v1/coupons", path.as_str()] {
        app.get_as(&user.token, route).await.assert_problem(403001);
    }
    app.delete_as(&user.token, &path)
        .await
        .assert_problem(403001);
    let user_reader = app.access_token(&user, &["catalog:read"]).await;
    app.get_as(&user_reader, "/v1/coupons")
        .await
        .assert_problem(403001);
    let orgs_only = app.access_token(&admin, &["orgs:read"]).await;
    for route in ["/v1/coupons", path.as_str()] {
        let res = app.get_as(&orgs_only, route).await;
        assert_eq!(res.assert_problem(403014)["requiredScope"], "catalog:read");
    }
    let reader = app.access_token(&admin, &["catalog:read"]).await;
    app.get_as(&reader, &path).await.assert_status(200);
    let res = app.delete_as(&reader, &path).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "catalog:write");
    app.get_as(&admin.token, "/v1/coupons/cpn_missing")
        .await
        .assert_problem(404003);
    app.delete_as(&admin.token, "/v1/coupons/cpn_missing")
        .await
        .assert_problem(404003);

    // A purchase with it is counted; a calculation with it waits.
    let bought = app
        .calculation(&owner.token, &org)
        .module(&crm)
        .coupon("welcome")
        .create()
        .await;
    let bought = app
        .checkout(&owner.token, &org, &bought)
        .card(OK_CARD)
        .create()
        .await;
    let invoice = bought["invoice"]["id"].as_str().unwrap().to_string();
    assert_eq!(bought["invoice"]["discount"]["amount"], 100);
    assert_eq!(app.get_as(&admin.token, &path).await.json["redemptions"], 1);
    let waiting = app
        .calculation(&owner.token, &org)
        .module(&wiki)
        .coupon("WELCOME")
        .create()
        .await;

    app.delete_as(&admin.token, &path).await.assert_status(204);
    app.get_as(&admin.token, &path).await.assert_problem(404003);
    app.delete_as(&admin.token, &path)
        .await
        .assert_problem(404003);
    let list = app.get_as(&admin.token, "/v1/coupons").await;
    assert_eq!(list.assert_status(200)["total"], 1);
    assert_eq!(list.json["items"][0]["id"], fixed["id"]);
    let res = app
        .calculation(&owner.token, &org)
        .module(&wiki)
        .coupon("welcome")
        .send()
        .await;
    res.assert_problem(400012);
    let res = app.checkout(&owner.token, &org, &waiting).send().await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], waiting);
    let kept = app.invoice(&owner.token, &org, &invoice).await;
    assert_eq!(
        kept["discount"]["amount"], 100,
        "invoices keep their discount"
    );

    // Its code is free again: a new coupon takes it, and prices with it.
    let again = app
        .coupon(&admin.token, "Welcome")
        .percent_off(50)
        .create()
        .await;
    assert_ne!(again["id"], welcome["id"]);
    app.coupon(&admin.token, "WELCOME")
        .percent_off(5)
        .send()
        .await
        .assert_problem(400002);
    let res = app
        .calculation(&owner.token, &org)
        .module(&wiki)
        .coupon("welcome")
        .send()
        .await;
    assert_eq!(res.assert_status(201)["discount"]["amount"], 500);

    let root = app.root_token().await;
    assert_eq!(app.audited(&root, "coupon.deleted").await, 1);
}
