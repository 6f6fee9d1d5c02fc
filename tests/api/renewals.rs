//! Renewals (7): the background job at each period's end, declined renewals retried after 1, 3
//! and 7 days with mails, and the job run by two processes at once. Time moves with the test
//! clock only.

use charter::time::Timestamp;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::fixtures::{OK_CARD, ONCE_CARD, offer, time};

const DAY: i64 = 86_400;

/// Moves the clock to `seconds` after `t`.
async fn advance_past(app: &TestApp, t: Timestamp, seconds: i64) {
    app.advance(app.state.clock.now().seconds_until(t) + seconds)
        .await;
}

fn renewal_mails(app: &TestApp, to: &str) -> Vec<Value> {
    app.outbox()
        .into_iter()
        .filter(|m| m["to"] == to && m["template"] == "renewal-failed")
        .collect()
}

#[tokio::test]
async fn a_purchase_renews_at_the_period_end_and_the_renewal_is_refunded() {
    let app = TestApp::spawn_configured(|c| c.tax_rates = "DE=19".into()).await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    // Sessions idle out after 7 days; an access token does not.
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;

    let done = app.buy(&token, &org, &crm).card(OK_CARD).create().await;
    let first_invoice = done["invoice"]["id"].as_str().unwrap().to_string();
    let sub = done["subscriptions"][0].clone();
    let id = sub["id"].as_str().unwrap();
    let end = time(&sub["currentPeriodEnd"]);
    advance_past(&app, end.minus_seconds(60), 0).await;
    assert_eq!(
        app.subscription(&token, &org, id).await["currentPeriodEnd"],
        sub["currentPeriodEnd"],
        "not yet"
    );

    advance_past(&app, end, 3600).await;
    let renewed = app.subscription(&token, &org, id).await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(renewed["currentPeriodStart"], sub["currentPeriodEnd"]);
    assert!(time(&renewed["currentPeriodEnd"]) > app.state.clock.now());
    let renewal = renewed["latestInvoiceId"].as_str().unwrap().to_string();
    assert_ne!(renewal, first_invoice);
    let bill = app.invoice(&token, &org, &renewal).await;
    assert_eq!(
        (bill["kind"].as_str(), bill["status"].as_str()),
        (Some("renewal"), Some("paid"))
    );
    assert_eq!(
        (
            bill["total"]["amount"].as_i64(),
            bill["discount"]["amount"].as_i64()
        ),
        (Some(2379), Some(0))
    );
    assert_eq!(bill["payments"].as_array().unwrap().len(), 1);
    assert_eq!(bill["lines"][0]["subscriptionId"], id);
    let invoices = app
        .get_as(&token, &format!("/v1/orgs/{org}/invoices"))
        .await;
    assert_eq!(invoices.assert_status(200)["total"], 2);
    assert_eq!(invoices.json["items"][0]["id"], renewal, "newest first");

    // The refund gives back the renewal (the current period) and ends the subscription.
    let path = format!("/v1/orgs/{org}/subscriptions/{id}/refund-requests");
    let refund = app
        .post_as(&token, &path, &json!({"reason": "not needed"}))
        .await;
    let refund = refund.assert_status(201).clone();
    assert_eq!(
        (
            refund["invoiceId"].as_str(),
            refund["amount"]["amount"].as_i64()
        ),
        (Some(renewal.as_str()), Some(2379))
    );
    assert_eq!(app.subscription(&token, &org, id).await["status"], "ended");
    app.advance(62 * DAY).await;
    let invoices = app
        .get_as(&token, &format!("/v1/orgs/{org}/invoices"))
        .await;
    assert_eq!(
        invoices.assert_status(200)["total"],
        2,
        "an ended subscription never renews"
    );
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "subscription.renewed").await, 1);
}

