//! Each test's database, copied from a template that is migrated once.
//!
//! Migrating is most of what a fresh database costs (on PostgreSQL about a second of DDL per
//! test), so the migrations run once into a template and every test starts from a copy of it.
//! `AppState::start` still runs the migrator: it finds every migration applied (the copy holds
//! `_sqlx_migrations`) and does nothing.
//!
//! - **SQLite**: the template is a file under `CARGO_TARGET_TMPDIR`, named by a hash of the
//!   migrations and of the test binary (so a change to how `Db::connect` lays out a new file
//!   makes a new one), built under a temporary name, checkpointed so that the main file holds
//!   everything (no `-wal`/`-shm` left beside it) and renamed into place; processes that race
//!   build the same file and the last rename wins. Each test copies the main file.
//! - **PostgreSQL**: `charter_template_<hash of the migrations>`, built as `charter_t_build_…`,
//!   closed to connections (`ALLOW_CONNECTIONS false`: a database cannot be copied while anyone
//!   is connected to it) and renamed into place; a process that loses the race drops its own.
//!   Each test runs `CREATE DATABASE charter_t_… TEMPLATE charter_template_…`. Templates of
//!   other migrations (other branches) are left alone; `.ci/run` drops them with the other
//!   `charter_t%` leftovers.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use sqlx::Connection as _;

/// A test's database; a PostgreSQL one is dropped with it.
pub struct TestDatabase {
    pub url: String,
    /// The PostgreSQL admin URL and the database's name.
    postgres: Option<(String, String)>,
}

/// The admin connection URL for PostgreSQL runs (`CHARTER_TEST_DATABASE_URL`).
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("CHARTER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub fn is_postgres() -> bool {
    postgres_admin_url().is_some()
}

fn random_suffix() -> String {
    charter::crypto::new_id("t")
        .trim_start_matches("t_")
        .to_string()
}

fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

/// `base/name` for the admin URL `base/admin`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

impl TestDatabase {
    /// A database with every migration applied: a copy of the template.
    pub async fn migrated(dir: &Path) -> TestDatabase {
        match postgres_admin_url() {
            Some(admin_url) => {
                let name = format!("charter_t_{}", random_suffix());
                postgres_copy(&admin_url, &name).await;
                TestDatabase {
                    url: database_url(&admin_url, &name),
                    postgres: Some((admin_url, name)),
                }
            }
            None => {
                let file = dir.join("charter.db");
                std::fs::copy(sqlite_template(), &file).expect("copy the SQLite template");
                TestDatabase {
                    url: sqlite_url(&file),
                    postgres: None,
                }
            }
        }
    }

    /// A database with nothing in it, as on a first start (the app creates and migrates it).
    pub async fn empty(dir: &Path) -> TestDatabase {
        match postgres_admin_url() {
            Some(admin_url) => {
                let name = format!("charter_t_{}", random_suffix());
                let mut admin = admin_connection(&admin_url).await;
                execute(&mut admin, &format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                TestDatabase {
                    url: database_url(&admin_url, &name),
                    postgres: Some((admin_url, name)),
                }
            }
            None => TestDatabase {
                url: sqlite_url(&dir.join("charter.db")),
                postgres: None,
            },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // From a thread of its own: Drop cannot await, and the test's runtime may be gone.
            block_on_thread(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = execute(
                        &mut admin,
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    )
                    .await;
                    let _ = admin.close().await;
                }
            });
        }
    }
}

/// Runs `work` to its end on a thread with a runtime of its own.
fn block_on_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join()
    .expect("database set-up thread")
}

/// A hash of everything that decides the migrated schema: the migration files and the list
/// that embeds them.
fn migrations_hash() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("migrations"))
        .expect("migrations folder")
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.push(root.join("src/db/migrations.rs"));
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.file_name().unwrap().as_encoded_bytes());
        hash.update(std::fs::read(&file).expect("read a migration"));
    }
    hex::encode(&hash.finalize()[..8])
}

// --- SQLite -----------------------------------------------------------------------------------

