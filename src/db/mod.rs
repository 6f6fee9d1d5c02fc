//! Storage: one connection pool over SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Every query is written once in the SQL both databases understand (numbered `$n` parameters,
//! `BIGINT`/`TEXT` columns, `ON CONFLICT`, `RETURNING`); where a statement must differ, the
//! difference lives here behind a method of [`Db`]. See docs/ARCHITECTURE.md.

mod checkpoint;
mod first_connection;
mod group;
mod installation;
mod migrations;
pub mod page;
mod read;
pub mod unit;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection as _, Executor};

pub use first_connection::ConnectError;
pub use sqlx::Any;
pub use unit::{FromRecord, Record, Unit, UnitError, Value};
use writer::Writer;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// Where writes go. On SQLite one connection behind a fair lock: writers queue here, in
    /// order and without sleeping, instead of in SQLite's busy handler (which sleeps in
    /// milliseconds). On PostgreSQL the same pool as reads. See `writer.rs`.
    writer: Writer,
    backend: Backend,
    /// The database file, on SQLite (not for an in-memory database): bulk reads open their
    /// own connection to it (see `open_bulk_reader`).
    sqlite_file: Option<std::sync::Arc<std::path::PathBuf>>,
    /// On a SQLite file, the writer thread that commits units of work in groups (`group.rs`).
    committer: Option<std::sync::Arc<group::Committer>>,
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) when needed. On PostgreSQL one
    /// connection is made first, directly and with a short time-out, so that a server that is
    /// down or a database that does not exist is reported at once and in words (see
    /// `first_connection.rs`); the pool keeps its 30 s acquire time-out for a busy server.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, ConnectError> {
        sqlx::any::install_default_drivers();
        let mut sqlite_file = None;
        let (url, backend) = if url.starts_with("sqlite:") {
            let (url, file) = sqlite_url(url)?;
            sqlite_file = file.map(std::sync::Arc::new);
            (url, Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (url.to_string(), Backend::Postgres)
        } else {
            return Err(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL scheme in `{}`",
                    crate::config::redact_url(url)
                )
                .into(),
            )
            .into());
        };
        if backend == Backend::Postgres {
            first_connection::check_postgres(&url).await?;
        }
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max.max(1))
                .min_connections(if backend == Backend::Sqlite { 1 } else { 0 })
                .acquire_timeout(Duration::from_secs(30))
                // On SQLite a ping before every checkout would double the round trips of
                // every query (each one a hand-off to the connection's thread), and a local
                // file does not drop connections; PostgreSQL keeps the check, so a restarted
                // server costs no failed requests.
                .test_before_acquire(backend == Backend::Postgres)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(SQLITE_PRAGMAS).await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = pool_options(max_connections)
            .connect_with(options.clone())
            .await?;
        let writer = match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::AnyConnection::connect_with(&options).await?;
                conn.execute(SQLITE_PRAGMAS).await?;
                let unit_conn = match &sqlite_file {
                    Some(file) => Some(open_unit_writer(file).map_err(|e| {
                        sqlx::Error::Configuration(format!("opening the writer: {e}").into())
                    })?),
                    None => None,
                };
                Writer::single(conn, unit_conn)
            }
            Backend::Postgres => Writer::Pool(pool.clone()),
        };
        let committer = match (&writer, &sqlite_file) {
            (Writer::Single(single), Some(_)) => Some(std::sync::Arc::new(
                group::Committer::start(single.clone()).map_err(sqlx::Error::Io)?,
            )),
            _ => None,
        };
        Ok(Db {
            pool,
            writer,
            backend,
            sqlite_file,
            committer,
        })
    }

    /// For reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// On a SQLite file, a blocking read-only connection of its own for reads that stream
    /// very many rows (exports). sqlx hands every row of a query from the connection's thread
    /// to the task (and the `Any` driver copies every value); stepping the statement on one
    /// blocking thread and borrowing each value in place is several times faster. Call it,
    /// and use the connection, off the async threads (`spawn_blocking`). `None` elsewhere.
    pub fn open_bulk_reader(&self) -> Option<rusqlite::Result<rusqlite::Connection>> {
        self.sqlite_file.as_deref().map(|file| open_read_only(file))
    }

    /// Applies pending migrations; safe when several processes start at once.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        migrations::run(self).await
    }

    /// Whether every migration this binary knows is applied.
    pub async fn is_migrated(&self) -> bool {
        migrations::is_current(self).await
    }

    /// Runs a unit of work (see `unit.rs`): `work` in one transaction, handed to the database
    /// once; its `Err` rolls back. The unit finishes even when the caller stops waiting.
    pub async fn write<T, F>(&self, work: F) -> crate::error::ApiResult<T>
    where
        F: FnOnce(&mut Unit<'_>) -> crate::error::ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(committer) = &self.committer {
            return committer.submit(work).await;
        }
        let handle = tokio::runtime::Handle::current();
        let ran = match &self.writer {
            Writer::Single(single) => {
                let mut guard = writer::lock(single).await?;
                // An in-memory database (no file for a writer thread of its own).
                tokio::task::spawn_blocking(move || {
                    unit::run_sqlx(&mut guard.conn, &handle, "BEGIN IMMEDIATE", work).0
                })
                .await
            }
            Writer::Pool(pool) => {
                let mut conn = pool.acquire().await?;
                tokio::task::spawn_blocking(move || {
                    let (result, clean) = unit::run_sqlx(&mut conn, &handle, "BEGIN", work);
                    if !clean {
                        // Its transaction did not end cleanly: never hand it out again.
                        drop(conn.detach());
                    }
                    result
                })
                .await
            }
        };
        ran.map_err(crate::error::ApiError::internal)?
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        if let Some(committer) = &self.committer {
            committer.close().await;
        }
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// The writer's rusqlite connection for units of work, with the pragmas of every connection.
fn open_unit_writer(file: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(file)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(SQLITE_PRAGMAS)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// A rusqlite connection that only reads (`query_only`), waiting for locks as sqlx's do.
fn open_read_only(file: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

/// Every SQLite connection: WAL lets readers run beside the writer; NORMAL is durable in WAL
/// mode except for the last transactions before a power loss.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// Turns `sqlite://path` into a URL that creates the file, and creates its folder; also
/// returns the file's path (`None` for an in-memory database).
fn sqlite_url(url: &str) -> Result<(String, Option<std::path::PathBuf>), sqlx::Error> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path != ":memory:"
        && let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            sqlx::Error::Configuration(format!("cannot create {}: {e}", parent.display()).into())
        })?;
    }
    let file = (path != ":memory:" && !query.is_some_and(|q| q.contains("mode=memory")))
        .then(|| std::path::PathBuf::from(path));
    if let Some(file) = &file {
        owner_only_database(file).map_err(|e| {
            sqlx::Error::Configuration(format!("cannot protect {}: {e}", file.display()).into())
        })?;
    }
    let url = match query {
        Some(q) if q.contains("mode=") => format!("sqlite://{path}?{q}"),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    };
    Ok((url, file))
}

/// Creates the database file readable by its owner only, or takes group and other access
/// from one that exists, with its WAL and shared-memory files (SQLite gives those the
/// database file's mode when it creates them).
fn owner_only_database(file: &Path) -> std::io::Result<()> {
    match crate::files::create_owner_only(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.as_os_str().to_owned();
                name.push(suffix);
                match crate::files::restrict_to_owner(Path::new(&name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether an error is a violation of a unique or primary-key constraint.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation),
        _ => false,
    }
}

/// Booleans are stored as 0/1 integers on both databases (the `Any` driver carries no
/// SQLite boolean).
pub fn flag(value: bool) -> i64 {
    value as i64
}
