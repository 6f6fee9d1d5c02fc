//! Where writes go, and write transactions.
//!
//! On SQLite there is one writer connection behind a fair async lock (waits give up after
//! 30 s). It used to be a pool of
//! one connection, but a pool returns a connection through a spawned task that first pings it
//! (one more hand-off to SQLite's thread), so the only writer sat idle between any two
//! statements while the executor got round to that task; with the lock the next writer runs
//! as soon as the last one is done. On PostgreSQL writes use the shared pool.
//!
//! `&Writer` is an sqlx `Executor` (one statement, autocommit); `Tx` is a write transaction
//! that dereferences to the connection, so `&mut *tx` executes inside it.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt as _};
use sqlx::AnyConnection;
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTransactionManager, AnyTypeInfo};
use sqlx::{Any, AnyPool, Either, Error, Execute, Executor, SqlSafeStr as _, SqlStr};
use sqlx_core::transaction::TransactionManager as _;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone)]
pub enum Writer {
    Pool(AnyPool),
    Single(Arc<Mutex<Single>>),
}

/// The connection. Transactions go through sqlx's transaction manager, which counts them on
/// the connection's own thread in order: a `BEGIN` whose caller was cancelled still counts,
/// and a rollback with nothing open does nothing.
pub struct Single {
    pub(super) conn: AnyConnection,
    /// On a SQLite file, the writer's connection for units of work (`Db::write`): same file,
    /// same lock, but statements run in place on the unit's thread.
    pub(super) unit_conn: Option<rusqlite::Connection>,
    /// A `BEGIN`, `COMMIT` or `ROLLBACK` was sent and not seen to finish (its caller was
    /// cancelled, or a rollback was only queued): the next holder waits for the connection's
    /// queue to drain before it looks at the transaction depth.
    unsettled: bool,
}

/// How long a write waits for the writer before it gives up (as the pool's acquire did).
const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Writer {
    pub fn single(conn: AnyConnection, unit_conn: Option<rusqlite::Connection>) -> Writer {
        Writer::Single(Arc::new(Mutex::new(Single {
            conn,
            unit_conn,
            unsettled: false,
        })))
    }

    /// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite, which takes the write lock at
    /// once, so a transaction never fails half-way upgrading a read lock.
    pub async fn begin(&self) -> Result<Tx, Error> {
        match self {
            Writer::Pool(pool) => Ok(Tx(TxInner::Pool(pool.begin().await?))),
            Writer::Single(single) => {
                let mut guard = lock(single).await?;
                let begin = "BEGIN IMMEDIATE".into_sql_str();
                guard.unsettled = true;
                AnyTransactionManager::begin(&mut guard.conn, Some(begin)).await?;
                guard.unsettled = false;
                Ok(Tx(TxInner::Single(Some(guard))))
            }
        }
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

/// Takes the writer; a transaction left open (a request cancelled during `BEGIN` or
/// `COMMIT`, a rollback that could not be sent) is rolled back first.
pub(super) async fn lock(single: &Arc<Mutex<Single>>) -> Result<OwnedMutexGuard<Single>, Error> {
    let mut guard = tokio::time::timeout(LOCK_TIMEOUT, single.clone().lock_owned())
        .await
        .map_err(|_| Error::PoolTimedOut)?;
    if guard.unsettled {
        // Commands run in order on the connection's thread: once a ping answers, whatever the
        // cancelled caller sent has finished and the depth is current.
        sqlx::Connection::ping(&mut guard.conn).await?;
        if AnyTransactionManager::get_transaction_depth(&guard.conn) > 0 {
            AnyTransactionManager::rollback(&mut guard.conn).await?;
        }
        guard.unsettled = false;
    }
    Ok(guard)
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Writer::Pool(_) => "Writer::Pool",
            Writer::Single(_) => "Writer::Single",
        })
    }
}

impl<'w> Executor<'w> for &'_ Writer {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, Error>>
    where
        'w: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Writer::Pool(pool) => pool.fetch_many(query),
            Writer::Single(single) => {
                let single = single.clone();
                // Writes answer a few rows at most: gather them while holding the lock.
                let all = async move {
                    match lock(&single).await {
                        Ok(mut guard) => guard.conn.fetch_many(query).collect::<Vec<_>>().await,
                        Err(e) => vec![Err(e)],
                    }
                };
                stream::once(all).flat_map(stream::iter).boxed()
            }
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, Error>>
    where
        'w: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Writer::Pool(pool) => pool.fetch_optional(query),
            Writer::Single(single) => {
                let single = single.clone();
                Box::pin(async move { lock(&single).await?.conn.fetch_optional(query).await })
            }
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, Error>>
    where
        'w: 'e,
    {
        match self {
            Writer::Pool(pool) => pool.prepare_with(sql, parameters),
            Writer::Single(single) => {
                let single = single.clone();
                Box::pin(async move {
                    lock(&single)
                        .await?
                        .conn
                        .prepare_with(sql, parameters)
                        .await
                })
            }
        }
    }
}

/// A write transaction. Dropped without `commit`, it is rolled back.
pub struct Tx(TxInner);

enum TxInner {
    Pool(sqlx::Transaction<'static, Any>),
    /// `None` once committed or rolled back.
    Single(Option<OwnedMutexGuard<Single>>),
}

impl Tx {
    pub async fn commit(self) -> Result<(), Error> {
        self.end(true).await
    }

    pub async fn rollback(self) -> Result<(), Error> {
        self.end(false).await
    }

    async fn end(mut self, commit: bool) -> Result<(), Error> {
        match std::mem::replace(&mut self.0, TxInner::Single(None)) {
            TxInner::Pool(tx) if commit => tx.commit().await,
            TxInner::Pool(tx) => tx.rollback().await,
            TxInner::Single(guard) => {
                let mut guard = guard.expect("an open transaction");
                guard.unsettled = true;
                let ended = if commit {
                    AnyTransactionManager::commit(&mut guard.conn).await
                } else {
                    AnyTransactionManager::rollback(&mut guard.conn).await
                };
                if ended.is_err() {
                    // Do not keep SQLite's write lock until the next writer comes.
                    let _ = AnyTransactionManager::rollback(&mut guard.conn).await;
                }
                guard.unsettled = ended.is_err();
                ended
            }
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let TxInner::Single(guard) = &mut self.0
            && let Some(mut guard) = guard.take()
        {
            // Queue the rollback now, ahead of whatever the next holder sends (the SQLite write
            // lock would otherwise block other processes until this one writes again), and
            // make sure it happened even if the queue was refused.
            AnyTransactionManager::start_rollback(&mut guard.conn);
            guard.unsettled = true;
            let single = OwnedMutexGuard::mutex(&guard).clone();
            drop(guard);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = lock(&single).await {
                        tracing::warn!(error = %e, "rolling back a dropped write transaction");
                    }
                });
            }
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            TxInner::Pool(tx) => tx,
            TxInner::Single(guard) => &guard.as_ref().expect("an open transaction").conn,
        }
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            TxInner::Pool(tx) => tx,
            TxInner::Single(guard) => &mut guard.as_mut().expect("an open transaction").conn,
        }
    }
}
