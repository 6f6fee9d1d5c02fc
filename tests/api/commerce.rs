//! Commerce (7): catalogue, price calculation, checkout, invoices, payments, cancellation,
//! refunds and the permission answers of section 9. Renewals are in `renewals.rs`.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::database::is_postgres;
use crate::support::fixtures::{DECLINED_CARD, NO_FUNDS_CARD, OK_CARD, card, offer, time};

#[tokio::test]
async fn the_catalogue_is_administered_by_platform_admins_and_read_by_anyone() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.sign_in("shopper@example.com").await;
    let body = json!({"key": "crm", "name": "CRM", "description": "Customer relations."});
    let created = app.post_as(&admin.token, "/v1/modules", &body).await;
    let created = created.assert_status(201).clone();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("mod_"));
    assert_eq!(
        (created["key"].as_str(), created["name"].as_str()),
        (Some("crm"), Some("CRM"))
    );
    let again = app.post_as(&admin.token, "/v1/modules", &body).await;
    assert_eq!(again.assert_problem(400002)["errors"][0]["field"], "key");
    let bad = json!({"key": "Not A Key", "name": "", "description": "x"});
    let res = app.post_as(&admin.token, "/v1/modules", &bad).await;
    assert_eq!(
        res.assert_problem(400002)["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.post_as(
        &user.token,
        "/v1/modules",
        &json!({"key": "x", "name": "X", "description": ""}),
    )
    .await
    .assert_problem(403001);

    // Reading needs `catalog:read` and nothing else.
    let orgs_only = app.access_token(&user, &["orgs:read"]).await;
    let res = app.get_as(&orgs_only, "/v1/modules").await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "catalog:read");
    let reader = app.access_token(&user, &["catalog:read"]).await;
    let list = app.get_as(&reader, "/v1/modules").await;
    assert_eq!(list.assert_status(200)["total"], 1);
    assert_eq!(list.json["items"][0]["id"], id);
    app.get_as(&reader, &format!("/v1/modules/{id}"))
        .await
        .assert_status(200);
    app.get_as(&reader, "/v1/modules/mod_missing")
        .await
        .assert_problem(404003);
    app.get_as(&reader, "/v1/modules/mod_missing/active-offer")
        .await
        .assert_problem(404003);
    let active = format!("/v1/modules/{id}/active-offer");
    app.get_as(&reader, &active).await.assert_problem(404002);

    // Offers: active while validFrom <= now < validUntil; the latest validFrom, then the
    // latest created, wins.
    let offers = format!("/v1/modules/{id}/offers");
    let make = |amount: i64, from: &str, until: Option<&str>| {
        let mut o = offer(amount);
        o["validFrom"] = json!(from);
        if let Some(until) = until {
            o["validUntil"] = json!(until);
        }
        o
    };
    let future = make(1, "2999-01-01T00:00:00Z", None);
    app.post_as(&admin.token, &offers, &future)
        .await
        .assert_status(201);
    app.get_as(&reader, &active).await.assert_problem(404002);
    let expired = make(2, "2000-01-01T00:00:00Z", Some("2001-01-01T00:00:00Z"));
    app.post_as(&admin.token, &offers, &expired)
        .await
        .assert_status(201);
    app.get_as(&reader, &active).await.assert_problem(404002);
    let old = make(3, "2000-01-01T00:00:00Z", None);
    app.post_as(&admin.token, &offers, &old)
        .await
        .assert_status(201);
    assert_eq!(
        app.get_as(&reader, &active).await.assert_status(200)["price"]["amount"],
        3
    );
    let newer = make(4, "2010-01-01T00:00:00Z", None);
    let newer = app
        .post_as(&admin.token, &offers, &newer)
        .await
        .assert_status(201)
        .clone();
    assert_eq!(newer["interval"], "month");
    assert_eq!(newer["price"], json!({"amount": 4, "currency": "EUR"}));
    let same_start = make(5, "2010-01-01T00:00:00Z", None);
    app.post_as(&admin.token, &offers, &same_start)
        .await
        .assert_status(201);
    assert_eq!(
        app.get_as(&reader, &active).await.assert_status(200)["price"]["amount"],
        5
    );
    let listed = app.get_as(&reader, &offers).await;
    assert_eq!(listed.assert_status(200)["total"], 5);
    assert_eq!(
        listed.json["items"][0]["price"]["amount"], 5,
        "newest first"
    );

    for (patch, field) in [
        (
            json!({"price": {"amount": 1, "currency": "eur"}}),
            "price.currency",
        ),
        (
            json!({"price": {"amount": 1, "currency": "XYZ"}}),
            "price.currency",
        ),
        (
            json!({"price": {"amount": -1, "currency": "EUR"}}),
            "price.amount",
        ),
        (json!({"interval": "week"}), "interval"),
        (json!({"validUntil": "1999-01-01T00:00:00Z"}), "validUntil"),
        (json!({"refundPeriodDays": -1}), "refundPeriodDays"),
    ] {
        let mut body = offer(1);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = app.post_as(&admin.token, &offers, &body).await;
        assert_eq!(
            res.assert_problem(400002)["errors"][0]["field"],
            field,
            "{patch}"
        );
    }
    let mut wrong_type = offer(1);
    wrong_type["price"]["amount"] = json!("1999");
    app.post_as(&admin.token, &offers, &wrong_type)
        .await
        .assert_problem(400001);
    // A key twice, at any depth, is 400001 naming it (not the last value kept).
    let mut twice = serde_json::to_string(&offer(1)).unwrap();
    twice = twice.replacen(
        r#""currency":"EUR""#,
        r#""currency":"EUR","currency":"USD""#,
        1,
    );
    let res = app
        .req(reqwest::Method::POST, &offers)
        .token(&admin.token)
        .body("application/json", twice)
        .send()
        .await;
    assert_eq!(res.assert_problem(400001)["argument"], "/price/currency");
    app.post_as(&admin.token, "/v1/modules/mod_missing/offers", &offer(1))
        .await
        .assert_problem(404003);
    app.post_as(&user.token, &offers, &offer(1))
        .await
        .assert_problem(403001);

    // Coupons: exactly one of percentOff (1..=100) and amountOff; codes are case-insensitive.
    let res = app
        .post_as(
            &admin.token,
            "/v1/coupons",
            &json!({"code": "welcome", "percentOff": 10}),
        )
        .await;
    let coupon = res.assert_status(201).clone();
    assert!(coupon["id"].as_str().unwrap().starts_with("cpn_"));
    assert_eq!(
        (coupon["code"].as_str(), coupon["redemptions"].as_i64()),
        (Some("WELCOME"), Some(0))
    );
    let fixed = json!({"code": "FIVE", "amountOff": {"amount": 500, "currency": "EUR"}, "maxRedemptions": 3,
        "validUntil": "2999-01-01T00:00:00Z"});
    let fixed = app
        .post_as(&admin.token, "/v1/coupons", &fixed)
        .await
        .assert_status(201)
        .clone();
    assert_eq!(
        fixed["amountOff"],
        json!({"amount": 500, "currency": "EUR"})
    );
    for bad in [
        json!({"code": "WELCOME"}),
        json!({"code": "Welcome", "percentOff": 5}),
        json!({"code": "BOTH", "percentOff": 5, "amountOff": {"amount": 1, "currency": "EUR"}}),
        json!({"code": "NONE"}),
        json!({"code": "ZERO", "percentOff": 0}),
        json!({"code": "MORE", "percentOff": 101}),
        json!({"code": "MAX", "percentOff": 5, "maxRedemptions": 0}),
        json!({"code": "has space", "percentOff": 5}),
        json!({"code": "CUR", "amountOff": {"amount": 1, "currency": "euro"}}),
        json!({"code": "XYZ", "amountOff": {"amount": 1, "currency": "XYZ"}}),
    ] {
        app.post_as(&admin.token, "/v1/coupons", &bad)
            .await
            .assert_problem(400002);
    }
    app.post_as(
        &user.token,
        "/v1/coupons",
        &json!({"code": "MINE", "percentOff": 5}),
    )
    .await
    .assert_problem(403001);

    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "module.created").await, 1);
    assert_eq!(app.audited(&root, "offer.created").await, 5);
    assert_eq!(app.audited(&root, "coupon.created").await, 2);
}

