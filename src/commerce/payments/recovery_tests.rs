//! A payment whose process stopped between its claim and its record, settled by the recovery
//! job, on a SQLite file and, with `CHARTER_TEST_DATABASE_URL`, on PostgreSQL. The stop is
//! simulated by running the first half of a payment (claim, and maybe the charge) and dropping
//! it; the job then runs with the clock moved past the grace period.

use crate::app::AppState;
use crate::audit::Origin;
use crate::commerce::invoices::{self, NewInvoice, NewLine};
use crate::commerce::money::Totals;
use crate::commerce::store;
use crate::config::Config;

use super::attempts::{self, Attempt, Claim, Outcome, Purpose, Settled};
use super::provider::{Card, ChargeRequest, PaymentProvider};

struct Fixture {
    state: AppState,
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

/// A started app on a fresh database, with an organization and an open invoice of 2,379.
async fn fixture() -> (Fixture, String) {
    let dir = tempfile::tempdir().unwrap();
    let (url, postgres) = match std::env::var("CHARTER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let name = crate::crypto::new_id("charter_t").to_lowercase();
            let admin = crate::db::Db::connect(&admin_url, 1).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(admin.pool())
                .await
                .unwrap();
            admin.close().await;
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            (format!("{base}/{name}"), Some((admin_url, name)))
        }
        None => (
            format!("sqlite://{}", dir.path().join("t.db").display()),
            None,
        ),
    };
    let config = Config {
        database_url: url,
        dev: true,
        mail: format!("file:{}", dir.path().join("outbox.jsonl").display()),
        db_max_connections: 4,
        secret_key_file: dir.path().join("secret.key").display().to_string(),
        ..Config::default()
    };
    let state = AppState::start(config).await.unwrap();
    let now = state.clock.now();
    let invoice_id = state
        .db
        .write(move |w| {
            w.execute(
                "INSERT INTO orgs (id, name, country, created_at, created_by) VALUES ('org_1', 'Acme', 'DE', $1, 'usr_1')",
                crate::params![now],
            )?;
            let line = NewLine {
                subscription_id: "sub_1".into(),
                module_id: "mod_1".into(),
                offer_id: "off_1".into(),
                unit_amount: 1999,
                quantity: 1,
                amount: 1999,
            };
            let new = NewInvoice {
                org_id: "org_1",
                kind: "checkout",
                currency: "EUR",
                totals: Totals {
                    subtotal: 1999,
                    discount: 0,
                    tax: 380,
                    total: 2379,
                },
                tax_rate_ppm: 190_000,
                price_calculation_id: None,
                coupon_id: None,
                lines: vec![line],
            };
            Ok(invoices::insert_in(w, &new, now)?)
        })
        .await
        .unwrap();
    let fixture = Fixture {
        state,
        _dir: dir,
        postgres,
    };
    (fixture, invoice_id)
}

impl Fixture {
    async fn close(self) {
        self.state.db.close().await;
        if let Some((admin_url, name)) = self.postgres {
            let admin = crate::db::Db::connect(&admin_url, 1).await.unwrap();
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(admin.pool())
            .await;
            admin.close().await;
        }
    }

    /// The first unit of a payment: the invoice claimed.
    async fn claim(&self, invoice_id: &str) -> Attempt {
        let (now, id) = (self.state.clock.now(), invoice_id.to_string());
        let claim = self
            .state
            .db
            .write(move |w| {
                crate::orgs::lock_org_in(w, "org_1")?;
                Ok(attempts::claim_in(w, &id, Purpose::Payment, now)?)
            })
            .await
            .unwrap();
        match claim {
            Claim::Claimed(attempt) => attempt,
            other => panic!("not claimed: {other:?}"),
        }
    }

    async fn card_charged(&self, attempt: &Attempt) -> Outcome {
        let card = Card::parse(&serde_json::json!({"type": "card", "number": "4242424242424242"}))
            .unwrap();
        let provider = super::provider(&self.state);
        let source = super::Source::Card(&card);
        attempts::charge(&provider, attempt, source, self.state.clock.now())
            .await
            .unwrap()
    }

    /// Payments of the invoice, and its status.
    async fn paid(&self, invoice_id: &str) -> (usize, String) {
        let invoice = invoices::load_one(&self.state.db, invoice_id)
            .await
            .unwrap();
        (invoice.payments.len(), invoice.status)
    }

