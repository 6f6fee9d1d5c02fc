//! Start-up errors of the binary when the database cannot be reached: said at once and in
//! words (issue 12), by `charter` (serve) and by `charter migrate`.

use std::time::{Duration, Instant};

use crate::support::database::{database_url, postgres_admin_url};

/// Runs the binary with `database_url` and `args`; returns its stderr after checking that it
/// failed within a few seconds.
fn fails_fast(database_url: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_charter"))
        .args(args)
        .args(["--bind", "127.0.0.1:0"])
        .args(["--set", &format!("secret_key={}", "ab".repeat(32))])
        .current_dir(dir.path())
        .env("DATABASE_URL", database_url)
        .env_remove("CHARTER_CONFIG")
        .env_remove("CHARTER_DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run charter");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{args:?} took {:?}: {stderr}",
        started.elapsed()
    );
    stderr
}

#[test]
fn a_postgres_that_is_down_is_refused_at_once_naming_host_and_port() {
    let url = "postgres://postgres:hunter2@127.0.0.1:1/x";
    for args in [&[][..], &["migrate"][..]] {
        let stderr = fails_fast(url, args);
        assert!(stderr.contains("connection refused"), "{args:?}: {stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{args:?}: {stderr}");
        assert!(!stderr.contains("timed out"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_postgres_database_that_does_not_exist_says_so_and_how_to_create_it() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let name = format!("charter_missing_{}", std::process::id());
    let url = database_url(&admin_url, &name);
    let password = admin_url
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .and_then(|(auth, _)| auth.split_once(':'))
        .map(|(_, password)| password.to_string())
        .filter(|p| !p.is_empty());
    for args in [&[][..], &["migrate"][..]] {
        let stderr = fails_fast(&url, args);
        assert!(
            stderr.contains(&format!("the database \"{name}\" does not exist")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("createdb -h "), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("CREATE DATABASE {name};")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("at line"), "{args:?}: {stderr}");
        if let Some(password) = &password {
            assert!(!stderr.contains(password.as_str()), "{args:?}: {stderr}");
        }
    }
}
