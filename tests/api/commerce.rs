//! Commerce (7): catalogue, price calculation, checkout, invoices, payments, cancellation,
//! refunds and the permission answers of section 9. Renewals are in `renewals.rs`.

use charter::app::AppState;
use charter::time::Timestamp;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{Res, TestApp, User};

pub const OK_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";
pub const NO_FUNDS_CARD: &str = "4000000000009995";
pub const ONCE_CARD: &str = "4000000000000341";

pub fn card(number: &str) -> Value {
    json!({"type": "card", "number": number})
}

/// A monthly EUR offer valid since 2000, refundable for 14 days, without an agreement.
pub fn offer(amount: i64) -> Value {
    json!({"price": {"amount": amount, "currency": "EUR"}, "interval": "month", "validFrom": "2000-01-01T00:00:00Z",
        "refundPeriodDays": 14, "agreementRequired": false})
}

/// A platform administrator's all-scopes access token (it never idles out).
pub async fn admin_token(app: &TestApp) -> String {
    app.admin_token("root@example.com").await.1
}

/// Creates a module with one offer; returns the module id.
pub async fn module(app: &TestApp, admin: &str, key: &str, offer: Value) -> String {
    let body = json!({"key": key, "name": format!("Module {key}"), "description": format!("Terms of {key}.")});
    let id = app
        .post_as(admin, "/v1/modules", &body)
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_as(admin, &format!("/v1/modules/{id}/offers"), &offer)
        .await
        .assert_status(201);
    id
}

pub async fn org(app: &TestApp, owner: &User, country: &str) -> String {
    let res = app
        .post_as(
            &owner.token,
            "/v1/orgs",
            &json!({"name": "Acme", "country": country}),
        )
        .await;
    res.assert_status(201)["id"].as_str().unwrap().to_string()
}

/// Signs `email` in and makes them a member of `org` with `role`, through an invitation.
pub async fn member(app: &TestApp, owner: &User, org: &str, email: &str, role: &str) -> User {
    let res = app
        .post_as(
            &owner.token,
            &format!("/v1/orgs/{org}/invitations"),
            &json!({"email": email, "role": role}),
        )
        .await;
    let id = res.assert_status(201)["id"].as_str().unwrap().to_string();
    let user = app.sign_in(email).await;
    app.post_as(
        &user.token,
        &format!("/v1/invitations/{id}/accept"),
        &json!({}),
    )
    .await
    .assert_status(200);
    user
}

pub async fn quote(
    app: &TestApp,
    token: &str,
    org: &str,
    items: Value,
    coupon: Option<&str>,
) -> Res {
    let mut body = json!({ "items": items });
    if let Some(code) = coupon {
        body["couponCode"] = json!(code);
    }
    app.post_as(token, &format!("/v1/orgs/{org}/price-calculations"), &body)
        .await
}

/// A price calculation for one unit of each module; returns its id.
pub async fn calculation(app: &TestApp, token: &str, org: &str, modules: &[&str]) -> String {
    let items: Vec<Value> = modules
        .iter()
        .map(|m| json!({"moduleId": m, "quantity": 1}))
        .collect();
    let res = quote(app, token, org, json!(items), None).await;
    res.assert_status(201)["id"].as_str().unwrap().to_string()
}

pub async fn checkout(
    app: &TestApp,
    token: &str,
    org: &str,
    calc: &str,
    number: Option<&str>,
) -> Res {
    let mut body = json!({ "priceCalculationId": calc });
    if let Some(number) = number {
        body["paymentMethod"] = card(number);
    }
    app.post_as(token, &format!("/v1/orgs/{org}/checkouts"), &body)
        .await
}

/// Buys one unit of `module` with `number`; returns the checkout answer.
pub async fn buy(
    app: &TestApp,
    token: &str,
    org: &str,
    module: &str,
    number: Option<&str>,
) -> Value {
    let calc = calculation(app, token, org, &[module]).await;
    checkout(app, token, org, &calc, number)
        .await
        .assert_status(201)
        .clone()
}

