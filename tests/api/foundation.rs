//! The error contract, lists, request ids, operations routes and the test clock.

use std::time::Duration;

use axum::routing::get;
use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;
use crate::support::database::TestDatabase;

#[tokio::test]
async fn the_error_catalogue_is_listed_and_resolvable() {
    let app = TestApp::spawn().await;
    let res = app.get("/v1/errors?limit=100").await;
    let body = res.assert_status(200);
    assert_eq!(body["total"], 39);
    assert_eq!(body["from"], 0);
    assert_eq!(body["limit"], 100);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 39);
    assert_eq!(
        items[0],
        json!({"code": 400001, "name": "ArgumentMissingOrUnparseable", "status": 400,
        "description": "A required argument was not provided or could not be parsed."})
    );
    assert_eq!(items[38]["code"], 500001);
    let codes: Vec<u64> = items.iter().map(|i| i["code"].as_u64().unwrap()).collect();
    assert!(codes.windows(2).all(|w| w[0] < w[1]), "ordered by code");

    let page = app.get("/v1/errors").await;
    assert_eq!(page.json["limit"], 20);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 20);
    let page = app.get("/v1/errors?from=30&limit=20").await;
    assert_eq!(page.json["items"].as_array().unwrap().len(), 9);
    assert_eq!(page.json["items"][0]["code"], items[30]["code"]);
    let count_only = app.get("/v1/errors?limit=0").await;
    assert_eq!(
        count_only.json,
        json!({"items": [], "from": 0, "limit": 0, "total": 39})
    );

    for item in items {
        let code = item["code"].as_u64().unwrap();
        let one = app.get(&format!("/v1/errors/{code}")).await;
        assert_eq!(one.assert_status(200), item);
    }
    app.get("/v1/errors/999999").await.assert_problem(404003);
    app.get("/v1/errors/abc").await.assert_problem(404003);
}