#[tokio::test]
async fn price_calculations_follow_the_formulas() {
    let app = TestApp::spawn_configured(|c| c.tax_rates = "DE=19,CH=7.7".into()).await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let de = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let mut yearly = offer(500);
    yearly["interval"] = json!("year");
    let wiki = app.module(&admin, "wiki").offer(yearly).create().await;
    app.coupon(&admin, "TENOFF").percent_off(10).create().await;

    let res = app
        .calculation(&owner.token, &de)
        .item(&crm, 3)
        .coupon("tenoff")
        .send()
        .await;
    let calc = res.assert_status(201).clone();
    assert!(calc["id"].as_str().unwrap().starts_with("pc_"));
    let offer_id = app
        .get_as(&owner.token, &format!("/v1/modules/{crm}/active-offer"))
        .await
        .json["id"]
        .clone();
    assert_eq!(
        calc["lines"],
        json!([{"moduleId": crm, "offerId": offer_id, "unitPrice": {"amount": 1999, "currency": "EUR"}, "quantity": 3,
            "amount": {"amount": 5997, "currency": "EUR"}}])
    );
    let eur = |amount: i64| json!({"amount": amount, "currency": "EUR"});
    // 10 % of 59.97 = 5.997 → 6.00; 19 % of 53.97 = 10.2543 → 10.25.
    assert_eq!(
        (
            &calc["subtotal"],
            &calc["discount"],
            &calc["tax"],
            &calc["total"]
        ),
        (&eur(5997), &eur(600), &eur(1025), &eur(6422))
    );
    assert_eq!(
        (calc["currency"].as_str(), calc["couponCode"].as_str()),
        (Some("EUR"), Some("TENOFF"))
    );
    assert_eq!(
        time(&calc["createdAt"]).seconds_until(time(&calc["validUntil"])),
        1800
    );

    // Two lines, no coupon: 19 % of 29.99 = 5.6981 → 5.70.
    let items = json!([{"moduleId": crm, "quantity": 1}, {"moduleId": wiki, "quantity": 2}]);
    let calc = app
        .calculation(&owner.token, &de)
        .items(items)
        .send()
        .await
        .assert_status(201)
        .clone();
    assert_eq!(
        (
            &calc["subtotal"],
            &calc["discount"],
            &calc["tax"],
            &calc["total"]
        ),
        (&eur(2999), &eur(0), &eur(570), &eur(3569))
    );

    // Half up: 5 % of 19.90 = 0.995 → 1.00; 19 % of 18.90 = 3.591 → 3.59.
    let half = app.module(&admin, "half").price(1990).create().await;
    app.coupon(&admin, "FIVE").percent_off(5).create().await;
    let calc = app
        .calculation(&owner.token, &de)
        .module(&half)
        .coupon("FIVE")
        .send()
        .await;
    let calc = calc.assert_status(201).clone();
    assert_eq!(
        (&calc["discount"], &calc["tax"], &calc["total"]),
        (&eur(100), &eur(359), &eur(2249))
    );

    // A fractional rate: 7.7 % of 1.50 = 0.1155 → 0.12.
    let ch = app.org(&owner).country("CH").create().await.id;
    let tiny = app.module(&admin, "tiny").price(150).create().await;
    let calc = app
        .calculation(&owner.token, &ch)
        .module(&tiny)
        .send()
        .await;
    assert_eq!(
        (&calc.assert_status(201)["tax"], &calc.json["total"]),
        (&eur(12), &eur(162))
    );

    // A country without a rate pays 0 %; a fixed discount is capped at the subtotal.
    let it = app.org(&owner).country("IT").create().await.id;
    let calc = app
        .calculation(&owner.token, &it)
        .module(&tiny)
        .send()
        .await;
    assert_eq!(calc.assert_status(201)["tax"], eur(0));
    app.coupon(&admin, "BIG")
        .amount_off(100000, "EUR")
        .create()
        .await;
    let calc = app
        .calculation(&owner.token, &de)
        .module(&crm)
        .coupon("big")
        .send()
        .await;
    let calc = calc.assert_status(201).clone();
    assert_eq!(
        (&calc["discount"], &calc["tax"], &calc["total"]),
        (&eur(1999), &eur(0), &eur(0))
    );
}

