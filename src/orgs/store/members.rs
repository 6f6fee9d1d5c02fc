//! `memberships` rows: who belongs to an organization, in which role, and who signs for it.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::list::{ListParams, Page};
use crate::orgs::members::Member;
use crate::orgs::permissions::Role;
use crate::time::Timestamp;

impl FromRecord for Member {
    fn from_record(r: &Record) -> Result<Member, UnitError> {
        Ok(Member {
            user_id: r.text("user_id")?,
            email: r.text("email")?,
            role: Role::parse(&r.text("role")?).unwrap_or(Role::Member),
            legal_signatory: r.flag("legal_signatory")?,
            joined_at: r.time("joined_at")?,
        })
    }
}

const FIND: &str = "SELECT m.user_id, u.email, m.role, m.legal_signatory, m.joined_at
     FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2";

pub(crate) fn find(
    w: &mut Unit<'_>,
    org_id: &str,
    user_id: &str,
) -> Result<Option<Member>, UnitError> {
    w.query_opt(FIND, crate::params![org_id, user_id])?
        .as_ref()
        .map(Member::from_record)
        .transpose()
}

/// The members, oldest first (the founder leads).
pub(crate) async fn list(
    db: &Db,
    org_id: &str,
    params: &ListParams,
) -> crate::error::ApiResult<Page<Member>> {
    crate::db::page::by_key(
        db,
        params,
        "m.user_id, u.email, m.role, m.legal_signatory, m.joined_at",
        "memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1",
        "m.joined_at, m.user_id",
        org_id,
    )
    .await
}

/// Adds a member; `false` when they already are one (the membership is kept as it is).
pub(crate) fn insert(
    w: &mut Unit<'_>,
    org_id: &str,
    user_id: &str,
    role: Role,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        crate::params![org_id, user_id, role.as_str(), now],
    )? == 1)
}

/// How many owners the organization has. Counted in the unit that changes them, after the
/// organization's row lock, so two changes cannot both remove "the other" owner.
pub(crate) fn owners(w: &mut Unit<'_>, org_id: &str) -> Result<i64, UnitError> {
    w.query_one(
        "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'",
        crate::params![org_id],
    )?
    .int_at(0)
}

pub(crate) fn set_role(
    w: &mut Unit<'_>,
    org_id: &str,
    user_id: &str,
    role: Role,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2",
        crate::params![org_id, user_id, role.as_str()],
    )?;
    Ok(())
}

pub(crate) fn set_legal_signatory(
    w: &mut Unit<'_>,
    org_id: &str,
    user_id: &str,
    legal_signatory: bool,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE memberships SET legal_signatory = $3 WHERE org_id = $1 AND user_id = $2",
        crate::params![org_id, user_id, legal_signatory],
    )?;
    Ok(())
}

pub(crate) fn delete(w: &mut Unit<'_>, org_id: &str, user_id: &str) -> Result<(), UnitError> {
    w.execute(
        "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
        crate::params![org_id, user_id],
    )?;
    Ok(())
}

/// Whether a member of the organization has this e-mail address.
pub(crate) fn has_member_with_email(
    w: &mut Unit<'_>,
    org_id: &str,
    email: &str,
) -> Result<bool, UnitError> {
    Ok(w.query_opt(
        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = $1 AND u.email = $2",
        crate::params![org_id, email],
    )?
    .is_some())
}

/// The organizations the user belongs to, with the role, by organization id (the order in
/// which erasure takes their row locks).
pub(crate) fn of_user(w: &mut Unit<'_>, user_id: &str) -> Result<Vec<(String, Role)>, UnitError> {
    w.query(
        "SELECT org_id, role FROM memberships WHERE user_id = $1 ORDER BY org_id",
        crate::params![user_id],
    )?
    .iter()
    .map(|r| {
        Ok((
            r.text("org_id")?,
            Role::parse(&r.text("role")?).unwrap_or(Role::Member),
        ))
    })
    .collect()
}

/// The organizations (id, name) whose only owner is the user.
pub(crate) fn solely_owned(
    w: &mut Unit<'_>,
    user_id: &str,
) -> Result<Vec<(String, String)>, UnitError> {
    w.query(
        "SELECT o.id, o.name FROM memberships m JOIN orgs o ON o.id = m.org_id
         WHERE m.user_id = $1 AND m.role = 'owner' AND o.deleted_at IS NULL
           AND (SELECT COUNT(*) FROM memberships other
                WHERE other.org_id = m.org_id AND other.role = 'owner') = 1
         ORDER BY o.id",
        crate::params![user_id],
    )?
    .iter()
    .map(|r| Ok((r.text("id")?, r.text("name")?)))
    .collect()
}
