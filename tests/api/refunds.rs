//! Refunds (7) made in three steps like payments: a claim (one unit), the provider's refund
//! outside any unit under the claim's id, and the record (a second unit). A process that stops
//! between them is simulated by writing what its first unit (and the provider) left behind;
//! the recovery job then settles it. The job measures its grace on real time, so a claim is
//! made "old" by its `claimed_at_system`, never by the test clock.

use charter::time::Timestamp;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::fixtures::{OK_CARD, time};

const DAY: i64 = 86_400;

struct Bought {
    org: String,
    token: String,
    sub: String,
    invoice: String,
    /// The first period's end.
    end: Timestamp,
}

async fn bought(app: &TestApp) -> Bought {
    let admin = app.root_token().await;
    let owner = app.sign_in("owner@example.com").await;
    let org = app.org(&owner).country("DE").create().await.id;
    let crm = app.module(&admin, "crm").price(1999).create().await;
    let token = app
        .access_token(&owner, &["billing:read", "billing:write"])
        .await;
    let done = app.buy(&token, &org, &crm).card(OK_CARD).create().await;
    let sub = &done["subscriptions"][0];
    Bought {
        org,
        token,
        sub: sub["id"].as_str().unwrap().to_string(),
        invoice: done["invoice"]["id"].as_str().unwrap().to_string(),
        end: time(&sub["currentPeriodEnd"]),
    }
}

async fn exec(app: &TestApp, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(app.state.db.pool())
        .await
        .unwrap();
}

/// What a request's first unit leaves: the refund of the invoice's payment claimed, with the
/// claim made `age` seconds ago by real time.
async fn claimed(app: &TestApp, b: &Bought, id: &str, age: i64) {
    let (sub, invoice) = (&b.sub, &b.invoice);
    let at = app.state.clock.now().micros();
    let system = Timestamp::system_now().minus_seconds(age).micros();
    exec(
        app,
        format!(
            "INSERT INTO refund_claims (id, org_id, subscription_id, invoice_id, payment_id, charge, amount, currency, reason, claimed_at, claimed_at_system)
             SELECT '{id}', org_id, '{sub}', invoice_id, id, provider_reference, amount, currency, 'stopped', {at}, {system}
               FROM payments WHERE invoice_id = '{invoice}'"
        ),
    )
    .await;
}

/// What the provider keeps of a refund it made under `key`.
async fn provider_refunded(app: &TestApp, key: &str) {
    exec(
        app,
        format!(
            "INSERT INTO sandbox_refunds (idempotency_key, charge_id, amount, refund_id, created_at)
             VALUES ('{key}', 'ch', 1, 're_made', 0)"
        ),
    )
    .await;
}

async fn refund(app: &TestApp, b: &Bought, reason: &str) -> crate::support::Res {
    let path = format!("/v1/orgs/{}/subscriptions/{}/refund-requests", b.org, b.sub);
    app.post_as(&b.token, &path, &json!({ "reason": reason }))
        .await
}

async fn refunds_of(app: &TestApp, b: &Bought, invoice: &str) -> Vec<Value> {
    app.invoice(&b.token, &b.org, invoice).await["refunds"]
        .as_array()
        .unwrap()
        .clone()
}

/// The provider gave the money back, then the process stopped. Meanwhile the period ended and
/// the refund window closed: the job still records the refund of the payment claimed — never
/// the new period's — ends the subscription, and the renewal does not charge it again.
#[tokio::test]
async fn a_refund_made_before_its_process_stopped_is_recorded_as_claimed() {
    let app = TestApp::spawn().await;
    let b = bought(&app).await;
    claimed(&app, &b, "rf_stopped", 3600).await;
    provider_refunded(&app, "rf_stopped").await;

    app.advance(app.state.clock.now().seconds_until(b.end) + 20 * DAY)
        .await;
    let sub = app.subscription(&b.token, &b.org, &b.sub).await;
    assert_eq!(sub["status"], "ended");
    assert_eq!(sub["latestInvoiceId"], b.invoice.as_str(), "not renewed");
    let refunds = refunds_of(&app, &b, &b.invoice).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["id"], "rf_stopped");
    assert_eq!(refunds[0]["status"], "succeeded");
    assert_eq!(refunds[0]["amount"]["amount"], 1999);
    let invoices = app
        .get_as(&b.token, &format!("/v1/orgs/{}/invoices", b.org))
        .await;
    assert_eq!(invoices.assert_status(200)["total"], 1);
    refund(&app, &b, "again").await.assert_problem(400008);
    app.advance(60).await;
    assert_eq!(refunds_of(&app, &b, &b.invoice).await.len(), 1, "once");
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "refund.succeeded").await, 1);
    assert_eq!(app.audited(&root, "subscription.ended").await, 1);
}