#[tokio::test]
async fn price_calculations_are_read_back_as_created_by_their_organization_only() {
    let app = TestApp::spawn_configured(|c| c.tax_rates = "DE=19".into()).await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(500).create().await;
    app.coupon(&admin, "TENOFF").percent_off(10).create().await;
    let items = json!([{"moduleId": wiki, "quantity": 2}, {"moduleId": crm, "quantity": 1}]);
    let created = app
        .calculation(&owner.token, &org)
        .items(items)
        .coupon("tenoff")
        .send()
        .await;
    let created = created.assert_status(201).clone();
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/orgs/{org}/price-calculations/{id}");
    let read = app.get_as(&owner.token, &path).await;
    assert_eq!(
        read.assert_status(200),
        &created,
        "the POST's answer, lines in order"
    );
    let plain = app
        .calculation(&owner.token, &org)
        .module(&crm)
        .send()
        .await;
    let plain = plain.assert_status(201).clone();
    let plain_path = format!(
        "/v1/orgs/{org}/price-calculations/{}",
        plain["id"].as_str().unwrap()
    );
    let read = app.get_as(&owner.token, &plain_path).await;
    assert_eq!(read.assert_status(200), &plain);
    assert!(read.json["couponCode"].is_null());

    // Still readable once it has expired: `validUntil` says so.
    app.advance(3600).await;
    assert_eq!(
        app.get_as(&owner.token, &path).await.assert_status(200),
        &created
    );

    // `billing:read` is enough; the roles that may create one may read it.
    let read_only = app.access_token(&owner, &["billing:read"]).await;
    app.get_as(&read_only, &path).await.assert_status(200);
    let orgs_only = app.access_token(&owner, &["orgs:read"]).await;
    assert_eq!(
        app.get_as(&orgs_only, &path).await.assert_problem(403014)["requiredScope"],
        "billing:read"
    );
    let billing = app.sign_in("billing@example.com").await;
    app.add_member(&org, &billing, "billing").await;
    app.get_as(&billing.token, &path).await.assert_status(200);
    let member = app.sign_in("member@example.com").await;
    app.add_member(&org, &member, "member").await;
    app.get_as(&member.token, &path)
        .await
        .assert_problem(403009);

    // Unknown, or another organization's: 404003 (and a stranger is no member: 403001).
    app.get_as(
        &owner.token,
        &format!("/v1/orgs/{org}/price-calculations/pc_missing"),
    )
    .await
    .assert_problem(404003);
    let other = app.sign_in("other@example.com").await;
    let theirs = app.org(&other).country("DE").create().await.id;
    app.get_as(
        &other.token,
        &format!("/v1/orgs/{theirs}/price-calculations/{id}"),
    )
    .await
    .assert_problem(404003);
    app.get_as(&other.token, &path).await.assert_problem(403001);
}

#[tokio::test]
async fn price_calculation_errors_answer_in_section_3_order() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(500).create().await;
    let mut dollars = offer(700);
    dollars["price"]["currency"] = json!("USD");
    let usd = app.module(&admin, "usd").offer(dollars).create().await;
    let bare = app
        .post_as(
            &admin,
            "/v1/modules",
            &json!({"key": "bare", "name": "Bare", "description": ""}),
        )
        .await;
    let bare = bare.assert_status(201)["id"].as_str().unwrap().to_string();
    let t = &owner.token;

    app.calculation(t, &org)
        .module(&crm)
        .coupon("NOPE")
        .send()
        .await
        .assert_problem(400012);
    app.calculation(t, &org)
        .module(&bare)
        .send()
        .await
        .assert_problem(404002);
    app.calculation(t, &org)
        .module("mod_unknown")
        .send()
        .await
        .assert_problem(404002);
    app.calculation(t, &org)
        .module(&crm)
        .module(&usd)
        .send()
        .await
        .assert_problem(400012);
    for quantity in [0, -1, 1001] {
        app.calculation(t, &org)
            .item(&crm, quantity)
            .send()
            .await
            .assert_problem(400012);
    }
    // Step 8 (the body) before step 9: a bad quantity wins over an unknown module.
    app.calculation(t, &org)
        .item("mod_unknown", 0)
        .send()
        .await
        .assert_problem(400012);
    app.calculation(t, &org)
        .module(&crm)
        .item(&crm, 2)
        .send()
        .await
        .assert_problem(400012);
    app.calculation(t, &org)
        .items(json!([]))
        .send()
        .await
        .assert_problem(400002);
    app.calculation(t, &org)
        .items(json!([{"moduleId": crm, "quantity": "x"}]))
        .send()
        .await
        .assert_problem(400001);
    app.calculation(t, &org)
        .items(json!([{"moduleId": crm, "quantity": 1, "extra": 1}]))
        .send()
        .await
        .assert_problem(400002);

    // Coupons: another currency, expired, used up.
    app.coupon(&admin, "USDOFF")
        .amount_off(100, "USD")
        .create()
        .await;
    app.calculation(t, &org)
        .module(&crm)
        .coupon("USDOFF")
        .send()
        .await
        .assert_problem(400012);
    app.calculation(t, &org)
        .module(&usd)
        .coupon("USDOFF")
        .send()
        .await
        .assert_status(201);
    let soon = app.state.clock.now().plus_seconds(60);
    app.coupon(&admin, "SOON")
        .percent_off(5)
        .valid_until(soon)
        .create()
        .await;
    app.calculation(t, &org)
        .module(&crm)
        .coupon("SOON")
        .send()
        .await
        .assert_status(201);
    app.advance(61).await;
    app.calculation(t, &org)
        .module(&crm)
        .coupon("SOON")
        .send()
        .await
        .assert_problem(400012);
    app.coupon(&admin, "ONCE")
        .percent_off(5)
        .max_redemptions(1)
        .create()
        .await;
    let calc = app
        .calculation(t, &org)
        .module(&wiki)
        .coupon("ONCE")
        .send()
        .await
        .assert_status(201)["id"]
        .clone();
    app.checkout(t, &org, calc.as_str().unwrap())
        .card(OK_CARD)
        .send()
        .await
        .assert_status(201);
    app.calculation(t, &org)
        .module(&crm)
        .coupon("ONCE")
        .send()
        .await
        .assert_problem(400012);

    // Who may: a member may not (403008), an outsider is not a member (403001), a token needs
    // billing:write (403014).
    let plain = app
        .invited_member(&owner, &org, "plain@example.com", "member")
        .await;
    app.calculation(&plain.token, &org)
        .module(&crm)
        .send()
        .await
        .assert_problem(403008);
    let outsider = app.sign_in("outsider@example.com").await;
    app.calculation(&outsider.token, &org)
        .module(&crm)
        .send()
        .await
        .assert_problem(403001);
    let read_only = app.access_token(&owner, &["billing:read"]).await;
    let res = app.calculation(&read_only, &org).module(&crm).send().await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "billing:write");
    let writer = app.access_token(&owner, &["billing:write"]).await;
    app.calculation(&writer, &org)
        .module(&crm)
        .send()
        .await
        .assert_status(201);
}

