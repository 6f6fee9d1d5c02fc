//! Erasure's SQL (section 6): what identity keeps of a person goes, a tombstone keeps the id.

use crate::db::{Unit, UnitError};
use crate::time::Timestamp;

/// Whether the id belonged to an erased user.
pub(crate) fn is_erased_in(w: &mut Unit<'_>, id: &str) -> Result<bool, UnitError> {
    Ok(w.query_opt(
        "SELECT 1 FROM erased_users WHERE id = $1",
        crate::params![id],
    )?
    .is_some())
}

/// The user's credentials and ceremonies: sessions, access tokens, passkeys, WebAuthn and
/// e-mail challenges (which may name the person), recovery releases.
pub(crate) fn delete_credentials_in(w: &mut Unit<'_>, user_id: &str) -> Result<(), UnitError> {
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM access_tokens WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
        "DELETE FROM webauthn_challenges WHERE user_id = $1",
        "DELETE FROM email_challenges WHERE user_id = $1",
        "DELETE FROM recovery_releases WHERE user_id = $1",
    ] {
        w.execute(sql, crate::params![user_id])?;
    }
    Ok(())
}

/// What is kept per address: code challenges, send quotas and lockouts.
pub(crate) fn delete_address_records_in(w: &mut Unit<'_>, email: &str) -> Result<(), UnitError> {
    for sql in [
        "DELETE FROM email_challenges WHERE email = $1",
        "DELETE FROM send_quotas WHERE email = $1",
        "DELETE FROM code_lockouts WHERE email = $1",
    ] {
        w.execute(sql, crate::params![email])?;
    }
    Ok(())
}

/// Deletes the user's row and leaves the tombstone in its place.
pub(crate) fn replace_with_tombstone_in(
    w: &mut Unit<'_>,
    user_id: &str,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute("DELETE FROM users WHERE id = $1", crate::params![user_id])?;
    w.execute(
        "INSERT INTO erased_users (id, erased_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        crate::params![user_id, now],
    )?;
    Ok(())
}