#[tokio::test]
async fn every_missed_period_is_renewed_and_once_offers_never_renew() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let monthly = app.module(&admin, "monthly").price(1000).create().await;
    let mut lifetime = offer(5000);
    lifetime["interval"] = json!("once");
    let once = app.module(&admin, "once").offer(lifetime).create().await;
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let m = app.buy(&token, &org, &monthly).card(OK_CARD).create().await;
    let o = app.buy(&token, &org, &once).card(OK_CARD).create().await;
    assert_eq!(o["subscriptions"][0]["currentPeriodEnd"], Value::Null);

    // 70 days: two monthly periods ended (at most 62 days), a third has not (at least 89).
    app.advance(70 * DAY).await;
    let sub = app
        .subscription(&token, &org, m["subscriptions"][0]["id"].as_str().unwrap())
        .await;
    assert_eq!(sub["status"], "active");
    let invoices = app
        .get_as(&token, &format!("/v1/orgs/{org}/invoices?limit=100"))
        .await;
    let items = invoices.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 4);
    assert_eq!(items.iter().filter(|i| i["kind"] == "renewal").count(), 2);
    assert!(items.iter().all(|i| i["status"] == "paid"));

    let once_id = o["subscriptions"][0]["id"].as_str().unwrap();
    app.advance(400 * DAY).await;
    assert_eq!(
        app.subscription(&token, &org, once_id).await["status"],
        "active"
    );
    let renewals = app
        .get_as(&token, &format!("/v1/orgs/{org}/invoices?limit=100"))
        .await;
    let count = |kind: &str, module: &str| {
        renewals.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == kind && i["lines"][0]["moduleId"] == module)
            .count()
    };
    assert_eq!(count("renewal", &once), 0, "once offers never renew");
    assert!(count("renewal", &monthly) > 10);
    // Canceling a once purchase ends it at once: its period never ends.
    let res = app
        .post_as(
            &token,
            &format!("/v1/orgs/{org}/subscriptions/{once_id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(res.assert_status(200)["status"], "ended");
}

#[tokio::test]
async fn a_declined_renewal_is_retried_after_1_3_and_7_days_then_ends() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let billing = app
        .invited_member(&owner, &org, "billing@acme.example", "billing")
        .await;
    let plain = app
        .invited_member(&owner, &org, "member@acme.example", "member")
        .await;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;

    // 4000000000000341 pays the checkout, then declines.
    let done = app.buy(&token, &org, &crm).card(ONCE_CARD).create().await;
    assert_eq!(done["subscriptions"][0]["status"], "active");
    let id = done["subscriptions"][0]["id"].as_str().unwrap();
    let start = time(&done["subscriptions"][0]["currentPeriodEnd"]);
    advance_past(&app, start, 60).await;
    let sub = app.subscription(&token, &org, id).await;
    assert_eq!(sub["status"], "past_due");
    let renewal = sub["latestInvoiceId"].as_str().unwrap().to_string();
    let bill = app.invoice(&token, &org, &renewal).await;
    assert_eq!(
        (bill["status"].as_str(), &bill["amountDue"]),
        (Some("open"), &bill["total"])
    );

    let next = |days: i64| json!(start.plus_seconds(days * DAY).to_rfc3339());
    for (step, days, next_try) in [
        (1, 0, next(1)),
        (2, 1, next(3)),
        (3, 2, next(7)),
        (4, 4, Value::Null),
    ] {
        if days > 0 {
            app.advance(days * DAY).await;
        }
        for to in [&owner.email, &billing.email] {
            let mails = renewal_mails(&app, to);
            assert_eq!(mails.len(), step, "{to} after failure {step}");
            assert_eq!(mails[step - 1]["data"]["nextTry"], next_try);
            assert_eq!(mails[step - 1]["data"]["module"], "Module crm");
            assert!(
                mails[step - 1]["text"]
                    .as_str()
                    .unwrap()
                    .contains("declined")
            );
        }
        assert!(
            renewal_mails(&app, &plain.email).is_empty(),
            "members are not mailed"
        );
        let status = app.subscription(&token, &org, id).await["status"].clone();
        assert_eq!(
            status,
            if step < 4 { "past_due" } else { "ended" },
            "after failure {step}"
        );
    }
    let bill = app.invoice(&token, &org, &renewal).await;
    assert_eq!(
        (
            bill["status"].as_str(),
            bill["amountDue"]["amount"].as_i64()
        ),
        (Some("void"), Some(0))
    );
    assert_eq!(bill["payments"], json!([]));

    app.advance(40 * DAY).await;
    assert_eq!(
        renewal_mails(&app, &owner.email).len(),
        4,
        "nothing after the end"
    );
    let invoices = app
        .get_as(&token, &format!("/v1/orgs/{org}/invoices"))
        .await;
    assert_eq!(invoices.assert_status(200)["total"], 2);
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "subscription.renewal_failed").await, 4);
    assert_eq!(app.audited(&root, "subscription.ended").await, 1);
}

#[tokio::test]
async fn paying_a_past_due_renewal_by_hand_brings_the_subscription_back() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let done = app.buy(&token, &org, &crm).card(ONCE_CARD).create().await;
    let id = done["subscriptions"][0]["id"].as_str().unwrap();
    advance_past(
        &app,
        time(&done["subscriptions"][0]["currentPeriodEnd"]),
        60,
    )
    .await;
    let sub = app.subscription(&token, &org, id).await;
    assert_eq!(sub["status"], "past_due");
    let renewal = sub["latestInvoiceId"].as_str().unwrap();

    app.pay(&token, &org, renewal, OK_CARD)
        .await
        .assert_status(201);
    let sub = app.subscription(&token, &org, id).await;
    assert_eq!(sub["status"], "active");
    app.advance(10 * DAY).await;
    assert_eq!(app.subscription(&token, &org, id).await["status"], "active");
    assert_eq!(
        renewal_mails(&app, &owner.email).len(),
        1,
        "no retries after the payment"
    );

    // The next renewal charges the card that paid last.
    advance_past(&app, time(&sub["currentPeriodEnd"]), 60).await;
    let sub = app.subscription(&token, &org, id).await;
    assert_eq!(sub["status"], "active");
    let next = app
        .invoice(&token, &org, sub["latestInvoiceId"].as_str().unwrap())
        .await;
    assert_eq!(
        (next["kind"].as_str(), next["status"].as_str()),
        (Some("renewal"), Some("paid"))
    );
}