pub async fn pay(app: &TestApp, token: &str, org: &str, invoice: &str, number: &str) -> Res {
    app.post_as(
        token,
        &format!("/v1/orgs/{org}/invoices/{invoice}/payments"),
        &json!({"paymentMethod": card(number)}),
    )
    .await
}

pub async fn subscription(app: &TestApp, token: &str, org: &str, id: &str) -> Value {
    app.get_as(token, &format!("/v1/orgs/{org}/subscriptions/{id}"))
        .await
        .assert_status(200)
        .clone()
}

pub async fn invoice(app: &TestApp, token: &str, org: &str, id: &str) -> Value {
    app.get_as(token, &format!("/v1/orgs/{org}/invoices/{id}"))
        .await
        .assert_status(200)
        .clone()
}

/// The number of audit events with this action.
pub async fn audited(app: &TestApp, admin: &str, action: &str) -> i64 {
    let res = app
        .get_as(
            admin,
            &format!("/v1/audit-events?limit=0&query=action:%22{action}%22"),
        )
        .await;
    res.assert_status(200)["total"].as_i64().unwrap()
}

pub fn time(value: &Value) -> Timestamp {
    Timestamp::parse_rfc3339(value.as_str().expect("a time")).expect("RFC 3339")
}

/// A second server process on the same database (another `AppState`, another port).
pub async fn second_instance(app: &TestApp) -> (AppState, String, tokio::task::JoinHandle<()>) {
    let config = charter::config::Config {
        database_url: app.database_url.clone(),
        dev: true,
        mail: format!("file:{}", app.dir.path().join("outbox-2.jsonl").display()),
        db_max_connections: 4,
        ..(*app.state.config).clone()
    };
    let state = AppState::start(config)
        .await
        .expect("second instance starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = charter::app::router(state.clone());
    let serve_state = state.clone();
    let server = tokio::spawn(async move {
        let _ = charter::app::serve_router(serve_state, router, listener).await;
    });
    (state, base, server)
}

fn postgres() -> bool {
    std::env::var("CHARTER_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

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
    assert_eq!(audited(&app, &root, "module.created").await, 1);
    assert_eq!(audited(&app, &root, "offer.created").await, 5);
    assert_eq!(audited(&app, &root, "coupon.created").await, 2);
}

#[tokio::test]
async fn price_calculations_follow_the_formulas() {
    let app = TestApp::spawn_configured(|c| c.tax_rates = "DE=19,CH=7.7".into()).await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let de = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let mut yearly = offer(500);
    yearly["interval"] = json!("year");
    let wiki = module(&app, &admin, "wiki", yearly).await;
    app.post_as(
        &admin,
        "/v1/coupons",
        &json!({"code": "TENOFF", "percentOff": 10}),
    )
    .await
    .assert_status(201);

    let res = quote(
        &app,
        &owner.token,
        &de,
        json!([{"moduleId": crm, "quantity": 3}]),
        Some("tenoff"),
    )
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
    let calc = quote(&app, &owner.token, &de, items, None)
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
    let half = module(&app, &admin, "half", offer(1990)).await;
    app.post_as(
        &admin,
        "/v1/coupons",
        &json!({"code": "FIVE", "percentOff": 5}),
    )
    .await
    .assert_status(201);
    let calc = quote(
        &app,
        &owner.token,
        &de,
        json!([{"moduleId": half, "quantity": 1}]),
        Some("FIVE"),
    )
    .await;
    let calc = calc.assert_status(201).clone();
    assert_eq!(
        (&calc["discount"], &calc["tax"], &calc["total"]),
        (&eur(100), &eur(359), &eur(2249))
    );

    // A fractional rate: 7.7 % of 1.50 = 0.1155 → 0.12.
    let ch = org(&app, &owner, "CH").await;
    let tiny = module(&app, &admin, "tiny", offer(150)).await;
    let calc = quote(
        &app,
        &owner.token,
        &ch,
        json!([{"moduleId": tiny, "quantity": 1}]),
        None,
    )
    .await;
    assert_eq!(
        (&calc.assert_status(201)["tax"], &calc.json["total"]),
        (&eur(12), &eur(162))
    );

    // A country without a rate pays 0 %; a fixed discount is capped at the subtotal.
    let it = org(&app, &owner, "IT").await;
    let calc = quote(
        &app,
        &owner.token,
        &it,
        json!([{"moduleId": tiny, "quantity": 1}]),
        None,
    )
    .await;
    assert_eq!(calc.assert_status(201)["tax"], eur(0));
    let big = json!({"code": "BIG", "amountOff": {"amount": 100000, "currency": "EUR"}});
    app.post_as(&admin, "/v1/coupons", &big)
        .await
        .assert_status(201);
    let calc = quote(
        &app,
        &owner.token,
        &de,
        json!([{"moduleId": crm, "quantity": 1}]),
        Some("big"),
    )
    .await;
    let calc = calc.assert_status(201).clone();
    assert_eq!(
        (&calc["discount"], &calc["tax"], &calc["total"]),
        (&eur(1999), &eur(0), &eur(0))
    );
}

#[tokio::test]
async fn price_calculation_errors_answer_in_section_3_order() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let wiki = module(&app, &admin, "wiki", offer(500)).await;
    let mut dollars = offer(700);
    dollars["price"]["currency"] = json!("USD");
    let usd = module(&app, &admin, "usd", dollars).await;
    let bare = app
        .post_as(
            &admin,
            "/v1/modules",
            &json!({"key": "bare", "name": "Bare", "description": ""}),
        )
        .await;
    let bare = bare.assert_status(201)["id"].as_str().unwrap().to_string();
    let one = |m: &str| json!([{"moduleId": m, "quantity": 1}]);
    let t = &owner.token;

    quote(&app, t, &org, one(&crm), Some("NOPE"))
        .await
        .assert_problem(400012);
    quote(&app, t, &org, one(&bare), None)
        .await
        .assert_problem(404002);
    quote(&app, t, &org, one("mod_unknown"), None)
        .await
        .assert_problem(404002);
    quote(
        &app,
        t,
        &org,
        json!([{"moduleId": crm, "quantity": 1}, {"moduleId": usd, "quantity": 1}]),
        None,
    )
    .await
    .assert_problem(400012);
    for quantity in [0, -1, 1001] {
        quote(
            &app,
            t,
            &org,
            json!([{"moduleId": crm, "quantity": quantity}]),
            None,
        )
        .await
        .assert_problem(400012);
    }
    // Step 8 (the body) before step 9: a bad quantity wins over an unknown module.
    quote(
        &app,
        t,
        &org,
        json!([{"moduleId": "mod_unknown", "quantity": 0}]),
        None,
    )
    .await
    .assert_problem(400012);
    quote(
        &app,
        t,
        &org,
        json!([{"moduleId": crm, "quantity": 1}, {"moduleId": crm, "quantity": 2}]),
        None,
    )
    .await
    .assert_problem(400012);
    quote(&app, t, &org, json!([]), None)
        .await
        .assert_problem(400002);
    quote(
        &app,
        t,
        &org,
        json!([{"moduleId": crm, "quantity": "x"}]),
        None,
    )
    .await
    .assert_problem(400001);
    quote(
        &app,
        t,
        &org,
        json!([{"moduleId": crm, "quantity": 1, "extra": 1}]),
        None,
    )
    .await
    .assert_problem(400002);

    // Coupons: another currency, expired, used up.
    let usd_off = json!({"code": "USDOFF", "amountOff": {"amount": 100, "currency": "USD"}});
    app.post_as(&admin, "/v1/coupons", &usd_off)
        .await
        .assert_status(201);
    quote(&app, t, &org, one(&crm), Some("USDOFF"))
        .await
        .assert_problem(400012);
    quote(&app, t, &org, one(&usd), Some("USDOFF"))
        .await
        .assert_status(201);
    let soon = app.state.clock.now().plus_seconds(60);
    let expiring = json!({"code": "SOON", "percentOff": 5, "validUntil": soon});
    app.post_as(&admin, "/v1/coupons", &expiring)
        .await
        .assert_status(201);
    quote(&app, t, &org, one(&crm), Some("SOON"))
        .await
        .assert_status(201);
    app.advance(61).await;
    quote(&app, t, &org, one(&crm), Some("SOON"))
        .await
        .assert_problem(400012);
    app.post_as(
        &admin,
        "/v1/coupons",
        &json!({"code": "ONCE", "percentOff": 5, "maxRedemptions": 1}),
    )
    .await
    .assert_status(201);
    let calc = quote(&app, t, &org, one(&wiki), Some("ONCE"))
        .await
        .assert_status(201)["id"]
        .clone();
    checkout(&app, t, &org, calc.as_str().unwrap(), Some(OK_CARD))
        .await
        .assert_status(201);
    quote(&app, t, &org, one(&crm), Some("ONCE"))
        .await
        .assert_problem(400012);

    // Who may: a member may not (403008), an outsider is not a member (403001), a token needs
    // billing:write (403014).
    let plain = member(&app, &owner, &org, "plain@example.com", "member").await;
    quote(&app, &plain.token, &org, one(&crm), None)
        .await
        .assert_problem(403008);
    let outsider = app.sign_in("outsider@example.com").await;
    quote(&app, &outsider.token, &org, one(&crm), None)
        .await
        .assert_problem(403001);
    let read_only = app.access_token(&owner, &["billing:read"]).await;
    let res = quote(&app, &read_only, &org, one(&crm), None).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "billing:write");
    let writer = app.access_token(&owner, &["billing:write"]).await;
    quote(&app, &writer, &org, one(&crm), None)
        .await
        .assert_status(201);
}

