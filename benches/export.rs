//! Export and list benchmark over a large organization: fills a fresh SQLite database with
//! `ROWS` paid invoices and their payments (1,000,000 by default; one payment in twenty is
//! refunded, so the export merges both tables), starts the release `charter`
//! binary on it, then measures the transactions CSV export (rows/s and the server's peak RSS)
//! and a filtered invoice list (p50/p99 over repeated requests).
//! Run with `cargo bench --bench export` (`BENCH_ROWS=100000` for a quicker run).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use charter::db::Db;
use futures_util::StreamExt as _;

const DAY_US: i64 = 86_400_000_000;

fn status_value(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let rows: i64 = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/export.db", dir.path().display());
    let db = Db::connect(&url, 2).await.unwrap();
    db.migrate().await.unwrap();

    // The administrator (and its all-scopes token) comes from the CLI, like an operator's.
    let out = Command::new(env!("CARGO_BIN_EXE_charter"))
        .args(["bootstrap-admin", "--email", "bench@example.com"])
        .env("DATABASE_URL", &url)
        .env("CHARTER_LOG", "warn")
        .output()
        .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (user, token) = (
        printed["userId"].as_str().unwrap().to_string(),
        printed["token"].as_str().unwrap().to_string(),
    );
    let start = charter::time::Timestamp::parse_date("2025-01-01")
        .unwrap()
        .micros();
    sqlx::query("INSERT INTO orgs (id, name, country, created_at, created_by) VALUES ('org_bench', 'Bench', 'DE', $1, $2)")
        .bind(start)
        .bind(&user)
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ('org_bench', $1, 'owner', $2)")
        .bind(&user)
        .bind(start)
        .execute(db.pool())
        .await
        .unwrap();

    let filled = Instant::now();
    let batch = 500i64;
    let spread = 365 * DAY_US / rows.max(1);
    let mut i = 0;
    while i < rows {
        let n = batch.min(rows - i);
        let mut tx = db.pool().begin().await.unwrap();
        let mut invoices = String::from(
            "INSERT INTO invoices (id, org_id, kind, status, currency, subtotal, discount, tax, total, tax_rate_ppm, created_at, paid_at) VALUES ",
        );
        let mut payments = String::from(
            "INSERT INTO payments (id, org_id, invoice_id, amount, currency, status, payment_method, provider_reference, created_at) VALUES ",
        );
        let mut refunds = String::from(
            "INSERT INTO refunds (id, org_id, subscription_id, invoice_id, payment_id, amount, currency, status, reason, provider_reference, created_at) VALUES ",
        );
        let mut any_refund = false;
        for k in 0..n {
            let j = i + k;
            let at = start + j * spread;
            let total = 100 + (j % 5000);
            let status = if j % 10 == 0 { "open" } else { "paid" };
            let sep = if k == 0 { "" } else { "," };
            invoices.push_str(&format!("{sep}('inv_{j:09}','org_bench','checkout','{status}','EUR',{total},0,0,{total},0,{at},{at})"));
            payments.push_str(&format!("{sep}('pay_{j:09}','org_bench','inv_{j:09}',{total},'EUR','succeeded','pm_bench','ch_bench',{at})"));
            // One payment in twenty is refunded a little later, so the export merges both.
            if j % 20 == 7 {
                let sep = if any_refund { "," } else { "" };
                any_refund = true;
                let later = at + spread / 2;
                refunds.push_str(&format!("{sep}('ref_{j:09}','org_bench','sub_{j:09}','inv_{j:09}','pay_{j:09}',{total},'EUR','succeeded','requested','re_bench',{later})"));
            }
        }
        // Values are generated numbers and fixed words: nothing from outside is spliced.
        sqlx::query(sqlx::AssertSqlSafe(invoices))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(payments))
            .execute(&mut *tx)
            .await
            .unwrap();
        if any_refund {
            sqlx::query(sqlx::AssertSqlSafe(refunds))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        i += n;
    }
    if std::env::var("BENCH_PLAN").is_ok() {
        for sql in [
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM invoices WHERE org_id = 'org_bench' AND (status = 'paid' AND total >= 4000)",
            "EXPLAIN QUERY PLAN SELECT id FROM invoices WHERE org_id = 'org_bench' AND (status = 'paid' AND total >= 4000) ORDER BY created_at DESC, id DESC LIMIT 20 OFFSET 0",
        ] {
            for row in sqlx::query(sql).fetch_all(db.pool()).await.unwrap() {
                use sqlx::Row as _;
                println!(
                    "{}: {}",
                    &sql[19..60],
                    row.try_get::<String, _>("detail").unwrap()
                );
            }
        }
    }
    if std::env::var("BENCH_ANALYZE").is_ok() {
        sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
    }
    db.close().await;
    println!(
        "filled {rows} invoices and payments (and {} refunds) in {:.1} s",
        (rows + 12) / 20,
        filled.elapsed().as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_charter"))
        .env("CHARTER_BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &url)
        .env(
            "CHARTER_MAIL",
            format!("file:{}/outbox.jsonl", dir.path().display()),
        )
        .env("CHARTER_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id();
    println!(
        "server idle RSS: {:.1} MiB",
        status_value(pid, "VmRSS:") as f64 / 1024.0
    );

    let started = Instant::now();
    let res = client
        .get(format!(
            "{base}/v1/orgs/org_bench/exports/transactions.csv?since=2025-01-01&until=2025-12-31"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let mut stream = res.bytes_stream();
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let secs = started.elapsed().as_secs_f64();
    let exported = lines.saturating_sub(1);
    println!(
        "export: {exported} rows, {:.1} MiB in {secs:.2} s = {:.0} rows/s; server peak RSS (VmHWM) {:.1} MiB",
        bytes as f64 / 1048576.0,
        exported as f64 / secs,
        status_value(pid, "VmHWM:") as f64 / 1024.0
    );

    for (label, query) in [
        (
            "status:paid AND total>=4000 (most invoices match)",
            "status:paid%20AND%20total%3E=4000",
        ),
        (
            "status:open AND total>=5000 (few match)",
            "status:open%20AND%20total%3E=5000",
        ),
    ] {
        let mut times = Vec::new();
        let url = format!("{base}/v1/orgs/org_bench/invoices?limit=20&query={query}");
        for k in 0..200 {
            let from = (k % 10) * 20;
            let t = Instant::now();
            let res = client
                .get(format!("{url}&from={from}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success());
            let _ = res.bytes().await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let pct = |p: f64| {
            times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
        };
        println!(
            "invoice list over {rows} invoices, {label}, 20 per page: p50 {:.1} ms, p99 {:.1} ms",
            pct(0.50),
            pct(0.99)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
