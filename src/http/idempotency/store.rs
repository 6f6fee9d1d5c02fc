//! The SQL of `Idempotency-Key`: rows of `idempotency_keys`, one per (caller, method, path,
//! key), whose primary key makes one of any racing duplicates the owner.

use super::Key;
use crate::db::{FromRecord, Record, Unit, UnitError};
use crate::time::Timestamp;

/// A key's row as another request finds it.
pub(super) struct Stored {
    pub(super) body_hash: String,
    /// `running`, `done` or `secret`.
    pub(super) state: String,
    pub(super) status: Option<i64>,
    pub(super) content_type: Option<String>,
    /// The replayed headers as a JSON list of (name, value) pairs.
    pub(super) headers: Option<String>,
    pub(super) body: Option<String>,
    pub(super) created_at: Timestamp,
    pub(super) claimed_at: Option<Timestamp>,
}

impl FromRecord for Stored {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Stored {
            body_hash: r.text("body_hash")?,
            state: r.text("state")?,
            status: r.opt_int("status")?,
            content_type: r.opt_text("content_type")?,
            headers: r.opt_text("headers")?,
            body: r.opt_text("body")?,
            created_at: r.time("created_at")?,
            claimed_at: r.opt_time("claimed_at")?,
        })
    }
}

/// The key's four parts, `$1` to `$4` of every statement below.
macro_rules! key_params {
    ($id:expr $(, $more:expr)* $(,)?) => {
        crate::params![
            $id.caller.as_str(),
            $id.method.as_str(),
            $id.path.as_str(),
            $id.key.as_str()
            $(, $more)*
        ]
    };
}

/// The condition that picks the key's row (a literal, for `concat!`).
macro_rules! the_key {
    () => {
        "caller = $1 AND method = $2 AND path = $3 AND idem_key = $4"
    };
}

/// Inserts the `running` reservation unless the key has a row; whether this request owns it.
pub(super) fn reserve(
    w: &mut Unit<'_>,
    id: &Key,
    body_hash: &str,
    created_at: Timestamp,
    claimed_at: Timestamp,
) -> Result<bool, UnitError> {
    let inserted = w.execute(
        "INSERT INTO idempotency_keys (caller, method, path, idem_key, body_hash, state, created_at, claimed_at)
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7) ON CONFLICT DO NOTHING",
        key_params![id, body_hash, created_at, claimed_at],
    )?;
    Ok(inserted == 1)
}

pub(super) fn find(w: &mut Unit<'_>, id: &Key) -> Result<Option<Stored>, UnitError> {
    w.query_opt(
        concat!(
            "SELECT body_hash, state, status, content_type, headers, body, created_at, claimed_at
               FROM idempotency_keys WHERE ",
            the_key!()
        ),
        key_params![id],
    )?
    .as_ref()
    .map(Stored::from_record)
    .transpose()
}

/// Deletes the row found earlier (by its `created_at`), not one made since by someone else.
pub(super) fn forget(w: &mut Unit<'_>, id: &Key, created_at: Timestamp) -> Result<(), UnitError> {
    w.execute(
        concat!(
            "DELETE FROM idempotency_keys WHERE ",
            the_key!(),
            " AND created_at = $5"
        ),
        key_params![id, created_at],
    )?;
    Ok(())
}

/// Gives the key up: the next request with it runs again.
pub(super) fn release(w: &mut Unit<'_>, id: &Key) -> Result<(), UnitError> {
    w.execute(
        concat!("DELETE FROM idempotency_keys WHERE ", the_key!()),
        key_params![id],
    )?;
    Ok(())
}

/// Gives the key up only if its request never finished.
pub(super) fn release_running(w: &mut Unit<'_>, id: &Key) -> Result<(), UnitError> {
    w.execute(
        concat!(
            "DELETE FROM idempotency_keys WHERE ",
            the_key!(),
            " AND state = 'running'"
        ),
        key_params![id],
    )?;
    Ok(())
}

/// The answer held a secret, which is not stored.
pub(super) fn mark_secret(w: &mut Unit<'_>, id: &Key) -> Result<(), UnitError> {
    w.execute(
        concat!(
            "UPDATE idempotency_keys SET state = 'secret' WHERE ",
            the_key!()
        ),
        key_params![id],
    )?;
    Ok(())
}

/// Keeps the owner's answer for replays.
pub(super) fn store_answer(
    w: &mut Unit<'_>,
    id: &Key,
    status: i64,
    content_type: Option<String>,
    body: String,
    headers: String,
) -> Result<(), UnitError> {
    w.execute(
        concat!("UPDATE idempotency_keys SET state = 'done', status = $5, content_type = $6, body = $7, headers = $8
              WHERE ", the_key!()),
        key_params![id, status, content_type, body, headers],
    )?;
    Ok(())
}

/// Deletes every key created before `cutoff`; how many.
pub(super) fn purge_created_before(w: &mut Unit<'_>, cutoff: Timestamp) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        crate::params![cutoff],
    )
}

/// Deletes every key of one caller.
pub(super) fn delete_of_caller(w: &mut Unit<'_>, caller: &str) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM idempotency_keys WHERE caller = $1",
        crate::params![caller],
    )
}

/// The stored answers whose body matches `pattern` (`LIKE … ESCAPE '!'`), with their keys.
pub(super) fn answers_matching(
    w: &mut Unit<'_>,
    pattern: &str,
) -> Result<Vec<(Key, String)>, UnitError> {
    w.query(
        "SELECT caller, method, path, idem_key, body FROM idempotency_keys
          WHERE body LIKE $1 ESCAPE '!'",
        crate::params![pattern],
    )?
    .iter()
    .map(|r| {
        let key = Key {
            caller: r.text("caller")?,
            method: r.text("method")?,
            path: r.text("path")?,
            key: r.text("idem_key")?,
        };
        Ok((key, r.text("body")?))
    })
    .collect()
}

/// Replaces a stored answer's body.
pub(super) fn set_answer_body(w: &mut Unit<'_>, id: &Key, body: &str) -> Result<(), UnitError> {
    w.execute(
        concat!("UPDATE idempotency_keys SET body = $5 WHERE ", the_key!()),
        key_params![id, body],
    )?;
    Ok(())
}