#[tokio::test]
async fn checkout_creates_a_paid_invoice_and_active_subscriptions_once() {
    let app = TestApp::spawn_configured(|c| c.tax_rates = "DE=19".into()).await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let t = &owner.token;

    let calc = calculation(&app, t, &org, &[&crm]).await;
    let res = checkout(&app, t, &org, &calc, Some(OK_CARD)).await;
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
    checkout(&app, t, &org, &calc, Some(OK_CARD))
        .await
        .assert_problem(400013);
    let again = calculation(&app, t, &org, &[&crm]).await;
    checkout(&app, t, &org, &again, Some(OK_CARD))
        .await
        .assert_problem(400013);
    checkout(&app, t, &org, "pc_unknown", None)
        .await
        .assert_problem(400002);
    let id = invoice["id"].as_str().unwrap();
    pay(&app, t, &org, id, OK_CARD).await.assert_problem(400007);

    let list = app.get_as(t, &format!("/v1/orgs/{org}/invoices")).await;
    assert_eq!(list.assert_status(200)["total"], 1);
    assert_eq!(list.json["items"][0], *invoice);
    assert_eq!(self::invoice(&app, t, &org, id).await, *invoice);
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
    assert_eq!(audited(&app, &root, "checkout.completed").await, 1);
    assert_eq!(audited(&app, &root, "payment.succeeded").await, 1);
    assert_eq!(audited(&app, &root, "subscription.activated").await, 1);
}

