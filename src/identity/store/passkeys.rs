//! `passkeys`: the stored credentials, their names and uses.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::error::ApiResult;
use crate::identity::passkeys::{PasskeyView, StoredPasskey};
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

impl FromRecord for StoredPasskey {
    fn from_record(r: &Record) -> Result<StoredPasskey, UnitError> {
        Ok(StoredPasskey {
            id: r.text("id")?,
            credential_id: r.text("credential_id")?,
            passkey: r.text("passkey")?,
        })
    }
}

impl FromRecord for PasskeyView {
    fn from_record(r: &Record) -> Result<PasskeyView, UnitError> {
        Ok(PasskeyView {
            id: r.text("id")?,
            name: r.text("name")?,
            created_at: r.time("created_at")?,
            last_used_at: r.opt_time("last_used_at")?,
        })
    }
}

/// The user's passkeys, oldest first.
pub(crate) async fn of_user(db: &Db, user_id: &str) -> Result<Vec<StoredPasskey>, UnitError> {
    db.read_all(
        "SELECT id, credential_id, passkey FROM passkeys WHERE user_id = $1 ORDER BY created_at",
        crate::params![user_id],
    )
    .await
}

const COUNT: &str = "SELECT COUNT(*) FROM passkeys WHERE user_id = $1";

/// How many passkeys the user has.
pub(crate) fn count_in(w: &mut Unit<'_>, user_id: &str) -> Result<i64, UnitError> {
    w.query_one(COUNT, crate::params![user_id])?.int_at(0)
}

/// How many passkeys the user has, outside a unit.
pub(crate) async fn count(db: &Db, user_id: &str) -> Result<i64, UnitError> {
    db.read_one(COUNT, crate::params![user_id]).await
}

/// Whether the passkey is the user's.
pub(crate) fn is_users_in(w: &mut Unit<'_>, id: &str, user_id: &str) -> Result<bool, UnitError> {
    Ok(w.query_opt(
        "SELECT id FROM passkeys WHERE id = $1 AND user_id = $2",
        crate::params![id, user_id],
    )?
    .is_some())
}

/// A new passkey's row.
pub(crate) struct NewPasskey<'a> {
    pub(crate) id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) credential_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) passkey: &'a str,
}

/// Inserts a passkey; `false` when its credential is registered already.
pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    passkey: &NewPasskey<'_>,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "INSERT INTO passkeys (id, user_id, credential_id, name, passkey, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING",
        crate::params![
            passkey.id,
            passkey.user_id,
            passkey.credential_id,
            passkey.name,
            passkey.passkey,
            now,
        ],
    )? == 1)
}

/// Renames one of the user's passkeys; its view, or `None` when it is not theirs.
pub(crate) fn rename_in(
    w: &mut Unit<'_>,
    id: &str,
    user_id: &str,
    name: &str,
) -> Result<Option<PasskeyView>, UnitError> {
    w.query_opt(
        "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING id, name, created_at, last_used_at",
        crate::params![id, user_id, name],
    )?
    .as_ref()
    .map(PasskeyView::from_record)
    .transpose()
}

pub(crate) fn delete_in(w: &mut Unit<'_>, id: &str, user_id: &str) -> Result<(), UnitError> {
    w.execute(
        "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
        crate::params![id, user_id],
    )?;
    Ok(())
}

/// Deletes every passkey of the user (passkey reset).
pub(crate) fn delete_all_in(w: &mut Unit<'_>, user_id: &str) -> Result<(), UnitError> {
    w.execute(
        "DELETE FROM passkeys WHERE user_id = $1",
        crate::params![user_id],
    )?;
    Ok(())
}

/// Stores a verified use: the credential's new state and the time. Conditional on the stored
/// state still being `previous`; `false` when another use changed it first.
pub(crate) fn record_use_in(
    w: &mut Unit<'_>,
    credential_id: &str,
    previous: &str,
    next: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE passkeys SET passkey = $3, last_used_at = $4 WHERE credential_id = $1 AND passkey = $2",
        crate::params![credential_id, previous, next, now],
    )? == 1)
}

/// A page of the user's passkeys, newest first.
pub(crate) async fn page(
    db: &Db,
    user_id: &str,
    params: &ListParams,
) -> ApiResult<Page<PasskeyView>> {
    crate::db::page::by_key(
        db,
        params,
        "id, name, created_at, last_used_at",
        "passkeys WHERE user_id = $1",
        "created_at DESC, id DESC",
        user_id,
    )
    .await
}