/// A refund under way holds the renewal back; stopped before the provider made it, the job
/// releases it (its key spent, so a refund on its way under it is refused), the renewal goes
/// ahead, and a later request refunds the new period.
#[tokio::test]
async fn a_refund_stopped_before_the_provider_made_it_is_released() {
    let app = TestApp::spawn().await;
    let b = bought(&app).await;
    claimed(&app, &b, "rf_stopped", 0).await;

    // A test clock moved past the period end and the grace does not give the claim up: it is
    // only seconds old by real time. Its subscription is not renewed meanwhile.
    app.advance(app.state.clock.now().seconds_until(b.end) + 60)
        .await;
    let sub = app.subscription(&b.token, &b.org, &b.sub).await;
    assert_eq!(
        (sub["status"].as_str(), sub["latestInvoiceId"].as_str()),
        (Some("active"), Some(b.invoice.as_str()))
    );
    let claims: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refund_claims")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(claims, 1, "the claim is left to its request");

    // Long stopped by real time: released, and the subscription renews.
    exec(
        &app,
        "UPDATE refund_claims SET claimed_at_system = 0".into(),
    )
    .await;
    app.advance(60).await;
    let sub = app.subscription(&b.token, &b.org, &b.sub).await;
    assert_eq!(sub["status"], "active");
    let renewal = sub["latestInvoiceId"].as_str().unwrap().to_string();
    assert_ne!(renewal, b.invoice, "renewed once the claim is released");
    assert!(refunds_of(&app, &b, &b.invoice).await.is_empty());
    let spent: Option<String> = sqlx::query_scalar(
        "SELECT decline_code FROM sandbox_refunds WHERE idempotency_key = 'rf_stopped'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert!(spent.is_some(), "the key is spent");

    let refunded = refund(&app, &b, "not needed").await;
    let refunded = refunded.assert_status(201).clone();
    assert_ne!(refunded["id"], "rf_stopped");
    assert_eq!(refunded["invoiceId"], renewal.as_str());
    assert_eq!(
        app.subscription(&b.token, &b.org, &b.sub).await["status"],
        "ended"
    );
}

/// The provider refuses: nothing is recorded, the subscription stays, and the claim is released
/// so a later request refunds it.
#[tokio::test]
async fn a_refund_the_provider_refuses_is_not_recorded_and_may_be_asked_again() {
    let app = TestApp::spawn().await;
    let b = bought(&app).await;
    let invoice = &b.invoice;
    // The provider knows no such charge.
    exec(
        &app,
        format!(
            "UPDATE payments SET provider_reference = 'ch_unknown' WHERE invoice_id = '{invoice}'"
        ),
    )
    .await;
    refund(&app, &b, "first").await.assert_problem(500001);
    assert_eq!(
        app.subscription(&b.token, &b.org, &b.sub).await["status"],
        "active"
    );
    assert!(refunds_of(&app, &b, invoice).await.is_empty());

    let charge: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT charge_id FROM sandbox_charges WHERE charge_id IS NOT NULL AND idempotency_key LIKE '{invoice}.%'"
    )))
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    exec(
        &app,
        format!(
            "UPDATE payments SET provider_reference = '{charge}' WHERE invoice_id = '{invoice}'"
        ),
    )
    .await;
    let refunded = refund(&app, &b, "second").await;
    assert_eq!(refunded.assert_status(201)["reason"], "second");
    assert_eq!(refunds_of(&app, &b, invoice).await.len(), 1);
    let (_, root) = app.admin_token("admin@example.com").await;
    assert_eq!(app.audited(&root, "refund.succeeded").await, 1);
}