#[tokio::test]
async fn checkout_creates_a_paid_invoice_and_active_subscriptions_once() {
    let app = TestApp::spawn_configured(|c| c.tax_rates = "DE=19".into()).await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let t = &owner.token;

    let calc = app.calculation(t, &org).module(&crm).create().await;
    let res = app.checkout(t, &org, &calc).card(OK_CARD).send().await;
    let done = res.assert_status(201).clone();
    let invoice = &done["invoice"];
    let eur = |amount: i64| json!({"amount": amount, "currency": "EUR"});
    assert!(invoice["id"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(
        (invoice["status"].as_str(), invoice["kind"].as_str()),
        (Some("paid"), Some("checkout"))
    );
    assert_eq!(
        (&invoice["total"], &invoice["amountDue"], &invoice["tax"]),
        (&eur(2379), &eur(0), &eur(380))
    );
    assert!(invoice["paidAt"].is_string());
    let payments = invoice["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert!(payments[0]["id"].as_str().unwrap().starts_with("pay_"));
    assert_eq!(
        (&payments[0]["amount"], payments[0]["status"].as_str()),
        (&eur(2379), Some("succeeded"))
    );
    assert_eq!(invoice["refunds"], json!([]));
    let sub = &done["subscriptions"][0];
    assert!(sub["id"].as_str().unwrap().starts_with("sub_"));
    assert_eq!(
        (sub["status"].as_str(), sub["moduleId"].as_str()),
        (Some("active"), Some(crm.as_str()))
    );
    assert_eq!(sub["cancelAtPeriodEnd"], false);
    let (start, end) = (
        time(&sub["currentPeriodStart"]),
        time(&sub["currentPeriodEnd"]),
    );
    assert!(
        (28 * 86400..=31 * 86400).contains(&start.seconds_until(end)),
        "one calendar month"
    );
    assert_eq!(invoice["lines"][0]["subscriptionId"], sub["id"]);
    assert_eq!(invoice["lines"][0]["amount"], eur(1999));
    assert_eq!(done["agreements"], json!([]));

    // Once only: the same calculation again, and the same module in a new calculation.
    app.checkout(t, &org, &calc)
        .card(OK_CARD)
        .send()
        .await
        .assert_problem(400013);
    let again = app.calculation(t, &org).module(&crm).create().await;
    app.checkout(t, &org, &again)
        .card(OK_CARD)
        .send()
        .await
        .assert_problem(400013);
    app.checkout(t, &org, "pc_unknown")
        .send()
        .await
        .assert_problem(400002);
    let id = invoice["id"].as_str().unwrap();
    app.pay(t, &org, id, OK_CARD).await.assert_problem(400007);

    let list = app.get_as(t, &format!("/v1/orgs/{org}/invoices")).await;
    assert_eq!(list.assert_status(200)["total"], 1);
    assert_eq!(list.json["items"][0], *invoice);
    assert_eq!(app.invoice(t, &org, id).await, *invoice);
    app.get_as(t, &format!("/v1/orgs/{org}/invoices/inv_missing"))
        .await
        .assert_problem(404003);
    let subs = app
        .get_as(t, &format!("/v1/orgs/{org}/subscriptions"))
        .await;
    assert_eq!(subs.assert_status(200)["total"], 1);
    assert_eq!(subs.json["items"][0], *sub);
    // The lists filter with the query language.
    let paid = app
        .get_as(
            t,
            &format!("/v1/orgs/{org}/invoices?query=status:paid%20AND%20total%3E=2379"),
        )
        .await;
    assert_eq!(paid.assert_status(200)["total"], 1);
    let open = app
        .get_as(t, &format!("/v1/orgs/{org}/invoices?query=status:open"))
        .await;
    assert_eq!(open.assert_status(200)["total"], 0);
    let active = app
        .get_as(
            t,
            &format!("/v1/orgs/{org}/subscriptions?query=status:active"),
        )
        .await;
    assert_eq!(active.assert_status(200)["total"], 1);
    app.get_as(t, &format!("/v1/orgs/{org}/invoices?query=total%3E%3E1"))
        .await
        .assert_problem(400015);

    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "checkout.completed").await, 1);
    assert_eq!(app.audited(&root, "payment.succeeded").await, 1);
    assert_eq!(app.audited(&root, "subscription.activated").await, 1);
}

#[tokio::test]
async fn racing_checkouts_of_one_calculation_create_one_invoice() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let calc = app
        .calculation(&owner.token, &org)
        .module(&crm)
        .create()
        .await;
    let checkout = app.checkout(&owner.token, &org, &calc).card(OK_CARD);
    let answers = join_all((0..10).map(|_| checkout.send())).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for res in answers.iter().filter(|r| r.status != 201) {
        res.assert_problem(400013);
    }
    let invoices = app
        .get_as(&owner.token, &format!("/v1/orgs/{org}/invoices"))
        .await;
    assert_eq!(invoices.assert_status(200)["total"], 1);
    assert_eq!(
        invoices.json["items"][0]["payments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn declined_cards_change_nothing_and_say_why() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let t = &owner.token;
    let calc = app.calculation(t, &org).module(&crm).create().await;

    let res = app
        .checkout(t, &org, &calc)
        .card(DECLINED_CARD)
        .send()
        .await;
    assert_eq!(res.assert_problem(400013)["declineCode"], "card_declined");
    let invoices = app.get_as(t, &format!("/v1/orgs/{org}/invoices")).await;
    assert_eq!(
        invoices.assert_status(200)["total"],
        0,
        "the checkout rolled back"
    );
    assert_eq!(
        app.get_as(t, &format!("/v1/orgs/{org}/subscriptions"))
            .await
            .json["total"],
        0
    );
    for bad in [
        json!({"type": "sepa", "number": OK_CARD}),
        json!({"type": "card", "number": "abc"}),
        json!("pm_x"),
    ] {
        let body = json!({"priceCalculationId": calc, "paymentMethod": bad});
        app.post_as(t, &format!("/v1/orgs/{org}/checkouts"), &body)
            .await
            .assert_problem(400002);
    }

    // The same calculation, without paying: an open invoice, a pending subscription.
    let done = app
        .checkout(t, &org, &calc)
        .send()
        .await
        .assert_status(201)
        .clone();
    let invoice = done["invoice"]["id"].as_str().unwrap();
    assert_eq!(done["invoice"]["status"], "open");
    assert_eq!(done["invoice"]["amountDue"], done["invoice"]["total"]);
    assert_eq!(done["invoice"]["paidAt"], Value::Null);
    let sub = &done["subscriptions"][0];
    assert_eq!(
        (sub["status"].as_str(), &sub["currentPeriodStart"]),
        (Some("pending"), &Value::Null)
    );

    let res = app.pay(t, &org, invoice, NO_FUNDS_CARD).await;
    assert_eq!(
        res.assert_problem(400013)["declineCode"],
        "insufficient_funds"
    );
    let res = app.pay(t, &org, invoice, "4242424242424241").await;
    assert_eq!(
        res.assert_problem(400013)["declineCode"],
        "incorrect_number"
    );
    let path = format!("/v1/orgs/{org}/invoices/{invoice}/payments");
    app.post_as(t, &path, &json!({"paymentMethod": {"type": "card"}}))
        .await
        .assert_problem(400002);
    app.post_as(t, &path, &json!({}))
        .await
        .assert_problem(400001);
    assert_eq!(app.invoice(t, &org, invoice).await["status"], "open");

    let payment = app
        .pay(t, &org, invoice, OK_CARD)
        .await
        .assert_status(201)
        .clone();
    assert!(payment["id"].as_str().unwrap().starts_with("pay_"));
    assert_eq!(
        (payment["invoiceId"].as_str(), payment["status"].as_str()),
        (Some(invoice), Some("succeeded"))
    );
    assert_eq!(payment["amount"], done["invoice"]["total"]);
    let paid = app.invoice(t, &org, invoice).await;
    assert_eq!(
        (
            paid["status"].as_str(),
            paid["amountDue"]["amount"].as_i64()
        ),
        (Some("paid"), Some(0))
    );
    assert_eq!(paid["payments"][0], payment);
    let sub = app.subscription(t, &org, sub["id"].as_str().unwrap()).await;
    assert_eq!(sub["status"], "active");
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "payment.declined").await, 3);
}