#[tokio::test]
async fn list_parameters_are_checked_in_order() {
    let app = TestApp::spawn().await;
    app.get("/v1/errors?from=-1").await.assert_problem(400003);
    app.get("/v1/errors?limit=-1").await.assert_problem(400004);
    let too_large = app.get("/v1/errors?limit=101").await;
    assert_eq!(too_large.assert_problem(400005)["maxLimit"], 100);
    let bad = app.get("/v1/errors?limit=abc").await;
    assert_eq!(bad.assert_problem(400001)["argument"], "limit");
    let bad = app.get("/v1/errors?from=x&limit=-1").await;
    assert_eq!(bad.assert_problem(400001)["argument"], "from");
    app.get("/v1/errors?from=-1&limit=101")
        .await
        .assert_problem(400003);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_404003() {
    let app = TestApp::spawn().await;
    app.get("/v1/nothing-here").await.assert_problem(404003);
    app.get("/").await.assert_problem(404003);
    let wrong = app.req(Method::DELETE, "/v1/errors").send().await;
    wrong.assert_problem(404003);
    let allow = wrong.header("allow").expect("Allow header");
    assert!(allow.contains("GET"), "{allow}");
    let wrong = app.req(Method::PUT, "/v1/dev/clock").send().await;
    wrong.assert_problem(404003);
    assert!(wrong.header("allow").unwrap().contains("POST"));
}

#[tokio::test]
async fn bodies_that_do_not_parse_answer_400001_and_bad_values_400002() {
    let app = TestApp::spawn().await;
    let res = app
        .req(Method::POST, "/v1/dev/clock")
        .body("application/json", "{not json")
        .send()
        .await;
    res.assert_problem(400001);
    let res = app
        .req(Method::POST, "/v1/dev/clock")
        .body("text/plain", r#"{"advanceSeconds":1}"#)
        .send()
        .await;
    res.assert_problem(400001);
    let res = app.post("/v1/dev/clock", &json!({})).await;
    assert_eq!(res.assert_problem(400001)["argument"], "/advanceSeconds");
    let res = app
        .post("/v1/dev/clock", &json!({"advanceSeconds": "ten"}))
        .await;
    assert_eq!(res.assert_problem(400001)["argument"], "/advanceSeconds");
    let res = app
        .post(
            "/v1/dev/clock",
            &json!({"advanceSeconds": 10, "extra": true}),
        )
        .await;
    assert_eq!(res.assert_problem(400002)["errors"][0]["field"], "extra");
    // serde_json would keep the last value: a key given twice is refused, naming it.
    let res = app
        .req(Method::POST, "/v1/dev/clock")
        .body(
            "application/json",
            r#"{"advanceSeconds": 10, "advanceSeconds": 20}"#,
        )
        .send()
        .await;
    let body = res.assert_problem(400001);
    assert_eq!(body["argument"], "/advanceSeconds");
    assert!(
        body["detail"].as_str().unwrap().contains("advanceSeconds"),
        "{body}"
    );
    for bad in [0, -5, 315_360_001] {
        let res = app
            .post("/v1/dev/clock", &json!({"advanceSeconds": bad}))
            .await;
        let body = res.assert_problem(400002);
        assert_eq!(body["errors"][0]["field"], "advanceSeconds");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("between")
        );
    }
}

#[tokio::test]
async fn a_body_over_the_limit_answers_400001() {
    let app = TestApp::spawn_configured(|c| c.body_limit_bytes = 64).await;
    let big = format!(r#"{{"advanceSeconds":1,"pad":"{}"}}"#, "x".repeat(1000));
    app.req(Method::POST, "/v1/dev/clock")
        .body("application/json", big.clone())
        .send()
        .await
        .assert_problem(400001);
    // With an Idempotency-Key the body is read by the idempotency layer first: same answer.
    app.req(Method::POST, "/v1/dev/clock")
        .header("idempotency-key", "big")
        .body("application/json", big)
        .send()
        .await
        .assert_problem(400001);
}

async fn panics() -> &'static str {
    panic!("secret internal detail: database password is hunter2")
}

async fn sleeps() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

#[tokio::test]
async fn panics_and_timeouts_answer_500001_without_internals() {
    let extra = axum::Router::new()
        .route("/test/panic", get(panics))
        .route("/test/slow", get(sleeps));
    let app = TestApp::spawn_with(|c| c.request_timeout_secs = 1, extra).await;
    let res = app.get("/test/panic").await;
    res.assert_problem(500001);
    assert!(
        !res.text.contains("hunter2") && !res.text.contains("panic"),
        "{}",
        res.text
    );
    let res = app.get("/test/slow").await;
    res.assert_problem(500001);
    assert!(!res.text.contains("late"));
    // The server is still healthy afterwards.
    app.get("/healthz").await.assert_status(200);
}

#[tokio::test]
async fn request_ids_are_echoed_or_replaced() {
    let app = TestApp::spawn().await;
    let res = app
        .req(Method::GET, "/healthz")
        .header("x-request-id", "abc.DEF_123-x")
        .send()
        .await;
    assert_eq!(res.header("x-request-id"), Some("abc.DEF_123-x"));
    let res = app
        .req(Method::GET, "/v1/nope")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await;
    let id = res.header("x-request-id").unwrap().to_string();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(res.assert_problem(404003)["requestId"], id);
    let long = "a".repeat(129);
    let res = app
        .req(Method::GET, "/healthz")
        .header("x-request-id", &long)
        .send()
        .await;
    assert_ne!(res.header("x-request-id"), Some(long.as_str()));
    let res = app.get("/healthz").await;
    assert!(res.header("x-request-id").unwrap().starts_with("req_"));
}

#[tokio::test]
async fn operations_routes_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.assert_status(200)["status"], "ok");
    assert_eq!(
        app.get("/readyz").await.assert_status(200)["status"],
        "ready"
    );
    app.get("/v1/errors").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.contains(
            r#"charter_http_requests_total{method="GET",route="/v1/errors",status="200"}"#
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("charter_http_request_duration_seconds_bucket")
    );
    let docs = app.get("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let catalogue = app.get("/docs/errors").await;
    assert_eq!(catalogue.status, 200);
    assert!(catalogue.text.contains("UnexpectedError"));
}

