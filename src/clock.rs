//! The one clock every time rule reads.
//!
//! In production it is the system clock. With `--dev` it is the system clock plus an offset kept
//! in the database (`dev_clock`), so `POST /v1/dev/clock` moves time for every process; each
//! request and each job run refreshes the offset first.

mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::db::{Db, UnitError};
use crate::error::ApiResult;
use crate::time::{MICROS_PER_SECOND, Timestamp};

#[derive(Clone)]
pub struct Clock {
    inner: Arc<ClockInner>,
}

struct ClockInner {
    dev: bool,
    offset_us: AtomicI64,
}

impl Clock {
    pub fn system() -> Self {
        Clock {
            inner: Arc::new(ClockInner {
                dev: false,
                offset_us: AtomicI64::new(0),
            }),
        }
    }

    /// A clock that can be moved forward (`--dev`).
    pub fn test_clock() -> Self {
        Clock {
            inner: Arc::new(ClockInner {
                dev: true,
                offset_us: AtomicI64::new(0),
            }),
        }
    }

    pub fn is_dev(&self) -> bool {
        self.inner.dev
    }

    pub fn now(&self) -> Timestamp {
        let offset = if self.inner.dev {
            self.inner.offset_us.load(Ordering::Relaxed)
        } else {
            0
        };
        Timestamp::from_micros(Timestamp::system_now().micros() + offset)
    }

    /// Reads the shared offset from the database (a no-op without `--dev`).
    pub async fn sync(&self, db: &Db) -> Result<(), UnitError> {
        if !self.inner.dev {
            return Ok(());
        }
        let offset = store::offset(db).await?;
        self.inner.offset_us.fetch_max(offset, Ordering::Relaxed);
        Ok(())
    }

    /// Moves the shared clock forward; returns the new time.
    pub async fn advance(&self, db: &Db, seconds: i64) -> ApiResult<Timestamp> {
        let micros = seconds * MICROS_PER_SECOND;
        let offset = db.write(move |w| Ok(store::advance(w, micros)?)).await?;
        self.inner.offset_us.fetch_max(offset, Ordering::Relaxed);
        Ok(self.now())
    }
}