#[tokio::test]
async fn two_processes_running_the_job_renew_each_period_once() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let mut subs = Vec::new();
    for key in ["a", "b", "c", "d", "e"] {
        let id = app.module(&admin, key).price(1000).create().await;
        let done = app.buy(&token, &org, &id).card(OK_CARD).create().await;
        subs.push(done["subscriptions"][0].clone());
    }
    let peer = app.spawn_peer().await;
    let last_end = subs
        .iter()
        .map(|s| time(&s["currentPeriodEnd"]))
        .max()
        .unwrap();
    // Move time without running the jobs, then run them in both processes at once.
    let seconds = app.state.clock.now().seconds_until(last_end) + 60;
    app.state
        .clock
        .advance(&app.state.db, seconds)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        charter::jobs::run_due(&app.state),
        charter::jobs::run_due(&peer.state)
    );
    a.unwrap();
    b.unwrap();
    drop(peer);

    for before in &subs {
        let after = app
            .subscription(&token, &org, before["id"].as_str().unwrap())
            .await;
        assert_eq!(
            after["currentPeriodStart"], before["currentPeriodEnd"],
            "renewed exactly once"
        );
        let bill = app
            .invoice(&token, &org, after["latestInvoiceId"].as_str().unwrap())
            .await;
        assert_eq!(
            (
                bill["status"].as_str(),
                bill["payments"].as_array().unwrap().len()
            ),
            (Some("paid"), 1)
        );
    }
    let invoices = app
        .get_as(&token, &format!("/v1/orgs/{org}/invoices?limit=0"))
        .await;
    assert_eq!(invoices.assert_status(200)["total"], 10);
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "subscription.renewed").await, 5);
    assert_eq!(app.audited(&root, "payment.succeeded").await, 10);
}

/// A retry whose process stopped after claiming its charge is settled by the recovery job as
/// `payment_interrupted`: no charge was made, so it is no failed retry — it is tried again at
/// once, without a "payment failed" mail, and a card that now pays brings the subscription back.
#[tokio::test]
async fn an_interrupted_retry_is_tried_again_and_not_counted_as_failed() {
    let app = TestApp::spawn().await;
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let done = app.buy(&token, &org, &crm).card(ONCE_CARD).create().await;
    let id = done["subscriptions"][0]["id"].as_str().unwrap();
    let start = time(&done["subscriptions"][0]["currentPeriodEnd"]);
    advance_past(&app, start, 60).await;
    let sub = app.subscription(&token, &org, id).await;
    assert_eq!(sub["status"], "past_due");
    let renewal = sub["latestInvoiceId"].as_str().unwrap().to_string();
    assert_eq!(renewal_mails(&app, &owner.email).len(), 1);

    // The card pays again from now on, and a retry's process claims the invoice, then stops
    // before charging.
    let pool = app.state.db.pool();
    sqlx::query("UPDATE sandbox_payment_methods SET behaviour = 'succeed'")
        .execute(pool)
        .await
        .unwrap();
    let claimed_at = app.state.clock.now().micros();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO payment_attempts (invoice_id, attempt, purpose, claimed_at, claimed_at_system)
         SELECT '{renewal}', MAX(attempt) + 1, 'retry', {claimed_at}, 0 FROM payment_attempts
          WHERE invoice_id = '{renewal}'"
    )))
    .execute(pool)
    .await
    .unwrap();

    // The first retry is due: the job settles the stopped one as interrupted, and the retry is
    // made all the same.
    advance_past(&app, start, DAY + 3600).await;
    let sub = app.subscription(&token, &org, id).await;
    assert_eq!(sub["status"], "active", "the retry was made and paid");
    let bill = app.invoice(&token, &org, &renewal).await;
    assert_eq!(bill["status"], "paid");
    assert_eq!(bill["payments"].as_array().unwrap().len(), 1);
    assert_eq!(
        renewal_mails(&app, &owner.email).len(),
        1,
        "no failure mail for an interrupted retry"
    );
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "subscription.renewal_failed").await, 1);
}
