//! Group commit for units of work on a SQLite file.
//!
//! One writer thread takes every unit that is waiting, runs each inside a savepoint of one
//! transaction (a unit's `Err` or panic rolls back its savepoint only), commits once, then
//! answers each caller. With many requests at once, one wake-up of the thread and one WAL
//! append serve many units; alone, a unit is its own batch. The thread holds the writer lock
//! (`writer.rs`) for the batch, so writes still going through sqlx wait their turn as before.
//! Callers are answered only after the commit, so an answer never reports a write that could
//! still be lost, and a caller that goes away does not stop its unit half-way.

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
        (result.is_ok(), Box::new(Reply { result, reply }))
    }

    fn fail(self: Box<Self>, reason: String) {
        let _ = self.reply.send(Err(ApiError::internal(reason)));
    }
}

impl<T: Send> Answer for Reply<T> {
    fn send(self: Box<Self>, committed: Result<(), String>) {
        let result = match committed {
            Ok(()) => self.result,
            // The unit ran, but its transaction did not commit.
            Err(reason) => Err(ApiError::internal(reason)),
        };
        let _ = self.reply.send(result);
    }
}

/// The queue to the writer thread. The thread ends when the last `Committer` is dropped.
pub(super) struct Committer {
    jobs: Mutex<mpsc::Sender<Box<dyn Job>>>,
}

impl Committer {
    pub(super) fn start(single: Arc<AsyncMutex<Single>>) -> std::io::Result<Committer> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let handle = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("charter-writer".into())
            .spawn(move || serve(queue, single, handle))?;
        Ok(Committer {
            jobs: Mutex::new(jobs),
        })
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
        let mut guard = match handle.block_on(writer::lock(&single)) {
            Ok(guard) => guard,
            Err(e) => {
                for job in batch {
                    job.fail(format!("the writer is unavailable: {e}"));
                }
                continue;
            }
        };
        let Some(conn) = guard.unit_conn.as_mut() else {
            for job in batch {
                job.fail("no SQLite file to write to".into());
            }
            continue;
        };
        run_batch(conn, batch);
    }
}

/// One transaction for the batch, a savepoint per unit.
fn run_batch(conn: &mut rusqlite::Connection, batch: Vec<Box<dyn Job>>) {
    let mut tx = match rusqlite::Transaction::new(conn, rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            for job in batch {
                job.fail(format!("BEGIN failed: {e}"));
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        let savepoint = match tx.savepoint() {
            Ok(savepoint) => savepoint,
            Err(e) => {
                job.fail(format!("SAVEPOINT failed: {e}"));
                continue;
            }
        };
        let (ok, answer) = {
            let mut unit = Unit::sqlite(&savepoint);
            job.run(&mut unit)
        };
        // Kept when the unit succeeded; dropping it rolls the unit back.
        let kept = if ok {
            savepoint.commit().map_err(|e| e.to_string())
        } else {
            drop(savepoint);
            Ok(())
        };
        answers.push((answer, kept));
    }
    let committed = tx.commit().map_err(|e| format!("COMMIT failed: {e}"));
    for (answer, kept) in answers {
        answer.send(committed.clone().and(kept));
    }
}