#[tokio::test]
async fn racing_checkouts_of_one_calculation_create_one_invoice() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let calc = calculation(&app, &owner.token, &org, &[&crm]).await;
    let answers =
        join_all((0..10).map(|_| checkout(&app, &owner.token, &org, &calc, Some(OK_CARD)))).await;
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
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let t = &owner.token;
    let calc = calculation(&app, t, &org, &[&crm]).await;

    let res = checkout(&app, t, &org, &calc, Some(DECLINED_CARD)).await;
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
    let done = checkout(&app, t, &org, &calc, None)
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

    let res = pay(&app, t, &org, invoice, NO_FUNDS_CARD).await;
    assert_eq!(
        res.assert_problem(400013)["declineCode"],
        "insufficient_funds"
    );
    let res = pay(&app, t, &org, invoice, "4242424242424241").await;
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
    assert_eq!(
        self::invoice(&app, t, &org, invoice).await["status"],
        "open"
    );

    let payment = pay(&app, t, &org, invoice, OK_CARD)
        .await
        .assert_status(201)
        .clone();
    assert!(payment["id"].as_str().unwrap().starts_with("pay_"));
    assert_eq!(
        (payment["invoiceId"].as_str(), payment["status"].as_str()),
        (Some(invoice), Some("succeeded"))
    );
    assert_eq!(payment["amount"], done["invoice"]["total"]);
    let paid = self::invoice(&app, t, &org, invoice).await;
    assert_eq!(
        (
            paid["status"].as_str(),
            paid["amountDue"]["amount"].as_i64()
        ),
        (Some("paid"), Some(0))
    );
    assert_eq!(paid["payments"][0], payment);
    let sub = subscription(&app, t, &org, sub["id"].as_str().unwrap()).await;
    assert_eq!(sub["status"], "active");
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(audited(&app, &root, "payment.declined").await, 3);
}