/// The migrated template file, built once per test binary.
fn sqlite_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("charter-templates");
        std::fs::create_dir_all(&dir).expect("template folder");
        let exe = std::fs::metadata(std::env::current_exe().unwrap()).unwrap();
        let built = exe.modified().unwrap();
        let mut key = Sha256::new();
        key.update(migrations_hash());
        key.update(format!("{built:?} {}", exe.len()));
        let template = dir.join(format!("sqlite-{}.db", hex::encode(&key.finalize()[..8])));
        if template.exists() {
            return template;
        }
        remove_stale_templates(&dir);
        let building = dir.join(format!(
            "building-{}-{}.db",
            std::process::id(),
            random_suffix()
        ));
        let url = sqlite_url(&building);
        block_on_thread(async move {
            let db = charter::db::Db::connect(&url, 1)
                .await
                .expect("open the SQLite template");
            db.migrate().await.expect("migrate the SQLite template");
            db.close().await;
        });
        // Everything into the main file, so that copying it alone copies the database.
        let conn = rusqlite::Connection::open(&building).expect("reopen the template");
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .expect("checkpoint the template");
        assert_eq!(busy, 0, "the template is still in use");
        conn.close().expect("close the template");
        for suffix in ["-wal", "-shm"] {
            let mut side = building.clone().into_os_string();
            side.push(suffix);
            let side = PathBuf::from(side);
            if let Ok(meta) = std::fs::metadata(&side) {
                assert!(
                    suffix == "-shm" || meta.len() == 0,
                    "{} holds pages after the checkpoint",
                    side.display()
                );
                let _ = std::fs::remove_file(&side);
            }
        }
        std::fs::rename(&building, &template).expect("move the template into place");
        template
    })
}

/// Templates of earlier builds of the test binary, and builds that never finished.
fn remove_stale_templates(dir: &Path) {
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < an_hour_ago);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

// --- PostgreSQL -------------------------------------------------------------------------------

async fn admin_connection(admin_url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to CHARTER_TEST_DATABASE_URL")
}

async fn execute(conn: &mut sqlx::PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(conn)
        .await
        .map(|_| ())
}

fn sql_state(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

const DUPLICATE_DATABASE: &str = "42P04";
const UNDEFINED_DATABASE: &str = "3D000";
const OBJECT_IN_USE: &str = "55006";

/// The template's name once this process has seen it exist.
static POSTGRES_TEMPLATE: Mutex<Option<String>> = Mutex::new(None);

/// Creates `name` as a copy of the template, building the template first when needed.
async fn postgres_copy(admin_url: &str, name: &str) {
    let mut admin = admin_connection(admin_url).await;
    for attempt in 0.. {
        let known = POSTGRES_TEMPLATE.lock().unwrap().clone();
        let template = match known {
            Some(template) => template,
            None => {
                let template = postgres_template(admin_url, &mut admin).await;
                *POSTGRES_TEMPLATE.lock().unwrap() = Some(template.clone());
                template
            }
        };
        let copied = execute(
            &mut admin,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await;
        match copied {
            Ok(()) => break,
            // Dropped under us (`.ci/run` clears `charter_t%` leftovers): build it again.
            Err(e) if attempt < 20 && sql_state(&e).as_deref() == Some(UNDEFINED_DATABASE) => {
                *POSTGRES_TEMPLATE.lock().unwrap() = None;
            }
            // Its builder's connection was still closing.
            Err(e) if attempt < 20 && sql_state(&e).as_deref() == Some(OBJECT_IN_USE) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("create {name} from {template}: {e}"),
        }
    }
    let _ = admin.close().await;
}

/// Finds or builds `charter_template_<hash>`; returns its name.
async fn postgres_template(admin_url: &str, admin: &mut sqlx::PgConnection) -> String {
    let template = format!("charter_template_{}", migrations_hash());
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(&mut *admin)
        .await
        .expect("look for the template");
    if exists.is_some() {
        return template;
    }
    let building = format!("charter_t_build_{}", random_suffix());
    execute(admin, &format!("CREATE DATABASE {building}"))
        .await
        .expect("create the template");
    let url = database_url(admin_url, &building);
    let db = charter::db::Db::connect(&url, 1)
        .await
        .expect("connect to the template");
    db.migrate().await.expect("migrate the template");
    db.close().await;
    execute(
        admin,
        &format!("ALTER DATABASE {building} WITH ALLOW_CONNECTIONS false"),
    )
    .await
    .expect("close the template to connections");
    for attempt in 0.. {
        let renamed = execute(
            admin,
            &format!("ALTER DATABASE {building} RENAME TO {template}"),
        )
        .await;
        match renamed {
            Ok(()) => break,
            // Another process built it first.
            Err(e) if sql_state(&e).as_deref() == Some(DUPLICATE_DATABASE) => {
                execute(
                    admin,
                    &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
                )
                .await
                .expect("drop the second template");
                break;
            }
            Err(e) if attempt < 50 && sql_state(&e).as_deref() == Some(OBJECT_IN_USE) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("rename the template: {e}"),
        }
    }
    template
}
