//! An administrator's change racing an erasure of the same user: the change answers as if
//! the user were unknown (404001), never as if the address were taken (400006).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sqlx::Connection as _;

use crate::support::database::is_postgres;
use crate::support::{Res, TestApp};

/// Waits until `waiting` connections of this test's PostgreSQL database wait for a lock.
async fn wait_for_lock_waiters(watcher: &mut sqlx::AnyConnection, waiting: i64) {
    for _ in 0..3000 {
        let now: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *watcher)
        .await
        .unwrap();
        if now >= waiting {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never {waiting} waiting for a lock");
}

/// Runs `change` against an erasure of `user_id`. On PostgreSQL the test holds the user's row
/// lock first, so the erasure waits for it, then the change does; released, the erasure runs
/// and the change finds the user gone. SQLite runs one unit at a time: the change runs wholly
/// before or after the erasure. The erasure's answer and the change's.
async fn race_with_erasure<F>(app: &TestApp, root: &str, user_id: &str, change: F) -> (Res, Res)
where
    F: std::future::Future<Output = Res>,
{
    let path = format!("/v1/users/{user_id}");
    let erase = app.delete_as(root, &path);
    if !is_postgres() {
        return tokio::join!(erase, change);
    }
    let mut holder = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut watcher = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("UPDATE users SET id = id WHERE id = $1")
        .bind(user_id)
        .execute(&mut *held)
        .await
        .unwrap();
    let then_change = async {
        wait_for_lock_waiters(&mut watcher, 1).await;
        let release = async {
            wait_for_lock_waiters(&mut watcher, 2).await;
            held.rollback().await.unwrap();
        };
        tokio::join!(change, release).0
    };
    tokio::join!(erase, then_change)
}

/// On PostgreSQL the change always comes second (404001); on SQLite it may come first (200).
fn assert_second_or_first(changed: &Res) {
    if is_postgres() || changed.status != 200 {
        changed.assert_problem(404001);
    }
}

#[tokio::test]
async fn an_email_change_racing_an_erasure_answers_404001() {
    let app = TestApp::spawn().await;
    let root = app.root_token().await;
    app.post_as(
        &root,
        "/v1/users",
        &json!({"id": "r.1", "email": "r@example.com"}),
    )
    .await
    .assert_status(201);
    let change = app
        .req(Method::PATCH, "/v1/users/r.1")
        .token(&root)
        .json(&json!({"email": "r2@example.com"}))
        .send();
    let (erased, changed) = race_with_erasure(&app, &root, "r.1", change).await;
    erased.assert_status(204);
    // Not 400006: the address is no other account's.
    assert_second_or_first(&changed);
    app.get_as(&root, "/v1/users/r.1")
        .await
        .assert_problem(404001);
    assert_eq!(
        app.stored_mentions("r2@example.com").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_ban_racing_an_erasure_answers_404001() {
    let app = TestApp::spawn().await;
    let root = app.root_token().await;
    app.post_as(
        &root,
        "/v1/users",
        &json!({"id": "r.2", "email": "r2@example.com"}),
    )
    .await
    .assert_status(201);
    let reason = json!({"reason": "spam"});
    let ban = app.post_as(&root, "/v1/users/r.2/ban", &reason);
    let (erased, banned) = race_with_erasure(&app, &root, "r.2", ban).await;
    erased.assert_status(204);
    assert_second_or_first(&banned);
}