#[tokio::test]
async fn the_openapi_document_covers_exactly_the_policy_table() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await;
    let doc = doc.assert_status(200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.push(format!("{} {path}", method.to_uppercase()));
            assert!(
                op["responses"]["500"]["content"]["application/problem+json"].is_object(),
                "{method} {path} documents its errors"
            );
        }
    }
    let mut table: Vec<String> = charter::http::policy::ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    documented.sort();
    table.sort();
    assert_eq!(
        documented, table,
        "every routed operation has exactly one policy entry"
    );
}

#[tokio::test]
async fn the_test_clock_moves_time_only_with_dev() {
    let app = TestApp::spawn().await;
    let before = app.get("/v1/dev/clock").await.assert_status(200)["now"]
        .as_str()
        .unwrap()
        .to_string();
    let after = app
        .post("/v1/dev/clock", &json!({"advanceSeconds": 86400}))
        .await;
    let after = after.assert_status(200)["now"]
        .as_str()
        .unwrap()
        .to_string();
    let b = charter::time::Timestamp::parse_rfc3339(&before).unwrap();
    let a = charter::time::Timestamp::parse_rfc3339(&after).unwrap();
    assert!(
        b.seconds_until(a) >= 86400 && b.seconds_until(a) < 86400 + 60,
        "{before} → {after}"
    );

    let prod = TestApp::spawn_configured(|c| c.dev = false).await;
    prod.get("/v1/dev/clock").await.assert_problem(404003);
    prod.post("/v1/dev/clock", &json!({"advanceSeconds": 1}))
        .await
        .assert_problem(404003);
    prod.post("/v1/dev/clock", &json!({"bad": 1}))
        .await
        .assert_problem(404003);
}

#[tokio::test]
async fn the_clock_offset_is_shared_through_the_database() {
    let app = TestApp::spawn().await;
    app.advance(3600).await;
    // A second process on the same database sees the moved clock.
    let config = charter::config::Config {
        database_url: app.database_url.clone(),
        dev: true,
        ..(*app.state.config).clone()
    };
    let other = charter::app::AppState::start(config).await.unwrap();
    let drift = app.state.clock.now().micros() - other.clock.now().micros();
    assert!(drift.abs() < 5_000_000, "drift {drift}µs");
    assert!(other.clock.now() > charter::time::Timestamp::system_now().plus_seconds(3500));
}

/// Each test's database is a copy of a template migrated once (`support/database.rs`): the
/// app's start finds every migration applied and applies none again.
#[tokio::test]
async fn test_databases_start_as_copies_of_the_migrated_template() {
    let applied = |app: TestApp| async move {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT version, CAST(installed_on AS TEXT) FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
        rows
    };
    let first = applied(TestApp::spawn().await).await;
    let second = applied(TestApp::spawn().await).await;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(first.len(), files);
    assert_eq!(first, second, "installed once, into the template");
}