#[tokio::test]
async fn required_agreements_hold_subscriptions_pending_until_signed() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let mut legal = offer(1999);
    legal["agreementRequired"] = json!(true);
    let first = module(&app, &admin, "legal-a", legal.clone()).await;
    let second = module(&app, &admin, "legal-b", legal).await;
    let t = &owner.token;
    let me = format!("/v1/orgs/{org}/members/{}", owner.id);
    app.patch_as(t, &me, &json!({"legalSignatory": true}))
        .await
        .assert_status(200);

    // Paid first, signed later.
    let done = buy(&app, t, &org, &first, Some(OK_CARD)).await;
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
    let now = subscription(&app, t, &org, &sub).await;
    assert_eq!(now["status"], "active");
    assert!(now["currentPeriodStart"].is_string());

    // Signed first, paid later.
    let done = buy(&app, t, &org, &second, None).await;
    let sub = done["subscriptions"][0]["id"].as_str().unwrap().to_string();
    let sign = format!(
        "/v1/orgs/{org}/agreements/{}/sign",
        done["agreements"][0]["id"].as_str().unwrap()
    );
    app.post_as(t, &sign, &json!({})).await.assert_status(200);
    assert_eq!(subscription(&app, t, &org, &sub).await["status"], "pending");
    let invoice = done["invoice"]["id"].as_str().unwrap();
    pay(&app, t, &org, invoice, OK_CARD)
        .await
        .assert_status(201);
    assert_eq!(subscription(&app, t, &org, &sub).await["status"], "active");
}

#[tokio::test]
async fn stale_calculations_answer_409001() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let wiki = module(&app, &admin, "wiki", offer(500)).await;
    let docs = module(&app, &admin, "docs", offer(300)).await;
    let t = &owner.token;

    // Expired (30 minutes).
    let calc = calculation(&app, t, &org, &[&crm]).await;
    app.advance(1801).await;
    let res = checkout(&app, t, &org, &calc, Some(OK_CARD)).await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], calc);

    // A new offer replaced the one it used.
    let calc = calculation(&app, t, &org, &[&crm, &wiki]).await;
    let mut newer = offer(2499);
    newer["validFrom"] = json!(app.state.clock.now());
    app.post_as(&admin, &format!("/v1/modules/{crm}/offers"), &newer)
        .await
        .assert_status(201);
    let res = checkout(&app, t, &org, &calc, None).await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], calc);
    let fresh = quote(
        &app,
        t,
        &org,
        json!([{"moduleId": crm, "quantity": 1}]),
        None,
    )
    .await;
    assert_eq!(fresh.assert_status(201)["subtotal"]["amount"], 2499);
    let fresh = fresh.json["id"].as_str().unwrap().to_string();
    checkout(&app, t, &org, &fresh, Some(OK_CARD))
        .await
        .assert_status(201);

    // The coupon was used up, or expired, in between.
    app.post_as(
        &admin,
        "/v1/coupons",
        &json!({"code": "ONCE", "percentOff": 50, "maxRedemptions": 1}),
    )
    .await
    .assert_status(201);
    let a = quote(
        &app,
        t,
        &org,
        json!([{"moduleId": wiki, "quantity": 1}]),
        Some("ONCE"),
    )
    .await
    .assert_status(201)["id"]
        .clone();
    let b = quote(
        &app,
        t,
        &org,
        json!([{"moduleId": docs, "quantity": 1}]),
        Some("ONCE"),
    )
    .await
    .assert_status(201)["id"]
        .clone();
    checkout(&app, t, &org, a.as_str().unwrap(), Some(OK_CARD))
        .await
        .assert_status(201);
    let res = checkout(&app, t, &org, b.as_str().unwrap(), Some(OK_CARD)).await;
    assert_eq!(res.assert_problem(409001)["priceCalculationId"], b);
    let until = app.state.clock.now().plus_seconds(600);
    app.post_as(
        &admin,
        "/v1/coupons",
        &json!({"code": "BRIEF", "percentOff": 50, "validUntil": until}),
    )
    .await
    .assert_status(201);
    let c = quote(
        &app,
        t,
        &org,
        json!([{"moduleId": docs, "quantity": 1}]),
        Some("BRIEF"),
    )
    .await
    .assert_status(201)["id"]
        .clone();
    app.advance(601).await;
    checkout(&app, t, &org, c.as_str().unwrap(), Some(OK_CARD))
        .await
        .assert_problem(409001);
    // Nothing was left behind by the refused checkouts.
    let invoices = app.get_as(t, &format!("/v1/orgs/{org}/invoices")).await;
    assert_eq!(invoices.assert_status(200)["total"], 2);
}

