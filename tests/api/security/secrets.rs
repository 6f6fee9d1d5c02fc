//! A copy of the database: codes keyed by the server key outside it, one key per database,
//! private files.

use crate::support::TestApp;

/// A copy of the database alone reveals no code: the review brute-forced a 6-digit code from
/// its unkeyed SHA-256 in a second. Now the hash is keyed by the server key, kept outside.
#[tokio::test]
async fn a_database_copy_does_not_give_up_a_mailed_code() {
    use sha2::{Digest, Sha256};
    use sqlx::Row as _;
    let app = TestApp::spawn().await;
    let (challenge, code) = app.start_email_sign_in("copy@example.com").await;
    let row = sqlx::query("SELECT id, code_hash FROM email_challenges WHERE id = $1")
        .bind(&challenge)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let (id, stored): (String, String) = (row.get("id"), row.get("code_hash"));
    let unkeyed = |candidate: &str| {
        let mut h = Sha256::new();
        h.update(id.as_bytes());
        h.update([0u8]);
        h.update(candidate.as_bytes());
        hex::encode(h.finalize())
    };
    assert_ne!(stored, unkeyed(&code));
    assert!(!stored.contains(&code));
    let found = (0..1_000_000u32).any(|n| unkeyed(&format!("{n:06}")) == stored);
    assert!(
        !found,
        "the code falls to a brute force of the database copy"
    );
    // It is the HMAC under the key kept beside, not in, the database.
    let key_file = app.state.config.secret_key_file.clone();
    let key = charter::server_key::ServerKey::load("", &key_file).unwrap();
    assert_eq!(key.hash_code(&id, &code), stored);
    let other = charter::server_key::ServerKey::from_bytes(&[7; 32]);
    assert_ne!(other.hash_code(&id, &code), stored);
    app.verify_code(&challenge, &code).await.assert_status(200);
}

/// Processes that share a database must share the key: one with another key refuses to
/// start instead of failing every code and replay.
#[tokio::test]
async fn a_process_with_another_server_key_refuses_to_start() {
    let app = TestApp::spawn().await;
    let config = charter::config::Config {
        secret_key: "ab".repeat(32),
        ..(*app.state.config).clone()
    };
    let error = charter::app::AppState::start(config)
        .await
        .err()
        .expect("another key is refused");
    assert!(error.to_string().contains("another server key"), "{error}");
    // The same key (here its file) starts fine.
    let peer = app.spawn_peer().await;
    let res = reqwest::get(format!("{}/readyz", peer.base)).await.unwrap();
    assert_eq!(res.status(), 200);
}

/// Files the server creates are readable by their owner only (section 2).
#[cfg(unix)]
#[tokio::test]
async fn files_the_server_creates_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    // Not a copy of the template: the server creates its database file itself.
    let app = TestApp::spawn_unmigrated().await;
    app.start_email_sign_in("files@example.com").await;
    let dir = app.dir.path();
    let mut files = vec![dir.join("secret.key"), dir.join("outbox.jsonl")];
    if app.database_url.starts_with("sqlite:") {
        files.push(dir.join("charter.db"));
        files.push(dir.join("charter.db-wal"));
    }
    for file in files {
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{} has mode {:o}", file.display(), mode);
    }
}
