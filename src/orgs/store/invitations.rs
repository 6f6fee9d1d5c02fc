//! `invitations` rows. Every answer (accept, decline, revoke) is one conditional update of a
//! pending row, so an invitation is answered at most once.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::list::{ListParams, Page};
use crate::orgs::invitations::Invitation;
use crate::orgs::permissions::Role;
use crate::time::Timestamp;

/// As stored: a pending invitation past its expiry still reads `pending` here.
impl FromRecord for Invitation {
    fn from_record(r: &Record) -> Result<Invitation, UnitError> {
        Ok(Invitation {
            id: r.text("id")?,
            org_id: r.text("org_id")?,
            email: r.text("email")?,
            role: Role::parse(&r.text("role")?).unwrap_or(Role::Member),
            status: r.text("status")?,
            invited_by: r.text("invited_by")?,
            created_at: r.time("created_at")?,
            expires_at: r.time("expires_at")?,
        })
    }
}

const COLUMNS: &str = "id, org_id, email, role, status, invited_by, created_at, expires_at";

pub(crate) fn insert(w: &mut Unit<'_>, invitation: &Invitation) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO invitations (id, org_id, email, role, status, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        crate::params![
            invitation.id.as_str(),
            invitation.org_id.as_str(),
            invitation.email.as_str(),
            invitation.role.as_str(),
            invitation.status.as_str(),
            invitation.invited_by.as_str(),
            invitation.created_at,
            invitation.expires_at
        ],
    )?;
    Ok(())
}

pub(crate) fn find(w: &mut Unit<'_>, id: &str) -> Result<Option<Invitation>, UnitError> {
    w.query_opt(
        "SELECT id, org_id, email, role, status, invited_by, created_at, expires_at
         FROM invitations WHERE id = $1",
        crate::params![id],
    )?
    .as_ref()
    .map(Invitation::from_record)
    .transpose()
}

/// The organization's invitations, newest first.
pub(crate) async fn of_org(
    db: &Db,
    org_id: &str,
    params: &ListParams,
) -> crate::error::ApiResult<Page<Invitation>> {
    crate::db::page::by_key(
        db,
        params,
        COLUMNS,
        "invitations WHERE org_id = $1",
        "created_at DESC, id DESC",
        org_id,
    )
    .await
}

/// The pending, unexpired invitations addressed to `email`, newest first.
pub(crate) async fn pending_for(
    db: &Db,
    email: &str,
    now: Timestamp,
    params: &ListParams,
) -> crate::error::ApiResult<Page<Invitation>> {
    let total: i64 = db
        .read_one(
            "SELECT COUNT(*) FROM invitations
             WHERE email = $1 AND status = 'pending' AND expires_at > $2",
            crate::params![email, now],
        )
        .await?;
    let items = db
        .read_all(
            "SELECT id, org_id, email, role, status, invited_by, created_at, expires_at
             FROM invitations WHERE email = $1 AND status = 'pending' AND expires_at > $2
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
            crate::params![email, now, params.limit, params.from],
        )
        .await?;
    Ok(Page::new(params, items, total))
}

/// Accepts a pending, unexpired invitation; `false` when it is not (any more).
pub(crate) fn accept(
    w: &mut Unit<'_>,
    id: &str,
    user_id: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE invitations SET status = 'accepted', answered_at = $2, answered_by = $3
         WHERE id = $1 AND status = 'pending' AND expires_at > $2",
        crate::params![id, now, user_id],
    )? == 1)
}

/// Declines a pending invitation; `false` when it is not (any more).
pub(crate) fn decline(
    w: &mut Unit<'_>,
    id: &str,
    user_id: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE invitations SET status = 'declined', answered_at = $2, answered_by = $3
         WHERE id = $1 AND status = 'pending'",
        crate::params![id, now, user_id],
    )? == 1)
}

/// Revokes a pending invitation of the organization; `false` when there is none.
pub(crate) fn revoke(
    w: &mut Unit<'_>,
    org_id: &str,
    id: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE invitations SET status = 'revoked', answered_at = $3
         WHERE id = $1 AND org_id = $2 AND status = 'pending'",
        crate::params![id, org_id, now],
    )? == 1)
}

/// Revokes the pending invitations to `role` that `inviter` made in the organization.
pub(crate) fn revoke_pending_by(
    w: &mut Unit<'_>,
    org_id: &str,
    inviter: &str,
    role: Role,
    now: Timestamp,
) -> Result<u64, UnitError> {
    w.execute(
        "UPDATE invitations SET status = 'revoked', answered_at = $4
         WHERE org_id = $1 AND invited_by = $2 AND role = $3 AND status = 'pending'",
        crate::params![org_id, inviter, role.as_str(), now],
    )
}

/// Deletes the invitations a person made, answered, or was sent at `email`; how many.
pub(crate) fn delete_of_person(
    w: &mut Unit<'_>,
    user_id: &str,
    email: &str,
) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM invitations WHERE invited_by = $1 OR answered_by = $1 OR email = $2",
        crate::params![user_id, email],
    )
}