#[tokio::test]
async fn a_zero_total_checkout_is_paid_at_once_and_nothing_is_due() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    app.post_as(
        &admin,
        "/v1/coupons",
        &json!({"code": "FREE", "percentOff": 100}),
    )
    .await
    .assert_status(201);
    let t = &owner.token;
    let calc = quote(
        &app,
        t,
        &org,
        json!([{"moduleId": crm, "quantity": 2}]),
        Some("FREE"),
    )
    .await;
    assert_eq!(calc.assert_status(201)["total"]["amount"], 0);
    let done = checkout(&app, t, &org, calc.json["id"].as_str().unwrap(), None)
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
    pay(&app, t, &org, invoice["id"].as_str().unwrap(), OK_CARD)
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
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let done = buy(&app, &owner.token, &org, &crm, None).await;
    let invoice = done["invoice"]["id"].as_str().unwrap().to_string();
    // On PostgreSQL a second process on the same database serves half of the requests.
    let second = match postgres() {
        true => Some(second_instance(&app).await),
        false => None,
    };
    let path = format!("/v1/orgs/{org}/invoices/{invoice}/payments");
    let body = json!({"paymentMethod": card(OK_CARD)});
    let requests = (0..200).map(|i| {
        let base = match (&second, i % 2) {
            (Some((_, base, _)), 1) => base.clone(),
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
    let invoice = self::invoice(&app, &owner.token, &org, &invoice).await;
    assert_eq!(invoice["payments"].as_array().unwrap().len(), 1);
    if let Some((_, _, server)) = second {
        server.abort();
    }
}

#[tokio::test]
async fn roles_decide_who_reads_pays_cancels_and_refunds() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let wiki = module(&app, &admin, "wiki", offer(500)).await;
    let org_admin = member(&app, &owner, &org, "admin@acme.example", "admin").await;
    let billing = member(&app, &owner, &org, "billing@acme.example", "billing").await;
    let plain = member(&app, &owner, &org, "member@acme.example", "member").await;
    let outsider = app.sign_in("outsider@example.com").await;

    // The billing member buys without paying, then pays.
    let done = buy(&app, &billing.token, &org, &crm, None).await;
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
    pay(&app, &plain.token, &org, &invoice, OK_CARD)
        .await
        .assert_problem(403008);
    let read_only = app.access_token(&billing, &["billing:read"]).await;
    let res = pay(&app, &read_only, &org, &invoice, OK_CARD).await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "billing:write");
    pay(&app, &billing.token, &org, &invoice, OK_CARD)
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
    let elsewhere = self::org(&app, &outsider, "FR").await;
    let theirs = buy(&app, &outsider.token, &elsewhere, &wiki, None).await;
    let their_invoice = theirs["invoice"]["id"].as_str().unwrap();
    let their_sub = theirs["subscriptions"][0]["id"].as_str().unwrap();
    app.get_as(&owner.token, &format!("{invoices}/{their_invoice}"))
        .await
        .assert_problem(404003);
    pay(&app, &owner.token, &org, their_invoice, OK_CARD)
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
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let wiki = module(&app, &admin, "wiki", offer(1000)).await;
    let docs = module(&app, &admin, "docs", offer(300)).await;
    let late = module(&app, &admin, "late", offer(300)).await;
    let t = &owner.token;
    let refund = |sub: &str| format!("/v1/orgs/{org}/subscriptions/{sub}/refund-requests");

    // Two lines on one invoice: each refund is its line's share of the total (incl. tax).
    let calc = calculation(&app, t, &org, &[&crm, &wiki]).await;
    let done = checkout(&app, t, &org, &calc, Some(OK_CARD))
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
    let sub = subscription(&app, t, &org, first).await;
    assert_eq!(sub["status"], "ended");
    assert!(sub["endedAt"].is_string());
    let after = self::invoice(&app, t, &org, invoice).await;
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
    let open = buy(&app, t, &org, &docs, None).await;
    let pending = open["subscriptions"][0]["id"].as_str().unwrap();
    app.post_as(t, &refund(pending), &json!({"reason": "unpaid"}))
        .await
        .assert_problem(400008);

    // Too late: more than refundPeriodDays (14) after the period started.
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let bought = buy(&app, t, &org, &late, Some(OK_CARD)).await;
    let sub = bought["subscriptions"][0]["id"].as_str().unwrap();
    app.advance(14 * 86400 + 60).await;
    let res = app
        .post_as(&token, &refund(sub), &json!({"reason": "late"}))
        .await;
    res.assert_problem(400016);
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(audited(&app, &root, "refund.succeeded").await, 2);
}

