//! The writer: where units of work run.
//!
//! On SQLite there is one writer connection behind a fair async lock (waits give up after
//! 30 s), so units queue here in order, without sleeping in SQLite's busy handler. On a file
//! the group committer (`group.rs`) holds the lock for each batch and runs units on the
//! writer's rusqlite connection; an in-memory database runs them on the sqlx connection. On
//! PostgreSQL units take a connection of the shared pool.

use std::fmt;
use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, Error};
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone)]
pub enum Writer {
    Pool(AnyPool),
    Single(Arc<Mutex<Single>>),
}

pub struct Single {
    /// The sqlx connection: units of an in-memory database run on it.
    pub(super) conn: AnyConnection,
    /// On a SQLite file, the writer's connection for units of work: same file, same lock,
    /// statements run in place on the unit's thread.
    pub(super) unit_conn: Option<rusqlite::Connection>,
}

/// How long a unit waits for the writer before it gives up (as a pool's acquire does).
const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Writer {
    pub fn single(conn: AnyConnection, unit_conn: Option<rusqlite::Connection>) -> Writer {
        Writer::Single(Arc::new(Mutex::new(Single { conn, unit_conn })))
    }

    pub async fn close(&self) {
        match self {
            Writer::Pool(pool) => pool.close().await,
            Writer::Single(single) => {
                // The connection closes when the last handle goes; finish what is running.
                let _ = lock(single).await;
            }
        }
    }
}

/// Takes the writer. A unit never leaves a transaction open on it: the runners end every
/// transaction they begin, on the thread that began it, whether or not anyone still waits.
pub(super) async fn lock(single: &Arc<Mutex<Single>>) -> Result<OwnedMutexGuard<Single>, Error> {
    tokio::time::timeout(LOCK_TIMEOUT, single.clone().lock_owned())
        .await
        .map_err(|_| Error::PoolTimedOut)
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Writer::Pool(_) => "Writer::Pool",
            Writer::Single(_) => "Writer::Single",
        })
    }
}
