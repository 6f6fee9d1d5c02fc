//! The transactions CSV export (7): checks before the first byte, RFC 4180 rows for payments and
//! refunds, inclusive dates, and many rows streamed in chunks.

use serde_json::json;

use crate::support::TestApp;
use crate::support::fixtures::OK_CARD;

fn today(app: &TestApp) -> String {
    app.state.clock.now().to_rfc3339()[..10].to_string()
}

#[tokio::test]
async fn payments_and_refunds_are_exported_as_csv() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = app.admin_token("root@example.com").await;
    let owner = app.sign_in("csv@example.com").await;
    let org = app.org(&owner).name("CSV").country("FR").create().await.id;
    let first = app.module(&admin_token, "alpha").create().await;
    let second = app.module(&admin_token, "beta").create().await;
    let bought = app
        .buy(&owner.token, &org, &first)
        .card(OK_CARD)
        .create()
        .await;
    app.buy(&owner.token, &org, &second)
        .card(OK_CARD)
        .create()
        .await;
    let subscription = bought["subscriptions"][0]["id"].as_str().unwrap();
    app.post_as(
        &owner.token,
        &format!("/v1/orgs/{org}/subscriptions/{subscription}/refund-requests"),
        &json!({"reason": "test"}),
    )
    .await
    .assert_status(201);

    let day = today(&app);
    let res = app
        .get_as(
            &owner.token,
            &format!("/v1/orgs/{org}/exports/transactions.csv?since={day}&until={day}"),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
    // RFC 4180: every record, the header too, ends with CRLF.
    assert!(res.text.ends_with("\r\n"), "{:?}", res.text);
    assert_eq!(
        res.text.matches("\r\n").count(),
        res.text.matches('\n').count(),
        "{:?}",
        res.text
    );
    let mut reader = csv::Reader::from_reader(res.text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "occurredAt",
            "type",
            "id",
            "invoiceId",
            "subscriptionId",
            "amount",
            "currency"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "{}", res.text);
    let kinds: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(kinds, ["payment", "payment", "refund"], "oldest first");
    let paid: i64 = rows[0][5].parse().unwrap();
    assert!(paid > 0);
    assert_eq!(&rows[2][4], subscription);
    assert!(
        rows[2][5].parse::<i64>().unwrap() < 0,
        "refunds are negative"
    );
    assert_eq!(&rows[0][6], "EUR");
    assert!(
        rows.iter()
            .all(|r| charter::time::Timestamp::parse_rfc3339(&r[0]).is_some())
    );

    // Another day holds nothing but the header.
    let res = app
        .get_as(
            &owner.token,
            &format!("/v1/orgs/{org}/exports/transactions.csv?since=2001-01-01&until=2001-12-31"),
        )
        .await;
    assert_eq!(
        res.text.trim(),
        "occurredAt,type,id,invoiceId,subscriptionId,amount,currency"
    );
}