#[tokio::test]
async fn required_agreements_hold_subscriptions_pending_until_signed() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let mut legal = offer(1999);
    legal["agreementRequired"] = json!(true);
    let first = app
        .module(&admin, "legal-a")
        .offer(legal.clone())
        .create()
        .await;
    let second = app.module(&admin, "legal-b").offer(legal).create().await;
    let t = &owner.token;
    let me = format!("/v1/orgs/{org}/members/{}", owner.id);
    app.patch_as(t, &me, &json!({"legalSignatory": true}))
        .await
        .assert_status(200);

    // Paid first, signed later.
    let done = app.buy(t, &org, &first).card(OK_CARD).create().await;
    assert_eq!(done["invoice"]["status"], "paid");
    let sub = done["subscriptions"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(done["subscriptions"][0]["status"], "pending");
    let agreement = &done["agreements"][0];
    assert_eq!(
        (agreement["status"].as_str(), agreement["moduleId"].as_str()),
        (Some("pending"), Some(first.as_str()))
    );
    assert_eq!(agreement["title"], "Module legal-a");
    let listed = app.get_as(t, &format!("/v1/orgs/{org}/agreements")).await;
    assert_eq!(listed.assert_status(200)["items"][0]["id"], agreement["id"]);
    let sign = format!(
        "/v1/orgs/{org}/agreements/{}/sign",
        agreement["id"].as_str().unwrap()
    );
    app.post_as(t, &sign, &json!({})).await.assert_status(200);
    let now = app.subscription(t, &org, &sub).await;
    assert_eq!(now["status"], "active");
    assert!(now["currentPeriodStart"].is_string());

    // Signed first, paid later.
    let done = app.buy(t, &org, &second).create().await;
    let sub = done["subscriptions"][0]["id"].as_str().unwrap().to_string();
    let sign = format!(
        "/v1/orgs/{org}/agreements/{}/sign",
        done["agreements"][0]["id"].as_str().unwrap()
    );
    app.post_as(t, &sign, &json!({})).await.assert_status(200);
    assert_eq!(app.subscription(t, &org, &sub).await["status"], "pending");
    let invoice = done["invoice"]["id"].as_str().unwrap();
    app.pay(t, &org, invoice, OK_CARD).await.assert_status(201);
    assert_eq!(app.subscription(t, &org, &sub).await["status"], "active");
}

