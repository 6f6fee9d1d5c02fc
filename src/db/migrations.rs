//! Migrations embedded in the binary, applied by `charter serve` and `charter migrate`.
//!
//! sqlx's migrator takes an advisory lock on PostgreSQL, so processes that start together apply
//! each migration once. On SQLite a process that loses the race retries and finds them applied.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Db;

/// (version, description, SQL); append only.
#[rustfmt::skip]
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../../migrations/0001_foundation.sql")),
    (2, "identity", include_str!("../../migrations/0002_identity.sql")),
    (3, "organizations", include_str!("../../migrations/0003_orgs.sql")),
    (4, "commerce", include_str!("../../migrations/0004_commerce.sql")),
    (5, "indexes and secrets", include_str!("../../migrations/0005_indexes_and_secrets.sql")),
    (6, "export indexes", include_str!("../../migrations/0006_export_indexes.sql")),
    (7, "security", include_str!("../../migrations/0007_security.sql")),
    (8, "payment attempts", include_str!("../../migrations/0008_payment_attempts.sql")),
    (9, "refund claims", include_str!("../../migrations/0009_refund_claims.sql")),
    (10, "attempts on real time", include_str!("../../migrations/0010_attempt_real_time.sql")),
    (11, "catalogue upkeep", include_str!("../../migrations/0011_catalogue_upkeep.sql")),
    (12, "erasure", include_str!("../../migrations/0012_erasure.sql")),
];

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

pub async fn run(db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    let migrator = migrator();
    let mut attempt = 0;
    loop {
        match migrator.run(db.pool()).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 && db.backend() == super::Backend::Sqlite => {
                tracing::warn!(error = %e, "migration attempt failed; retrying");
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

pub async fn is_current(db: &Db) -> bool {
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    let applied: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(db.pool())
            .await;
    matches!(applied, Ok(Some(v)) if v >= latest)
}
