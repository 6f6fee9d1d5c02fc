//! WAL checkpoints off the writer's path (SQLite).
//!
//! By default the connection that commits the 1000th page of the WAL also copies the WAL into
//! the database and syncs both files, in the middle of someone's request, while every other
//! writer waits for it. The server instead turns that off on the writer and checkpoints from a
//! reader connection once a second: a passive checkpoint neither takes the write lock nor waits
//! for readers, so writes go on meanwhile. When readers keep a passive checkpoint from ever
//! catching up and the WAL passes `TRUNCATE_AT_PAGES`, a truncating checkpoint (which waits
//! for them) bounds its size.

use std::time::Duration;

use sqlx::Row as _;

use super::{Backend, Db};

const EVERY: Duration = Duration::from_secs(1);
/// About 64 MiB of WAL with 4 KiB pages.
const TRUNCATE_AT_PAGES: i64 = 16_384;

impl Db {
    /// On SQLite, moves checkpoints to a background task (see the module). The task ends when
    /// the database is closed. Elsewhere it does nothing.
    pub async fn start_checkpoints(&self) -> Result<(), sqlx::Error> {
        if self.backend() != Backend::Sqlite {
            return Ok(());
        }
        sqlx::query("PRAGMA wal_autocheckpoint = 0")
            .execute(self.writer())
            .await?;
        let db = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if db.pool().is_closed() {
                    return;
                }
                if let Err(e) = db.checkpoint().await {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        });
        Ok(())
    }

    /// One passive checkpoint, or a truncating one when the WAL has grown past the bound.
    /// Answers the pages in the WAL and those now in the database (SQLite only).
    pub async fn checkpoint(&self) -> Result<(i64, i64), sqlx::Error> {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(self.pool())
            .await?;
        // (busy, pages in the WAL, pages copied into the database)
        let log: i64 = row.try_get(1)?;
        let copied: i64 = row.try_get(2)?;
        if log >= TRUNCATE_AT_PAGES && copied < log {
            tracing::info!(pages = log, "WAL is large; truncating checkpoint");
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(self.pool())
                .await?;
        }
        Ok((log, copied))
    }
}