#[tokio::test]
async fn stale_calculations_answer_409001() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(500).create().await;
    let docs = app.module(&admin, "docs").price(300).create().await;
    let t = &owner.token;

    // Expired (30 minutes).
    let calc = app.calculation(t, &org).module(&crm).create().await;
    app.advance(1801).await;
    let res = app.checkout(t, &org, &calc).card(OK_CARD).send().await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], calc);

    // A new offer replaced the one it used.
    let calc = app
        .calculation(t, &org)
        .module(&crm)
        .module(&wiki)
        .create()
        .await;
    let mut newer = offer(2499);
    newer["validFrom"] = json!(app.state.clock.now());
    app.post_as(&admin, &format!("/v1/modules/{crm}/offers"), &newer)
        .await
        .assert_status(201);
    let res = app.checkout(t, &org, &calc).send().await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], calc);
    let fresh = app.calculation(t, &org).module(&crm).send().await;
    assert_eq!(fresh.assert_status(201)["subtotal"]["amount"], 2499);
    let fresh = fresh.json["id"].as_str().unwrap().to_string();
    app.checkout(t, &org, &fresh)
        .card(OK_CARD)
        .send()
        .await
        .assert_status(201);

    // The coupon was used up, or expired, in between.
    app.coupon(&admin, "ONCE")
        .percent_off(50)
        .max_redemptions(1)
        .create()
        .await;
    let a = app
        .calculation(t, &org)
        .module(&wiki)
        .coupon("ONCE")
        .send()
        .await
        .assert_status(201)["id"]
        .clone();
    let b = app
        .calculation(t, &org)
        .module(&docs)
        .coupon("ONCE")
        .send()
        .await
        .assert_status(201)["id"]
        .clone();
    app.checkout(t, &org, a.as_str().unwrap())
        .card(OK_CARD)
        .send()
        .await
        .assert_status(201);
    let res = app
        .checkout(t, &org, b.as_str().unwrap())
        .card(OK_CARD)
        .send()
        .await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], b);
    let until = app.state.clock.now().plus_seconds(600);
    app.coupon(&admin, "BRIEF")
        .percent_off(50)
        .valid_until(until)
        .create()
        .await;
    let c = app
        .calculation(t, &org)
        .module(&docs)
        .coupon("BRIEF")
        .send()
        .await
        .assert_status(201)["id"]
        .clone();
    app.advance(601).await;
    app.checkout(t, &org, c.as_str().unwrap())
        .card(OK_CARD)
        .send()
        .await
        .assert_problem(409001);
    // Nothing was left behind by the refused checkouts.
    let invoices = app.get_as(t, &format!("/v1/orgs/{org}/invoices")).await;
    assert_eq!(invoices.assert_status(200)["total"], 2);
}

#[tokio::test]
async fn a_zero_total_checkout_is_paid_at_once_and_nothing_is_due() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    app.coupon(&admin, "FREE").percent_off(100).create().await;
    let t = &owner.token;
    let calc = app
        .calculation(t, &org)
        .item(&crm, 2)
        .coupon("FREE")
        .send()
        .await;
    assert_eq!(calc.assert_status(201)["total"]["amount"], 0);
    let done = app
        .checkout(t, &org, calc.json["id"].as_str().unwrap())
        .send()
        .await
        .assert_status(201)
        .clone();
    let invoice = &done["invoice"];
    assert_eq!(
        (
            invoice["status"].as_str(),
            invoice["amountDue"]["amount"].as_i64()
        ),
        (Some("paid"), Some(0))
    );
    assert!(invoice["paidAt"].is_string());
    assert_eq!(invoice["payments"], json!([]));
    assert_eq!(done["subscriptions"][0]["status"], "active");
    app.pay(t, &org, invoice["id"].as_str().unwrap(), OK_CARD)
        .await
        .assert_problem(400008);
    let sub = done["subscriptions"][0]["id"].as_str().unwrap();
    let refund = format!("/v1/orgs/{org}/subscriptions/{sub}/refund-requests");
    app.post_as(t, &refund, &json!({"reason": "free"}))
        .await
        .assert_problem(400008);
}

