//! `webauthn_challenges`: WebAuthn ceremonies in progress, taken once.

use crate::db::{Unit, UnitError};
use crate::identity::ceremony::{Ceremony, Purpose};
use crate::time::Timestamp;

/// A ceremony's row; `state` is the library's opaque state.
pub(crate) struct NewCeremony<'a> {
    pub(crate) id: &'a str,
    pub(crate) purpose: Purpose,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) state: &'a str,
    pub(crate) expires_at: Timestamp,
}

pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    ceremony: &NewCeremony<'_>,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO webauthn_challenges (id, purpose, user_id, session_id, state, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        crate::params![
            ceremony.id,
            ceremony.purpose.as_str(),
            ceremony.user_id,
            ceremony.session_id,
            ceremony.state,
            now,
            ceremony.expires_at,
        ],
    )?;
    Ok(())
}

/// Uses a ceremony by a conditional update, so exactly one caller gets it; `None` when it is
/// unknown, used or expired (or of a purpose this build does not know).
/// A ceremony not yet used and not expired, read on the pool (the unit that finishes it takes
/// it with `take_in`, so only one finish can use it).
pub(crate) async fn pending(
    db: &crate::db::Db,
    id: &str,
    now: Timestamp,
) -> Result<Option<Ceremony>, UnitError> {
    let Some(row) = db
        .read_opt::<crate::db::Record>(
            "SELECT purpose, user_id, session_id, state FROM webauthn_challenges
             WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
            crate::params![id, now],
        )
        .await?
    else {
        return Ok(None);
    };
    ceremony(&row)
}

fn ceremony(row: &crate::db::Record) -> Result<Option<Ceremony>, UnitError> {
    let Some(purpose) = Purpose::parse(&row.text("purpose")?) else {
        return Ok(None);
    };
    Ok(Some(Ceremony {
        purpose,
        user_id: row.opt_text("user_id")?,
        session_id: row.opt_text("session_id")?,
        state: row.text("state")?,
    }))
}

pub(crate) fn take_in(
    w: &mut Unit<'_>,
    id: &str,
    now: Timestamp,
) -> Result<Option<Ceremony>, UnitError> {
    let Some(row) = w.query_opt(
        "UPDATE webauthn_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING purpose, user_id, session_id, state",
        crate::params![id, now],
    )?
    else {
        return Ok(None);
    };
    ceremony(&row)
}