    /// The grace period is measured on real time: the clock moves, and the claims are made an
    /// hour old by real time.
    async fn past_the_grace_period(&self) {
        self.state
            .clock
            .advance(&self.state.db, 3600)
            .await
            .unwrap();
        let long_ago = crate::time::Timestamp::system_now().minus_seconds(3600);
        self.state
            .db
            .write(move |w| {
                w.execute(
                    "UPDATE payment_attempts SET claimed_at_system = $1",
                    crate::params![long_ago],
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_charged_before_its_process_stopped_is_recorded_once() {
    let (app, invoice) = fixture().await;
    let attempt = app.claim(&invoice).await;
    let outcome = app.card_charged(&attempt).await;
    assert!(matches!(outcome, Outcome::Charged(_)), "{outcome:?}");
    // The process stops here: the charge is made, nothing recorded.

    // Within the grace period the job leaves the attempt to its request.
    assert_eq!(attempts::recover(&app.state).await.unwrap(), 0);
    assert_eq!(app.paid(&invoice).await, (0, "open".into()));

    app.past_the_grace_period().await;
    assert_eq!(attempts::recover(&app.state).await.unwrap(), 1);
    assert_eq!(app.paid(&invoice).await, (1, "paid".into()));
    assert_eq!(attempts::recover(&app.state).await.unwrap(), 0);

    // A request that was only slow, not stopped, settles after the job: it answers the payment
    // the job recorded and records none of its own.
    let origin = Origin::default();
    let (settled, ()) = attempts::settle(&app.state, &origin, attempt, outcome, |_, _| Ok(()))
        .await
        .unwrap();
    assert!(matches!(settled, Settled::Paid(Some(_))), "{settled:?}");
    assert_eq!(app.paid(&invoice).await, (1, "paid".into()));
    // Paying again finds it paid.
    let claim = app
        .state
        .db
        .write({
            let (invoice, now) = (invoice.clone(), app.state.clock.now());
            move |w| Ok(attempts::claim_in(w, &invoice, Purpose::Payment, now)?)
        })
        .await
        .unwrap();
    assert!(matches!(claim, Claim::AlreadyPaid), "{claim:?}");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_stopped_before_its_charge_is_released_and_never_charged() {
    let (app, invoice) = fixture().await;
    let stopped = app.claim(&invoice).await;
    // The process stops before charging.
    app.past_the_grace_period().await;
    assert_eq!(attempts::recover(&app.state).await.unwrap(), 1);
    assert_eq!(app.paid(&invoice).await, (0, "open".into()));

    // Its key is spent: the charge it was about to make is declined, never made.
    let provider = super::provider(&app.state);
    let key = stopped.idempotency_key();
    let late = provider
        .charge(
            ChargeRequest {
                payment_method: "pm_any",
                amount: 2379,
                currency: "EUR",
                idempotency_key: &key,
            },
            app.state.clock.now(),
        )
        .await
        .unwrap();
    assert!(late.is_err(), "{late:?}");

    // The invoice is open for the next payment, which pays it once.
    let next = app.claim(&invoice).await;
    assert_eq!(next.number, stopped.number + 1);
    let outcome = app.card_charged(&next).await;
    let origin = Origin::default();
    let (settled, ()) = attempts::settle(&app.state, &origin, next, outcome, |_, _| Ok(()))
        .await
        .unwrap();
    assert!(matches!(settled, Settled::Paid(Some(_))), "{settled:?}");
    assert_eq!(app.paid(&invoice).await, (1, "paid".into()));
    assert_eq!(attempts::recover(&app.state).await.unwrap(), 0);
    let unsettled = store::attempts::is_unsettled(&app.state.db, &invoice)
        .await
        .unwrap();
    assert!(!unsettled);
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_stopped_before_its_charge_is_undone() {
    let (app, invoice) = fixture().await;
    let (now, id) = (app.state.clock.now(), invoice.clone());
    let claim = app
        .state
        .db
        .write(move |w| Ok(attempts::claim_in(w, &id, Purpose::Checkout, now)?))
        .await
        .unwrap();
    assert!(matches!(claim, Claim::Claimed(_)), "{claim:?}");
    app.past_the_grace_period().await;
    assert_eq!(attempts::recover(&app.state).await.unwrap(), 1);
    let gone = invoices::load(&app.state.db, std::slice::from_ref(&invoice))
        .await
        .unwrap();
    assert!(gone.is_empty(), "the checkout's invoice is deleted");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_waits_for_one_under_way_and_pays_when_that_one_is_declined() {
    let (app, invoice) = fixture().await;
    let under_way = app.claim(&invoice).await;
    let (state, id) = (app.state.clone(), invoice.clone());
    let waiting = tokio::spawn(async move {
        let card = Card::parse(&serde_json::json!({"type": "card", "number": "4242424242424242"}))
            .unwrap();
        super::pay_invoice(&state, &Origin::default(), &id, card).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "it waits for the payment under way");
    let declined = Outcome::Declined(super::Decline::new("card_declined"));
    let origin = Origin::default();
    attempts::settle(&app.state, &origin, under_way, declined, |_, _| Ok(()))
        .await
        .unwrap();
    let payment = waiting.await.unwrap().unwrap();
    assert_eq!(payment.invoice_id, invoice);
    assert_eq!(app.paid(&invoice).await, (1, "paid".into()));
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_the_test_clock_does_not_give_up_a_payment_under_way() {
    let (app, invoice) = fixture().await;
    let under_way = app.claim(&invoice).await;
    // The test clock moves far past the grace period while the request is still charging: the
    // job leaves its attempt alone (and its key unspent).
    app.state.clock.advance(&app.state.db, 3600).await.unwrap();
    assert_eq!(attempts::recover(&app.state).await.unwrap(), 0);
    let outcome = app.card_charged(&under_way).await;
    assert!(matches!(outcome, Outcome::Charged(_)), "{outcome:?}");
    let origin = Origin::default();
    let (settled, ()) = attempts::settle(&app.state, &origin, under_way, outcome, |_, _| Ok(()))
        .await
        .unwrap();
    assert!(matches!(settled, Settled::Paid(Some(_))), "{settled:?}");
    assert_eq!(app.paid(&invoice).await, (1, "paid".into()));
    app.close().await;
}
