//! WAL checkpoints off the writer's path (SQLite).
//!
//! By default the connection that commits the 1000th page of the WAL also copies the WAL into
//! the database and syncs both files, in the middle of someone's request, while every other
//! writer waits for it. The server instead turns that off on the writer and checkpoints from a
//! reader connection once a second: a passive checkpoint neither takes the write lock nor waits
//! for readers, so writes go on meanwhile. (SQLite's own automatic checkpoint is passive too;
//! a truncating one would stall every writer while it waits for readers, so there is none.)

use std::time::Duration;

use sqlx::Row as _;

use super::{Backend, Db};

const EVERY: Duration = Duration::from_secs(1);

impl Db {
    /// On SQLite, moves checkpoints to a background task (see the module). The task ends when
    /// the database is closed. Elsewhere it does nothing.
    pub async fn start_checkpoints(&self) -> Result<(), sqlx::Error> {
        if self.backend() != Backend::Sqlite {
            return Ok(());
        }
        self.write(|w| {
            w.query("PRAGMA wal_autocheckpoint = 0", &[])?;
            Ok(())
        })
        .await
        .map_err(|e| sqlx::Error::Protocol(e.cause().unwrap_or(&e.detail).to_string()))?;
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

    /// One passive checkpoint. Answers the pages in the WAL and those now in the database
    /// (SQLite only).
    pub async fn checkpoint(&self) -> Result<(i64, i64), sqlx::Error> {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(self.pool())
            .await?;
        // (busy, pages in the WAL, pages copied into the database)
        let log: i64 = row.try_get(1)?;
        let copied: i64 = row.try_get(2)?;
        Ok((log, copied))
    }
}
