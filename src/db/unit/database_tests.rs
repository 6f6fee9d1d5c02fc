//! `Db::write` on a SQLite file and, with `CHARTER_TEST_DATABASE_URL`, on PostgreSQL.

use super::*;
use crate::db::Db;
use crate::error::ErrorCode;

/// A fresh migrated database: a temporary SQLite file, or a new PostgreSQL database.
async fn fresh() -> (Db, tempfile::TempDir, Option<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = match std::env::var("CHARTER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let name = crate::crypto::new_id("charter_t").to_lowercase();
            let admin = Db::connect(&admin_url, 1).await.unwrap();
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
    let db = Db::connect(&url, 4).await.unwrap();
    db.migrate().await.unwrap();
    (db, dir, pg)
}

async fn drop_database(db: Db, pg: Option<(String, String)>) {
    db.close().await;
    if let Some((admin_url, name)) = pg {
        let admin = Db::connect(&admin_url, 1).await.unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(admin.pool())
        .await;
        admin.close().await;
    }
}

const INSERT: &str = "INSERT INTO installation_secrets (name, secret) VALUES ($2, $1)";

async fn names(db: &Db) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM installation_secrets ORDER BY name")
        .fetch_all(db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_commits_whole_or_not_at_all() {
    let (db, _dir, pg) = fresh().await;
    // Placeholders bind by number, whatever their order in the text.
    let read = db
        .write(|w| {
            w.execute(INSERT, crate::params!["secret-a", "a"])?;
            w.execute(INSERT, crate::params!["secret-b", "b"])?;
            let row = w.query_one(
                "SELECT name, secret FROM installation_secrets WHERE name = $1",
                crate::params!["a"],
            )?;
            Ok((row.text("name")?, row.text("secret")?))
        })
        .await
        .unwrap();
    assert_eq!(read, ("a".to_string(), "secret-a".to_string()));
    let failed = db
        .write(|w| {
            w.execute(INSERT, crate::params!["x", "c"])?;
            Err::<(), _>(ApiError::new(ErrorCode::ValidationError, "no"))
        })
        .await;
    assert_eq!(failed.unwrap_err().code, ErrorCode::ValidationError);
    let duplicate = db
        .write(|w| {
            w.execute(INSERT, crate::params!["x", "d"])?;
            // A refusal is decided without a failing statement (on PostgreSQL a failed
            // statement ends the transaction), and returned as a value: the unit commits.
            let taken = w.execute(
                "INSERT INTO installation_secrets (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                crate::params!["a", "y"],
            )? == 0;
            Ok(taken)
        })
        .await;
    assert!(duplicate.unwrap());
    // A failing statement ends the unit, even when the closure carries on: nothing of it
    // commits, on either database.
    let violated = db
        .write(|w| {
            w.execute(INSERT, crate::params!["x", "e"])?;
            match w.execute(INSERT, crate::params!["y", "a"]) {
                Err(e) => Ok(e.is_unique_violation()),
                Ok(_) => Ok(false),
            }
        })
        .await;
    assert_eq!(violated.unwrap_err().code, ErrorCode::UnexpectedError);
    assert_eq!(names(&db).await, ["a", "b", "d"]);
    drop_database(db, pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_unit_rolls_back_and_frees_the_writer() {
    let (db, _dir, pg) = fresh().await;
    let panicked = db
        .write(|w| -> ApiResult<()> {
            w.execute(INSERT, crate::params!["x", "lost"])?;
            panic!("a bug inside a unit");
        })
        .await;
    assert_eq!(panicked.unwrap_err().code, ErrorCode::UnexpectedError);
    db.write(|w| {
        w.execute(INSERT, crate::params!["x", "kept"])?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&db).await, ["kept"]);
    drop_database(db, pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_finishes_when_its_caller_goes_away() {
    let (db, _dir, pg) = fresh().await;
    let started = std::sync::Arc::new(std::sync::Barrier::new(2));
    let inside = started.clone();
    let unit = db.write(move |w| {
        w.execute(INSERT, crate::params!["x", "finished"])?;
        inside.wait();
        std::thread::sleep(std::time::Duration::from_millis(50));
        w.execute(INSERT, crate::params!["y", "finished-too"])?;
        Ok(())
    });
    let waiter = tokio::task::spawn_blocking(move || started.wait());
    tokio::select! {
        _ = unit => panic!("the unit should still be running"),
        _ = waiter => {}
    }
    // The caller dropped its future; the unit commits anyway, and the writer is free.
    db.write(|w| {
        w.execute(INSERT, crate::params!["z", "after"])?;
        Ok(())
    })
    .await
    .unwrap();
    // (On PostgreSQL the second unit did not wait for the first: give it time to end.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while names(&db).await.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(names(&db).await, ["after", "finished", "finished-too"]);
    drop_database(db, pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_from_many_tasks_serialise() {
    let (db, _dir, pg) = fresh().await;
    db.write(|w| {
        w.execute(INSERT, crate::params!["0", "counter"])?;
        Ok(())
    })
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.write(|w| {
                // Read, then write: lost updates would show if units interleaved.
                let n: i64 = w
                    .query_one(
                        "SELECT secret FROM installation_secrets WHERE name = $1",
                        crate::params!["counter"],
                    )?
                    .text("secret")?
                    .parse()
                    .unwrap();
                w.execute(
                    "UPDATE installation_secrets SET secret = $1 WHERE name = $2",
                    crate::params![(n + 1).to_string(), "counter"],
                )?;
                Ok(())
            })
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let n: String =
        sqlx::query_scalar("SELECT secret FROM installation_secrets WHERE name = 'counter'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    // PostgreSQL's READ COMMITTED would lose updates here; units there lock what they
    // change (`FOR UPDATE`) where it matters. This test is about SQLite's single writer.
    if db.backend() == crate::db::Backend::Sqlite {
        assert_eq!(n, "40");
    }
    drop_database(db, pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_units_among_many_leave_the_others_whole() {
    let (db, _dir, pg) = fresh().await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.write(move |w| {
                w.execute(INSERT, crate::params!["x", format!("u{i:02}")])?;
                w.execute(INSERT, crate::params!["y", format!("u{i:02}-b")])?;
                match i % 3 {
                    0 => Err(ApiError::new(ErrorCode::ValidationError, "refused")),
                    1 if i % 2 == 1 => panic!("a bug in one unit"),
                    _ => Ok(i),
                }
            })
            .await
        }));
    }
    let mut kept = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match (i % 3, task.await.unwrap()) {
            (0, Err(e)) => assert_eq!(e.code, ErrorCode::ValidationError),
            (1, Err(e)) if i % 2 == 1 => assert_eq!(e.code, ErrorCode::UnexpectedError),
            (_, Ok(n)) => {
                kept.push(format!("u{n:02}"));
                kept.push(format!("u{n:02}-b"));
            }
            (_, other) => panic!("unit {i}: {other:?}"),
        }
    }
    kept.sort();
    // Whole units or nothing of them, whatever shared their transaction.
    assert_eq!(names(&db).await, kept);
    drop_database(db, pg).await;
}

/// SQLite rolls a whole transaction back on some errors; a unit must then not go on
/// writing outside it (each statement would commit on its own), and no caller of the batch
/// may be told its write committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_lost_half_way_commits_nothing() {
    let (db, _dir, pg) = fresh().await;
    if db.backend() == crate::db::Backend::Sqlite {
        let lost = db
            .write(|w| {
                w.execute(INSERT, crate::params!["x", "before"])?;
                w.execute("ROLLBACK", &[])?;
                w.execute(INSERT, crate::params!["x", "after"])?;
                Ok(())
            })
            .await;
        assert_eq!(lost.unwrap_err().code, ErrorCode::UnexpectedError);
        assert!(names(&db).await.is_empty());
        // The writer is whole again for the next unit.
        db.write(|w| {
            w.execute(INSERT, crate::params!["x", "next"])?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(names(&db).await, ["next"]);
    }
    drop_database(db, pg).await;
}

/// `Db::bind_server_key` (`installation.rs`): of processes starting at once with different
/// keys, exactly one binds its key; that one binds again on every later start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_key_binds_and_any_other_is_refused() {
    let (db, _dir, pg) = fresh().await;
    let mut starts = Vec::new();
    for fingerprint in ["fp-a", "fp-b", "fp-c", "fp-d"] {
        let db = db.clone();
        starts.push(tokio::spawn(async move {
            (fingerprint, db.bind_server_key(fingerprint).await)
        }));
    }
    let mut bound = Vec::new();
    for start in starts {
        let (fingerprint, result) = start.await.unwrap();
        match result {
            Ok(()) => bound.push(fingerprint),
            Err(e) => assert!(e.to_string().contains("another server key"), "{e}"),
        }
    }
    assert_eq!(bound.len(), 1, "{bound:?}");
    db.bind_server_key(bound[0]).await.unwrap();
    assert!(db.bind_server_key("fp-e").await.is_err());
    assert_eq!(names(&db).await, ["server_key_fingerprint"]);
    drop_database(db, pg).await;
}

/// A refusal (the closure's `Err`) rolls back cleanly, so its PostgreSQL connection serves the
/// next unit instead of being thrown away: refused requests cost no reconnections.
#[tokio::test]
async fn a_refused_unit_keeps_its_connection() {
    let (db, _dir, pg) = fresh().await;
    let Some((admin_url, name)) = pg.clone() else {
        return;
    };
    // One connection, so a thrown-away one shows as a new server process.
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let single = Db::connect(&format!("{base}/{name}"), 1).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let pid = single
            .write(|w| {
                Ok(w.query_one("SELECT CAST(pg_backend_pid() AS BIGINT)", &[])?
                    .int_at(0)?)
            })
            .await
            .unwrap();
        seen.insert(pid);
        let refused = single
            .write(|_| Err::<(), _>(crate::error::ApiError::from(ErrorCode::NotFound)))
            .await;
        assert!(refused.is_err());
    }
    assert_eq!(
        seen.len(),
        1,
        "{} server processes for 10 units",
        seen.len()
    );
    single.close().await;
    drop_database(db, pg).await;
}
