//! Group commit for units of work on a SQLite file.
//!
//! One writer thread takes every unit that is waiting, runs each inside a savepoint of one
//! transaction (a unit's `Err` or panic rolls back its savepoint only), commits once, then
//! answers each caller. With many requests at once, one wake-up of the thread and one WAL
//! append serve many units; alone, a unit is its own batch. The thread holds the writer lock
//! (`writer.rs`) for the batch, so writes still going through sqlx wait their turn as before.
//! Callers are answered only after the commit, so an answer never reports a write that could
//! still be lost; a unit whose caller went away before it started is skipped, one that started
//! finishes. If the batch's transaction is lost half-way (SQLite rolls back a whole transaction
//! on some errors) or a savepoint cannot be rolled back, the whole batch is rolled back and
//! every caller told so: no unit commits unless its caller can be told it did.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::Mutex as AsyncMutex;

use super::unit::Unit;
use super::writer::{self, Single};
use crate::error::{ApiError, ApiResult};

/// The most units one transaction takes, so no caller waits behind an unbounded batch.
const MAX_BATCH: usize = 128;

/// A unit waiting for the writer, its result type erased.
trait Job: Send {
    /// Runs the unit; whether it succeeded (its savepoint is kept) and how to answer once the
    /// transaction's fate is known.
    fn run(self: Box<Self>, unit: &mut Unit<'_>) -> (bool, Box<dyn Answer>);
    /// The unit never ran.
    fn fail(self: Box<Self>, reason: String);
    /// Its caller stopped waiting before it started.
    fn abandoned(&self) -> bool;
}

trait Answer: Send {
    fn send(self: Box<Self>, committed: Result<(), String>);
}

struct UnitJob<F, T> {
    work: F,
    reply: tokio::sync::oneshot::Sender<ApiResult<T>>,
}

struct Reply<T> {
    result: ApiResult<T>,
    reply: tokio::sync::oneshot::Sender<ApiResult<T>>,
}

impl<F, T> Job for UnitJob<F, T>
where
    F: FnOnce(&mut Unit<'_>) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, unit: &mut Unit<'_>) -> (bool, Box<dyn Answer>) {
        let UnitJob { work, reply } = *self;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(unit)))
            .unwrap_or_else(|_| Err(ApiError::internal("a unit of work panicked")));
        let result = unit.settle(result);
        (result.is_ok(), Box::new(Reply { result, reply }))
    }

    fn fail(self: Box<Self>, reason: String) {
        let _ = self.reply.send(Err(ApiError::internal(reason)));
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

impl<T: Send> Answer for Reply<T> {
    fn send(self: Box<Self>, committed: Result<(), String>) {
        let result = match (committed, self.result) {
            // A unit that failed keeps its own answer, whatever became of the others.
            (_, Err(e)) => Err(e),
            (Ok(()), ok) => ok,
            // The unit ran, but its transaction did not commit.
            (Err(reason), Ok(_)) => Err(ApiError::internal(reason)),
        };
        let _ = self.reply.send(result);
    }
}

/// The queue to the writer thread. The thread ends when the queue is closed (`close`, or the
/// last `Committer` dropped), after the units already queued.
pub(super) struct Committer {
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Committer {
    pub(super) fn start(single: Arc<AsyncMutex<Single>>) -> std::io::Result<Committer> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let handle = tokio::runtime::Handle::current();
        let thread = std::thread::Builder::new()
            .name("charter-writer".into())
            .spawn(move || serve(queue, single, handle))?;
        Ok(Committer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops taking units and waits for those already queued.
    pub(super) async fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    pub(super) async fn submit<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut Unit<'_>) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Box<dyn Job> = Box::new(UnitJob { work, reply });
        self.jobs
            .lock()
            .map_err(|_| ApiError::internal("the writer queue is poisoned"))?
            .as_ref()
            .ok_or_else(|| ApiError::internal("the database is closed"))?
            .send(job)
            .map_err(|_| ApiError::internal("the writer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the writer dropped a unit of work"))?
    }
}

fn serve(
    queue: mpsc::Receiver<Box<dyn Job>>,
    single: Arc<AsyncMutex<Single>>,
    handle: tokio::runtime::Handle,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        batch.retain(|job| !job.abandoned());
        if batch.is_empty() {
            continue;
        }
        // A bug outside the units (which catch their own panics) must not end the thread, or
        // every later write would fail until a restart.
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            serve_batch(&single, &handle, batch)
        }));
        if served.is_err() {
            tracing::error!("the writer thread recovered from a panic; that batch failed");
        }
    }
}

fn serve_batch(
    single: &Arc<AsyncMutex<Single>>,
    handle: &tokio::runtime::Handle,
    batch: Vec<Box<dyn Job>>,
) {
    let mut guard = match handle.block_on(writer::lock(single)) {
        Ok(guard) => guard,
        Err(e) => {
            for job in batch {
                job.fail(format!("the writer is unavailable: {e}"));
            }
            return;
        }
    };
    let Some(conn) = guard.unit_conn.as_mut() else {
        for job in batch {
            job.fail("no SQLite file to write to".into());
        }
        return;
    };
    run_batch(conn, batch);
}

/// One transaction for the batch, a savepoint per unit.
fn run_batch(conn: &mut rusqlite::Connection, batch: Vec<Box<dyn Job>>) {
    if !conn.is_autocommit() {
        // Left open by a failure this thread could not clean up: never build on it.
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            for job in batch {
                job.fail(format!(
                    "the writer connection is stuck in a transaction: {e}"
                ));
            }
            return;
        }
    }
    let mut tx = match rusqlite::Transaction::new(conn, rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            for job in batch {
                job.fail(format!("BEGIN failed: {e}"));
            }
            return;
        }
    };
    let mut answers: Vec<Box<dyn Answer>> = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    let mut pending = batch.into_iter();
    for job in pending.by_ref() {
        if tx.is_autocommit() {
            broken = Some("the batch's transaction was rolled back by SQLite".into());
            job.fail(broken.clone().unwrap_or_default());
            break;
        }
        let mut savepoint = match tx.savepoint() {
            Ok(savepoint) => savepoint,
            Err(e) => {
                broken = Some(format!("SAVEPOINT failed: {e}"));
                job.fail(broken.clone().unwrap_or_default());
                break;
            }
        };
        let (ok, answer) = {
            let mut unit = Unit::sqlite(&savepoint);
            job.run(&mut unit)
        };
        answers.push(answer);
        let ended = if ok {
            savepoint.commit()
        } else {
            savepoint.rollback().and_then(|()| savepoint.finish())
        };
        if let Err(e) = ended {
            broken = Some(format!("ending a unit's savepoint failed: {e}"));
            break;
        }
    }
    let committed = match broken {
        Some(reason) => {
            for job in pending {
                job.fail(reason.clone());
            }
            drop(tx);
            Err(reason)
        }
        None if tx.is_autocommit() => {
            Err("the batch's transaction was rolled back by SQLite".into())
        }
        None => tx.commit().map_err(|e| format!("COMMIT failed: {e}")),
    };
    for answer in answers {
        answer.send(committed.clone());
    }
}
