//! `sessions`: started by sign-in, touched by use, elevated, revoked.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::error::ApiResult;
use crate::identity::sessions::{AuthMethod, SessionView};
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

/// A new session's row; the token is stored only as its hash.
pub(crate) struct NewSession<'a> {
    pub(crate) id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) token_hash: &'a str,
    pub(crate) expires_at: Timestamp,
    pub(crate) method: AuthMethod,
    pub(crate) restricted: bool,
}

/// Inserts a session that starts, and last authenticated, now.
pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    session: &NewSession<'_>,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO sessions (id, user_id, token_hash, created_at, last_used_at, expires_at, auth_at, auth_method, restricted)
         VALUES ($1, $2, $3, $4, $4, $5, $4, $6, $7)",
        crate::params![
            session.id,
            session.user_id,
            session.token_hash,
            now,
            session.expires_at,
            session.method.as_str(),
            session.restricted,
        ],
    )?;
    Ok(())
}

/// Records an interactive authentication of the session at `now` (elevation).
pub(crate) fn mark_authenticated_in(
    w: &mut Unit<'_>,
    id: &str,
    method: AuthMethod,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE sessions SET auth_at = $2, auth_method = $3 WHERE id = $1",
        crate::params![id, now, method.as_str()],
    )?;
    Ok(())
}

/// Moves the session's last use forward to `now` (never back).
pub(crate) fn touch_in(w: &mut Unit<'_>, id: &str, now: Timestamp) -> Result<(), UnitError> {
    w.execute(
        "UPDATE sessions SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1",
        crate::params![now, id],
    )?;
    Ok(())
}

/// Lifts the session's restriction (4.4).
pub(crate) fn unrestrict_in(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE sessions SET restricted = 0 WHERE id = $1 AND restricted <> 0",
        crate::params![id],
    )?;
    Ok(())
}

/// Revokes one of the user's sessions; `false` when it is not theirs or already revoked.
pub(crate) fn revoke_in(
    w: &mut Unit<'_>,
    id: &str,
    user_id: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        crate::params![id, user_id, now],
    )? == 1)
}

/// Revokes every session of the user but `keep`; how many.
pub(crate) fn revoke_all_but_in(
    w: &mut Unit<'_>,
    user_id: &str,
    keep: Option<&str>,
    now: Timestamp,
) -> Result<u64, UnitError> {
    w.execute(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND id <> $3",
        crate::params![user_id, now, keep.unwrap_or("")],
    )
}

impl FromRecord for SessionView {
    fn from_record(r: &Record) -> Result<SessionView, UnitError> {
        Ok(SessionView {
            id: r.text("id")?,
            created_at: r.time("created_at")?,
            last_used_at: r.time("last_used_at")?,
            expires_at: r.time("expires_at")?,
            current: false,
        })
    }
}

/// A page of the user's sessions that can still be used (not revoked, expired or idle since
/// `idle_cutoff`), newest first.
pub(crate) async fn live_page(
    db: &Db,
    user_id: &str,
    now: Timestamp,
    idle_cutoff: Timestamp,
    params: &ListParams,
) -> ApiResult<Page<SessionView>> {
    let total: i64 = db
        .read_one(
            "SELECT COUNT(*) FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3",
            crate::params![user_id, now, idle_cutoff],
        )
        .await?;
    let items = db
        .read_all(
            "SELECT id, created_at, last_used_at, expires_at FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3
             ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
            crate::params![user_id, now, idle_cutoff, params.limit, params.from],
        )
        .await?;
    Ok(Page::new(params, items, total))
}
