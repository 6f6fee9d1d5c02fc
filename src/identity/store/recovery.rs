//! The recovery hold's rows: `users.recovered_at`, the organizations (and their owners) a
//! reset holds, and `recovery_releases`. Identity reads the organizations' passkey policy and
//! memberships here rather than through the organizations domain, which depends on identity.

use crate::db::{Db, Unit, UnitError};
use crate::time::Timestamp;

/// Records a passkey reset of the user at `now`.
pub(crate) fn mark_recovered_in(
    w: &mut Unit<'_>,
    user_id: &str,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET recovered_at = $2 WHERE id = $1",
        crate::params![user_id, now],
    )?;
    Ok(())
}

/// An organization of the user whose policy requires passkeys.
pub(crate) struct PolicyOrg {
    pub(crate) id: String,
    pub(crate) name: String,
}

/// The user's organizations that require passkeys, oldest first.
pub(crate) fn requiring_passkeys_in(
    w: &mut Unit<'_>,
    user_id: &str,
) -> Result<Vec<PolicyOrg>, UnitError> {
    w.query(
        "SELECT o.id, o.name FROM memberships m JOIN orgs o ON o.id = m.org_id
         WHERE m.user_id = $1 AND o.passkeys_required <> 0 ORDER BY o.created_at",
        crate::params![user_id],
    )?
    .iter()
    .map(|row| {
        Ok(PolicyOrg {
            id: row.text("id")?,
            name: row.text("name")?,
        })
    })
    .collect()
}

/// The e-mail addresses of the organization's owners other than `user_id`, longest-standing
/// first.
pub(crate) fn other_owner_emails_in(
    w: &mut Unit<'_>,
    org_id: &str,
    user_id: &str,
) -> Result<Vec<String>, UnitError> {
    w.query(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND m.role = 'owner' AND m.user_id <> $2 ORDER BY m.joined_at",
        crate::params![org_id, user_id],
    )?
    .iter()
    .map(|row| row.text_at(0))
    .collect()
}

/// The e-mail addresses of the platform administrators other than `user_id`, oldest first.
pub(crate) fn other_admin_emails_in(
    w: &mut Unit<'_>,
    user_id: &str,
) -> Result<Vec<String>, UnitError> {
    w.query(
        "SELECT email FROM users WHERE platform_admin <> 0 AND id <> $1 ORDER BY created_at",
        crate::params![user_id],
    )?
    .iter()
    .map(|row| row.text_at(0))
    .collect()
}

/// Whether an owner ended the hold of the reset at `recovered_at` in the organization.
pub(crate) async fn is_released(
    db: &Db,
    org_id: &str,
    user_id: &str,
    recovered_at: Option<Timestamp>,
) -> Result<bool, UnitError> {
    Ok(db
        .read_opt::<i64>(
            "SELECT 1 FROM recovery_releases WHERE org_id = $1 AND user_id = $2 AND recovered_at = $3",
            crate::params![org_id, user_id, recovered_at],
        )
        .await?
        .is_some())
}

/// Ends the member's hold in the organization, when it requires passkeys and the member's
/// reset was after `since`; `false` when there is no such hold (or it was ended already).
pub(crate) fn release_in(
    w: &mut Unit<'_>,
    org_id: &str,
    user_id: &str,
    owner_id: &str,
    since: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "INSERT INTO recovery_releases (org_id, user_id, recovered_at, released_by)
         SELECT o.id, u.id, u.recovered_at, $3 FROM orgs o, users u
         WHERE o.id = $1 AND u.id = $2 AND o.passkeys_required <> 0
           AND u.recovered_at IS NOT NULL AND u.recovered_at > $4
         ON CONFLICT DO NOTHING",
        crate::params![org_id, user_id, owner_id, since],
    )? == 1)
}

/// Deletes releases of resets at or before `cutoff`.
pub(crate) fn purge_in(w: &mut Unit<'_>, cutoff: Timestamp) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM recovery_releases WHERE recovered_at <= $1",
        crate::params![cutoff],
    )
}