#[tokio::test]
async fn canceled_subscriptions_end_at_the_period_end() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    let wiki = module(&app, &admin, "wiki", offer(500)).await;
    let token = app
        .access_token(&owner, &["orgs:write", "billing:read", "billing:write"])
        .await;
    let subs = format!("/v1/orgs/{org}/subscriptions");

    let done = buy(&app, &token, &org, &crm, Some(OK_CARD)).await;
    let sub = done["subscriptions"][0].clone();
    let id = sub["id"].as_str().unwrap();
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
    let open = buy(&app, &token, &org, &wiki, None).await;
    let pending = open["subscriptions"][0]["id"].as_str().unwrap();
    let res = app
        .post_as(&token, &format!("{subs}/{pending}/cancel"), &json!({}))
        .await;
    assert_eq!(res.assert_status(200)["status"], "canceled");
    let invoice = open["invoice"]["id"].as_str().unwrap();
    let voided = self::invoice(&app, &token, &org, invoice).await;
    assert_eq!(
        (
            voided["status"].as_str(),
            voided["amountDue"]["amount"].as_i64()
        ),
        (Some("void"), Some(0))
    );
    pay(&app, &token, &org, invoice, OK_CARD)
        .await
        .assert_problem(400008);
    app.post_as(&token, &format!("{subs}/{pending}/cancel"), &json!({}))
        .await
        .assert_problem(400002);

    // The organization cannot go while a subscription runs.
    app.delete_as(&token, &format!("/v1/orgs/{org}"))
        .await
        .assert_problem(400002);
    let end = time(&sub["currentPeriodEnd"]);
    app.advance(app.state.clock.now().seconds_until(end) + 60)
        .await;
    let ended = subscription(&app, &token, &org, id).await;
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
    let admin = admin_token(&app).await;
    let owner = app.sign_in("owner@example.com").await;
    let org = org(&app, &owner, "DE").await;
    let crm = module(&app, &admin, "crm", offer(1999)).await;
    app.post_as(
        &admin,
        "/v1/coupons",
        &json!({"code": "FREE", "percentOff": 100}),
    )
    .await
    .assert_status(201);
    let calc = quote(
        &app,
        &owner.token,
        &org,
        json!([{"moduleId": crm, "quantity": 1}]),
        Some("FREE"),
    )
    .await;
    let done = checkout(
        &app,
        &owner.token,
        &org,
        calc.json["id"].as_str().unwrap(),
        Some(OK_CARD),
    )
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
