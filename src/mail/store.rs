//! The SQL of the SMTP outbox (`mail_outbox`). A row is claimed before it is sent, by a
//! conditional update that moves its next try forward, so one process at a time delivers it.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::time::Timestamp;

/// Queues a message sealed under the server key (`recipient` and `subject` stay empty; they
/// are inside the sealed body).
pub(super) fn insert_sealed(
    w: &mut Unit<'_>,
    id: &str,
    sealed: &str,
    template: &str,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO mail_outbox (id, recipient, subject, body, template, data, created_at, next_try_at)
         VALUES ($1, '', '', $2, $3, '{}', $4, $4)",
        crate::params![id, sealed, template, now],
    )?;
    Ok(())
}

/// The ids of up to `limit` unsent messages due at `now`, oldest first.
pub(super) async fn due(db: &Db, now: Timestamp, limit: i64) -> Result<Vec<String>, UnitError> {
    db.read_all(
        "SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_try_at <= $1 ORDER BY created_at LIMIT $2",
        crate::params![now, limit],
    )
    .await
}

/// A message this process has claimed for one delivery attempt.
pub(super) struct Claimed {
    /// Empty when the message is sealed in `body`.
    pub(super) recipient: String,
    pub(super) subject: String,
    pub(super) body: String,
    pub(super) attempts: i64,
}

impl FromRecord for Claimed {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Claimed {
            recipient: r.text("recipient")?,
            subject: r.text("subject")?,
            body: r.text("body")?,
            attempts: r.int("attempts")?,
        })
    }
}

/// Claims a message that is still unsent and due, counting the attempt and holding others off
/// until `retry_at`; `None` when another process has it or it is gone.
pub(super) fn claim(
    w: &mut Unit<'_>,
    id: &str,
    now: Timestamp,
    retry_at: Timestamp,
) -> Result<Option<Claimed>, UnitError> {
    w.query_opt(
        "UPDATE mail_outbox SET attempts = attempts + 1, next_try_at = $2
          WHERE id = $1 AND sent_at IS NULL AND next_try_at <= $3
          RETURNING recipient, subject, body, attempts",
        crate::params![id, retry_at, now],
    )?
    .as_ref()
    .map(Claimed::from_record)
    .transpose()
}

/// A sent message leaves the queue.
pub(super) fn delete(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute("DELETE FROM mail_outbox WHERE id = $1", crate::params![id])?;
    Ok(())
}

/// A failed attempt: why, and when to try again.
pub(super) fn record_failure(
    w: &mut Unit<'_>,
    id: &str,
    error: &str,
    next_try_at: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE mail_outbox SET last_error = $2, next_try_at = $3 WHERE id = $1",
        crate::params![id, error, next_try_at],
    )?;
    Ok(())
}

/// A queued message as stored: sealed in `body` (`recipient` empty), or in plain text.
pub(super) struct Row {
    pub(super) id: String,
    pub(super) recipient: String,
    pub(super) subject: String,
    pub(super) body: String,
    pub(super) data: String,
}

impl FromRecord for Row {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Row {
            id: r.text("id")?,
            recipient: r.text("recipient")?,
            subject: r.text("subject")?,
            body: r.text("body")?,
            data: r.text("data")?,
        })
    }
}

/// Every message still in the queue (sent ones have left it).
pub(super) fn queued_in(w: &mut Unit<'_>) -> Result<Vec<Row>, UnitError> {
    w.query(
        "SELECT id, recipient, subject, body, data FROM mail_outbox ORDER BY created_at",
        &[],
    )?
    .iter()
    .map(Row::from_record)
    .collect()
}

/// Replaces a sealed message with another sealing (same row id, same key context).
pub(super) fn reseal(w: &mut Unit<'_>, id: &str, sealed: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE mail_outbox SET body = $2 WHERE id = $1",
        crate::params![id, sealed],
    )?;
    Ok(())
}

/// The new content of a message queued in plain text.
pub(super) struct Plain {
    pub(super) subject: String,
    pub(super) body: String,
    pub(super) data: String,
}

pub(super) fn rewrite_plain(w: &mut Unit<'_>, id: &str, plain: &Plain) -> Result<(), UnitError> {
    w.execute(
        "UPDATE mail_outbox SET subject = $2, body = $3, data = $4 WHERE id = $1",
        crate::params![
            id,
            plain.subject.as_str(),
            plain.body.as_str(),
            plain.data.as_str()
        ],
    )?;
    Ok(())
}
