//! Deleting what no rule needs any more: expired challenges, ended send quotas, forgotten
//! lockouts.

use crate::db::{Unit, UnitError};
use crate::time::Timestamp;

/// Deletes e-mail and WebAuthn challenges that expired by `now`.
pub(crate) fn purge_challenges_in(w: &mut Unit<'_>, now: Timestamp) -> Result<u64, UnitError> {
    Ok(w.execute(
        "DELETE FROM email_challenges WHERE expires_at <= $1",
        crate::params![now],
    )? + w.execute(
        "DELETE FROM webauthn_challenges WHERE expires_at <= $1",
        crate::params![now],
    )?)
}

/// Deletes send quotas whose window began at or before `cutoff`.
pub(crate) fn purge_send_quotas_in(w: &mut Unit<'_>, cutoff: Timestamp) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM send_quotas WHERE window_start <= $1",
        crate::params![cutoff],
    )
}

/// Deletes lockouts whose lock (or, unlocked, whose window) began at or before `cutoff`.
pub(crate) fn purge_lockouts_in(w: &mut Unit<'_>, cutoff: Timestamp) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM code_lockouts WHERE COALESCE(locked_until, window_start) <= $1",
        crate::params![cutoff],
    )
}