#[tokio::test]
async fn two_hundred_racing_payments_pay_an_invoice_once() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let done = app.buy(&owner.token, &org, &crm).create().await;
    let invoice = done["invoice"]["id"].as_str().unwrap().to_string();
    // On PostgreSQL a second process on the same database serves half of the requests.
    let peer = match is_postgres() {
        true => Some(app.spawn_peer().await),
        false => None,
    };
    let path = format!("/v1/orgs/{org}/invoices/{invoice}/payments");
    let body = json!({"paymentMethod": card(OK_CARD)});
    let requests = (0..200).map(|i| {
        let base = match (&peer, i % 2) {
            (Some(peer), 1) => peer.base.clone(),
            _ => app.base.clone(),
        };
        let request = app
            .client
            .post(format!("{base}{path}"))
            .bearer_auth(&owner.token)
            .json(&body);
        async move {
            let res = request.send().await.expect("request");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    });
    let answers = join_all(requests).await;
    let paid = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == 400 && b["code"] == 400007)
        .count();
    assert_eq!(
        (paid, refused),
        (1, 199),
        "statuses: {:?}",
        answers
            .iter()
            .map(|(s, b)| (*s, b["code"].as_i64()))
            .collect::<std::collections::BTreeSet<_>>()
    );
    let invoice = app.invoice(&owner.token, &org, &invoice).await;
    assert_eq!(invoice["payments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn roles_decide_who_reads_pays_cancels_and_refunds() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(500).create().await;
    let org_admin = app
        .invited_member(&owner, &org, "admin@acme.example", "admin")
        .await;
    let billing = app
        .invited_member(&owner, &org, "billing@acme.example", "billing")
        .await;
    let plain = app
        .invited_member(&owner, &org, "member@acme.example", "member")
        .await;
    let outsider = app.sign_in("outsider@example.com").await;

    // The billing member buys without paying, then pays.
    let done = app.buy(&billing.token, &org, &crm).create().await;
    let invoice = done["invoice"]["id"].as_str().unwrap().to_string();
    let sub = done["subscriptions"][0]["id"].as_str().unwrap().to_string();
    let invoices = format!("/v1/orgs/{org}/invoices");
    app.get_as(&plain.token, &invoices)
        .await
        .assert_problem(403009);
    app.get_as(&plain.token, &format!("{invoices}/{invoice}"))
        .await
        .assert_problem(403009);
    app.get_as(&outsider.token, &invoices)
        .await
        .assert_problem(403001);
    app.get_as(&org_admin.token, &invoices)
        .await
        .assert_status(200);
    app.pay(&plain.token, &org, &invoice, OK_CARD)
        .await
        .assert_problem(403008);
    let read_only = app.access_token(&billing, &["billing:read"]).await;
    let res = app.pay(&read_only, &org, &invoice, OK_CARD).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "billing:write");
    app.pay(&billing.token, &org, &invoice, OK_CARD)
        .await
        .assert_status(201);

    // Everybody in the organization reads subscriptions.
    let subs = format!("/v1/orgs/{org}/subscriptions");
    assert_eq!(
        app.get_as(&plain.token, &subs).await.assert_status(200)["total"],
        1
    );
    app.get_as(&read_only, &subs).await.assert_status(200);
    app.get_as(&outsider.token, &subs)
        .await
        .assert_problem(403001);

    // Cancel and refund: owner and billing only.
    let cancel = format!("{subs}/{sub}/cancel");
    let refund = format!("{subs}/{sub}/refund-requests");
    app.post_as(&org_admin.token, &cancel, &json!({}))
        .await
        .assert_problem(403010);
    app.post_as(&plain.token, &cancel, &json!({}))
        .await
        .assert_problem(403010);
    app.post_as(&org_admin.token, &refund, &json!({"reason": "x"}))
        .await
        .assert_problem(403008);
    let res = app.post_as(&billing.token, &cancel, &json!({})).await;
    assert_eq!(res.assert_status(200)["cancelAtPeriodEnd"], true);

    // Nested ids must belong to the organization.
    let elsewhere = app.org(&outsider).country("FR").create().await.id;
    let theirs = app.buy(&outsider.token, &elsewhere, &wiki).create().await;
    let their_invoice = theirs["invoice"]["id"].as_str().unwrap();
    let their_sub = theirs["subscriptions"][0]["id"].as_str().unwrap();
    app.get_as(&owner.token, &format!("{invoices}/{their_invoice}"))
        .await
        .assert_problem(404003);
    app.pay(&owner.token, &org, their_invoice, OK_CARD)
        .await
        .assert_problem(404003);
    app.post_as(
        &owner.token,
        &format!("{subs}/{their_sub}/cancel"),
        &json!({}),
    )
    .await
    .assert_problem(404003);
    app.get_as(&owner.token, &format!("{subs}/sub_missing"))
        .await
        .assert_problem(404003);
}

#[tokio::test]
async fn refunds_give_back_the_current_period_once_within_the_refund_period() {
    let app = TestApp::spawn_configured(|c| c.tax_rates = "DE=19".into()).await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(1000).create().await;
    let docs = app.module(&admin, "docs").price(300).create().await;
    let late = app.module(&admin, "late").price(300).create().await;
    let t = &owner.token;
    let refund = |sub: &str| format!("/v1/orgs/{org}/subscriptions/{sub}/refund-requests");

    // Two lines on one invoice: each refund is its line's share of the total (incl. tax).
    let calc = app
        .calculation(t, &org)
        .module(&crm)
        .module(&wiki)
        .create()
        .await;
    let done = app
        .checkout(t, &org, &calc)
        .card(OK_CARD)
        .send()
        .await
        .assert_status(201)
        .clone();
    assert_eq!(done["invoice"]["total"]["amount"], 3569);
    let invoice = done["invoice"]["id"].as_str().unwrap();
    let first = done["subscriptions"][0]["id"].as_str().unwrap();
    let res = app
        .post_as(t, &refund(first), &json!({"reason": "changed our mind"}))
        .await;
    let refunded = res.assert_status(201).clone();
    assert!(refunded["id"].as_str().unwrap().starts_with("rf_"));
    assert_eq!(
        (
            refunded["subscriptionId"].as_str(),
            refunded["invoiceId"].as_str()
        ),
        (Some(first), Some(invoice))
    );
    assert_eq!(
        (
            refunded["amount"]["amount"].as_i64(),
            refunded["status"].as_str()
        ),
        (Some(2379), Some("succeeded"))
    );
    let sub = app.subscription(t, &org, first).await;
    assert_eq!(sub["status"], "ended");
    assert!(sub["endedAt"].is_string());
    let after = app.invoice(t, &org, invoice).await;
    assert_eq!(after["status"], "paid", "finished invoices are not edited");
    assert_eq!(after["refunds"][0], refunded);
    app.post_as(t, &refund(first), &json!({"reason": "again"}))
        .await
        .assert_problem(400008);
    app.post_as(t, &refund(first), &json!({"reason": ""}))
        .await
        .assert_problem(400002);

    // Two racing requests: one refund.
    let second = done["subscriptions"][1]["id"].as_str().unwrap();
    let body = json!({"reason": "race"});
    let path = refund(second);
    let answers = join_all((0..2).map(|_| app.post_as(t, &path, &body))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&201) && statuses.contains(&400),
        "{statuses:?}"
    );
    answers
        .iter()
        .find(|r| r.status == 400)
        .unwrap()
        .assert_problem(400008);
    assert_eq!(
        answers.iter().find(|r| r.status == 201).unwrap().json["amount"]["amount"],
        1190
    );

    // Nothing paid yet.
    let open = app.buy(t, &org, &docs).create().await;
    let pending = open["subscriptions"][0]["id"].as_str().unwrap();
    app.post_as(t, &refund(pending), &json!({"reason": "unpaid"}))
        .await
        .assert_problem(400008);

    // Too late: more than refundPeriodDays (14) after the period started.
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let bought = app.buy(t, &org, &late).card(OK_CARD).create().await;
    let sub = bought["subscriptions"][0]["id"].as_str().unwrap();
    app.advance(14 * 86400 + 60).await;
    let res = app
        .post_as(&token, &refund(sub), &json!({"reason": "late"}))
        .await;
    res.assert_problem(400016);
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "refund.succeeded").await, 2);
}