/// On an empty database, as when several processes are first started together.
#[tokio::test]
async fn migrations_are_safe_when_processes_start_together() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::empty(dir.path()).await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = database.url.clone();
        handles.push(tokio::spawn(async move {
            let db = charter::db::Db::connect(&url, 1).await.unwrap();
            db.migrate().await.unwrap();
            assert!(db.is_migrated().await);
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn bootstrap_admin_prints_a_token_and_finds_the_same_user_again() {
    let app = TestApp::spawn().await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_charter"))
            .args(["bootstrap-admin", "--email", " Root@Example.com "])
            .env("DATABASE_URL", &app.database_url)
            .env_remove("CHARTER_CONFIG")
            .output()
            .expect("run charter")
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let second: serde_json::Value = serde_json::from_slice(&run().stdout).unwrap();
    assert!(first["userId"].as_str().unwrap().starts_with("usr_"));
    assert!(first["token"].as_str().unwrap().starts_with("cht_"));
    assert_eq!(first["userId"], second["userId"]);
    assert_ne!(first["token"], second["token"]);
}

/// `charter openapi` is how integrators get the document without a server (README, Generated
/// clients): it must be the one the server serves.
#[tokio::test]
async fn openapi_subcommand_prints_the_served_document() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json").await;
    let served = res.assert_status(200);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_charter"))
        .arg("openapi")
        .env_remove("CHARTER_CONFIG")
        .output()
        .expect("run charter");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(&printed, served);
}

const INSERT_SECRET: &str = "INSERT INTO installation_secrets (name, secret) VALUES ($1, 'x')";

async fn secret_names(db: &charter::db::Db, like: &str) -> Vec<String> {
    db.read_all(
        "SELECT name FROM installation_secrets WHERE name LIKE $1 ORDER BY name",
        charter::params![like],
    )
    .await
    .unwrap()
}

/// A unit whose closure fails is rolled back whole, one that answers commits, and many units
/// at once (here, and in another process on the same database) all get through.
#[tokio::test]
async fn units_commit_or_roll_back_whole_and_queue_for_the_writer() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let failed = db
        .write(|w| {
            w.execute(INSERT_SECRET, charter::params!["unit-undone"])?;
            Err::<(), _>(charter::error::ApiError::internal("the closure gives up"))
        })
        .await;
    assert!(failed.is_err());
    db.write(|w| Ok(w.execute(INSERT_SECRET, charter::params!["unit-kept"])?))
        .await
        .unwrap();
    let peer = app.spawn_peer().await;
    let writes = (0..50).map(|i| {
        let db = if i % 2 == 0 {
            db.clone()
        } else {
            peer.state.db.clone()
        };
        async move {
            db.write(move |w| {
                Ok(w.execute(INSERT_SECRET, charter::params![format!("unit-many-{i:02}")])?)
            })
            .await
        }
    });
    for result in futures_util::future::join_all(writes).await {
        result.unwrap();
    }
    let names = secret_names(db, "unit-%").await;
    assert_eq!(names.len(), 51, "{names:?}");
    assert!(names.contains(&"unit-kept".to_string()));
    assert!(!names.contains(&"unit-undone".to_string()));
}

/// A request cancelled while its unit waits (another process holds the write lock) leaves
/// nothing behind: the unit still runs to its end once it can, and the writer keeps serving
/// this process and the other.
#[tokio::test]
async fn a_unit_whose_caller_stops_waiting_still_finishes_and_frees_the_writer() {
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    let holder = {
        let db = peer.state.db.clone();
        tokio::spawn(async move {
            db.write(|w| {
                w.execute(INSERT_SECRET, charter::params!["cancel-peer"])?;
                // Holds the unit (and on SQLite the database's write lock) for a while.
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok(())
            })
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let db = app.state.db.clone();
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        db.write(|w| Ok(w.execute(INSERT_SECRET, charter::params!["cancel-waiting"])?)),
    )
    .await;
    holder.await.unwrap().unwrap();
    if let Ok(done) = cancelled {
        // PostgreSQL has no database-wide write lock: the unit simply ran.
        done.unwrap();
    }
    let writes = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        db.write(|w| Ok(w.execute(INSERT_SECRET, charter::params!["cancel-after"])?))
            .await
            .unwrap();
        peer.state
            .db
            .write(|w| Ok(w.execute(INSERT_SECRET, charter::params!["cancel-peer-after"])?))
            .await
            .unwrap();
    })
    .await;
    assert!(writes.is_ok(), "the writer stayed held");
    // The cancelled unit finished too (the caller only stopped waiting for it).
    let mut names = Vec::new();
    for _ in 0..100 {
        names = secret_names(&peer.state.db, "cancel-%").await;
        if names.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        names,
        [
            "cancel-after",
            "cancel-peer",
            "cancel-peer-after",
            "cancel-waiting"
        ]
    );
}

/// On SQLite the server checkpoints the WAL itself (not the writer in the middle of a
/// request): a passive checkpoint copies every committed page while nobody reads.
#[tokio::test]
async fn the_wal_is_checkpointed_off_the_writer() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    if db.backend() != charter::db::Backend::Sqlite {
        return;
    }
    for i in 0..200 {
        db.write(move |w| {
            Ok(w.execute(
                "INSERT INTO installation_secrets (name, secret) VALUES ($1, $2)",
                charter::params![format!("wal-{i}"), "x".repeat(2000)],
            )?)
        })
        .await
        .unwrap();
    }
    let (log, copied) = db.checkpoint().await.unwrap();
    assert!(log > 0, "the writes are in the WAL");
    assert_eq!(copied, log, "a quiet database is checkpointed whole");
}