#[tokio::test]
async fn export_arguments_are_checked_before_the_first_byte() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("args@example.com").await;
    let member = app.sign_in("member@example.com").await;
    let org = app.org(&owner).name("Args").create().await.id;
    let path = |q: &str| format!("/v1/orgs/{org}/exports/transactions.csv{q}");
    let res = app.get_as(&owner.token, &path("")).await;
    assert_eq!(res.assert_problem(400001)["argument"], "since");
    let res = app.get_as(&owner.token, &path("?since=2026-01-01")).await;
    assert_eq!(res.assert_problem(400001)["argument"], "until");
    app.get_as(&owner.token, &path("?since=2026-02-30&until=2026-03-01"))
        .await
        .assert_problem(400001);
    app.get_as(&owner.token, &path("?since=2026-03-02&until=2026-03-01"))
        .await
        .assert_problem(400002);
    let res = app
        .get_as(&owner.token, &path("?since=2025-01-01&until=2026-01-02"))
        .await;
    assert_eq!(res.assert_problem(400011)["maxDays"], 366);
    app.get_as(&owner.token, &path("?since=2025-01-02&until=2026-01-02"))
        .await
        .assert_status(200);

    // Roles and scopes apply first.
    app.add_member(&org, &member, "member").await;
    app.get_as(&member.token, &path(""))
        .await
        .assert_problem(403009);
    let token = app.access_token(&owner, &["billing:read"]).await;
    let res = app
        .get_as(&token, &path("?since=2026-01-01&until=2026-01-01"))
        .await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "exports:read");
    let token = app.access_token(&owner, &["exports:read"]).await;
    app.get_as(&token, &path("?since=2026-01-01&until=2026-01-01"))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn many_rows_stream_in_chunks_in_order() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("bulk@example.com").await;
    let org = app
        .post_as(
            &owner.token,
            "/v1/orgs",
            &json!({"name": "Bulk", "country": "DE"}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = charter::time::Timestamp::parse_date("2026-03-01")
        .unwrap()
        .micros();
    let rows = 12_345;
    // Seven rows share each second and one payment in ten is refunded in the same second, so
    // rows of equal time (from both tables) straddle the 5,000-row pages of the paged reader.
    let mut expected: Vec<(i64, String)> = Vec::new();
    let mut tx = app.state.db.pool().begin().await.unwrap();
    for i in 0..rows {
        let (invoice, at) = (format!("inv_bulk{i:05}"), base + (i as i64 / 7) * 1_000_000);
        sqlx::query(
            "INSERT INTO invoices (id, org_id, kind, status, currency, subtotal, discount, tax, total, tax_rate_ppm, created_at, paid_at)
             VALUES ($1, $2, 'checkout', 'paid', 'EUR', 100, 0, 0, 100, 0, $3, $3)",
        )
        .bind(&invoice)
        .bind(&org)
        .bind(at)
        .execute(&mut *tx)
        .await
        .unwrap();
        let payment = format!("pay_bulk{:05}", rows - i);
        sqlx::query(
            "INSERT INTO payments (id, org_id, invoice_id, amount, currency, status, payment_method, provider_reference, created_at)
             VALUES ($1, $2, $3, 100, 'EUR', 'succeeded', 'pm_bulk', 'ch_bulk', $4)",
        )
        .bind(&payment)
        .bind(&org)
        .bind(&invoice)
        .bind(at)
        .execute(&mut *tx)
        .await
        .unwrap();
        expected.push((at, payment.clone()));
        if i % 10 == 3 {
            let refund = format!("rf_bulk{i:05}");
            sqlx::query(
                "INSERT INTO refunds (id, org_id, subscription_id, invoice_id, payment_id, amount, currency, status, reason, provider_reference, created_at)
                 VALUES ($1, $2, $3, $4, $5, 100, 'EUR', 'succeeded', 'requested', 're_bulk', $6)",
            )
            .bind(&refund)
            .bind(&org)
            .bind(format!("sub_bulk{i:05}"))
            .bind(&invoice)
            .bind(&payment)
            .bind(at)
            .execute(&mut *tx)
            .await
            .unwrap();
            expected.push((at, refund));
        }
    }
    tx.commit().await.unwrap();
    expected.sort();
    let res = app
        .get_as(
            &owner.token,
            &format!("/v1/orgs/{org}/exports/transactions.csv?since=2026-03-01&until=2026-03-31"),
        )
        .await;
    assert_eq!(res.status, 200);
    let mut reader = csv::Reader::from_reader(res.text.as_bytes());
    let ids: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[2].to_string())
        .collect();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), expected.len());
    assert!(
        ids == expected,
        "every row once, by time then id (first difference at {:?})",
        ids.iter().zip(&expected).position(|(a, b)| a != b)
    );
    // The last day is inclusive, the day after excluded.
    let res = app
        .get_as(
            &owner.token,
            &format!("/v1/orgs/{org}/exports/transactions.csv?since=2026-02-01&until=2026-02-28"),
        )
        .await;
    assert_eq!(res.text.lines().count(), 1);
}