#[tokio::test]
async fn canceled_subscriptions_end_at_the_period_end() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let wiki = app.module(&admin, "wiki").price(500).create().await;
    let token = app
        .access_token(&owner, &["orgs:write", "billing:read", "billing:write"])
        .await;
    let subs = format!("/v1/orgs/{org}/subscriptions");

    let done = app.buy(&token, &org, &crm).card(OK_CARD).create().await;
    let sub = done["subscriptions"][0].clone();
    let id = sub["id"].as_str().unwrap();
    // The organization cannot go while a subscription runs on.
    app.delete_as(&token, &format!("/v1/orgs/{org}"))
        .await
        .assert_problem(400002);
    let res = app
        .post_as(&token, &format!("{subs}/{id}/cancel"), &json!({}))
        .await;
    let canceled = res.assert_status(200).clone();
    assert_eq!(
        (
            canceled["status"].as_str(),
            canceled["cancelAtPeriodEnd"].as_bool()
        ),
        (Some("active"), Some(true))
    );
    assert_eq!(canceled["currentPeriodEnd"], sub["currentPeriodEnd"]);
    app.post_as(&token, &format!("{subs}/{id}/cancel"), &json!({}))
        .await
        .assert_status(200);

    // A subscription that never started is canceled at once and its invoice voided.
    let open = app.buy(&token, &org, &wiki).create().await;
    let pending = open["subscriptions"][0]["id"].as_str().unwrap();
    let res = app
        .post_as(&token, &format!("{subs}/{pending}/cancel"), &json!({}))
        .await;
    assert_eq!(res.assert_status(200)["status"], "canceled");
    let invoice = open["invoice"]["id"].as_str().unwrap();
    let voided = app.invoice(&token, &org, invoice).await;
    assert_eq!(
        (
            voided["status"].as_str(),
            voided["amountDue"]["amount"].as_i64()
        ),
        (Some("void"), Some(0))
    );
    app.pay(&token, &org, invoice, OK_CARD)
        .await
        .assert_problem(400008);
    app.post_as(&token, &format!("{subs}/{pending}/cancel"), &json!({}))
        .await
        .assert_problem(400002);

    let end = time(&sub["currentPeriodEnd"]);
    app.advance(app.state.clock.now().seconds_until(end) + 60)
        .await;
    let ended = app.subscription(&token, &org, id).await;
    assert_eq!(
        (ended["status"].as_str(), &ended["endedAt"]),
        (Some("ended"), &sub["currentPeriodEnd"])
    );
    let invoices = app
        .get_as(&token, &format!("/v1/orgs/{org}/invoices"))
        .await;
    assert_eq!(
        invoices.assert_status(200)["total"],
        2,
        "no renewal invoice"
    );
    app.delete_as(&token, &format!("/v1/orgs/{org}"))
        .await
        .assert_status(204);
}

#[tokio::test]
async fn a_card_given_with_a_zero_total_checkout_pays_the_renewals() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    app.coupon(&admin, "FREE").percent_off(100).create().await;
    let calc = app
        .calculation(&owner.token, &org)
        .module(&crm)
        .coupon("FREE")
        .send()
        .await;
    let done = app
        .checkout(&owner.token, &org, calc.json["id"].as_str().unwrap())
        .card(OK_CARD)
        .send()
        .await;
    let done = done.assert_status(201).clone();
    assert_eq!(
        done["invoice"]["payments"],
        json!([]),
        "nothing was charged"
    );
    // A month and a bit later the renewal is charged to the card given at checkout.
    app.advance(32 * 86_400).await;
    let owner = app.sign_in("owner@example.com").await;
    let invoices = app
        .get_as(&owner.token, &format!("/v1/orgs/{org}/invoices"))
        .await;
    let invoices = invoices.assert_status(200).clone();
    assert_eq!(invoices["total"], 2);
    let renewal = &invoices["items"][0];
    assert_eq!(
        (
            renewal["status"].as_str(),
            renewal["total"]["amount"].as_i64().map(|a| a > 0)
        ),
        (Some("paid"), Some(true))
    );
    let subs = app
        .get_as(&owner.token, &format!("/v1/orgs/{org}/subscriptions"))
        .await;
    assert_eq!(subs.json["items"][0]["status"], "active");
}
