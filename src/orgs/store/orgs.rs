//! `orgs` rows: the organization itself, its row lock and its passkey policy flag. A deleted
//! organization keeps its row with `deleted_at` (its financial records name it); everything
//! here but the lock and `find_including_deleted` sees live organizations only.

use serde::Serialize;

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::list::{ListParams, Page};
use crate::orgs::backoffice::UserOrg;
use crate::orgs::handlers::MyOrg;
use crate::orgs::permissions::Role;
use crate::time::Timestamp;

/// An organization.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "org_nwj47tan9zt24mnpzx45hy43kw", "name": "Lovelace Analytics GmbH", "country": "DE", "billingEmail": "billing@lovelace.example", "passkeysRequired": false, "createdAt": "2026-11-02T09:14:05Z"}))]
pub struct Org {
    /// The organization's id (`org_…`).
    pub id: String,
    /// Its name: 1 to 100 characters.
    pub name: String,
    /// ISO 3166-1 alpha-2, upper-case; decides the tax rate.
    #[schema(pattern = "^[A-Z]{2}$", example = "DE")]
    pub country: String,
    /// Where invoices are mailed; `null`: to the owners.
    pub billing_email: Option<String>,
    /// Whether every member must sign in with a passkey.
    pub passkeys_required: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

impl FromRecord for Org {
    fn from_record(r: &Record) -> Result<Org, UnitError> {
        Ok(Org {
            id: r.text("id")?,
            name: r.text("name")?,
            country: r.text("country")?,
            billing_email: r.opt_text("billing_email")?,
            passkeys_required: r.flag("passkeys_required")?,
            created_at: r.time("created_at")?,
        })
    }
}

impl FromRecord for MyOrg {
    fn from_record(r: &Record) -> Result<MyOrg, UnitError> {
        Ok(MyOrg {
            org: Org::from_record(r)?,
            role: Role::parse(&r.text("role")?).unwrap_or(Role::Member),
        })
    }
}

impl FromRecord for UserOrg {
    fn from_record(r: &Record) -> Result<UserOrg, UnitError> {
        Ok(UserOrg {
            org_id: r.text("id")?,
            name: r.text("name")?,
            role: Role::parse(&r.text("role")?).unwrap_or(Role::Member),
        })
    }
}

pub(crate) fn insert(w: &mut Unit<'_>, org: &Org, created_by: &str) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO orgs (id, name, country, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        crate::params![
            org.id.as_str(),
            org.name.as_str(),
            org.country.as_str(),
            org.created_at,
            created_by
        ],
    )?;
    Ok(())
}

/// The fields to change; `None` keeps a field.
pub(crate) struct OrgChanges {
    pub(crate) name: Option<String>,
    pub(crate) country: Option<String>,
    /// `Some(None)` clears it.
    pub(crate) billing_email: Option<Option<String>>,
}

/// Changes only the fields sent, so a concurrent update of another field is kept; the row
/// after the change, `None` when the organization is gone.
pub(crate) fn update(
    w: &mut Unit<'_>,
    id: &str,
    changes: OrgChanges,
) -> Result<Option<Org>, UnitError> {
    w.query_opt(
        "UPDATE orgs SET name = COALESCE($2, name), country = COALESCE($3, country),
                billing_email = CASE WHEN $4 = 1 THEN $5 ELSE billing_email END
         WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, name, country, billing_email, passkeys_required, created_at",
        crate::params![
            id,
            changes.name,
            changes.country,
            changes.billing_email.is_some(),
            changes.billing_email.flatten()
        ],
    )?
    .as_ref()
    .map(Org::from_record)
    .transpose()
}

/// Deletes the organization: its memberships, invitations, recovery-hold releases and passkey
/// policy go; its row stays, marked deleted.
pub(crate) fn delete(w: &mut Unit<'_>, id: &str, now: Timestamp) -> Result<(), UnitError> {
    for table in ["memberships", "invitations", "recovery_releases"] {
        w.execute(
            &format!("DELETE FROM {table} WHERE org_id = $1"),
            crate::params![id],
        )?;
    }
    w.execute(
        "UPDATE orgs SET deleted_at = $2, passkeys_required = 0 WHERE id = $1 AND deleted_at IS NULL",
        crate::params![id, now],
    )?;
    Ok(())
}

/// Serialises changes to one organization's memberships: a row lock on PostgreSQL (SQLite's
/// write transactions are serial already).
pub(crate) fn lock(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute("UPDATE orgs SET id = id WHERE id = $1", crate::params![id])?;
    Ok(())
}

/// `lock`, if the organization is not deleted; whether it is. On PostgreSQL a deletion that
/// commits while this waits for the row is seen (the condition is checked again on the new row).
pub(crate) fn lock_live(w: &mut Unit<'_>, id: &str) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE orgs SET id = id WHERE id = $1 AND deleted_at IS NULL",
        crate::params![id],
    )? == 1)
}

/// An organization, deleted or not.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "org_nwj47tan9zt24mnpzx45hy43kw", "name": "Lovelace Analytics GmbH", "country": "DE", "billingEmail": "billing@lovelace.example", "passkeysRequired": false, "createdAt": "2026-11-02T09:14:05Z", "deletedAt": null}))]
pub struct FoundOrg {
    #[serde(flatten)]
    pub org: Org,
    /// When the organization was deleted; null while it exists.
    pub deleted_at: Option<Timestamp>,
}

impl FromRecord for FoundOrg {
    fn from_record(r: &Record) -> Result<FoundOrg, UnitError> {
        Ok(FoundOrg {
            org: Org::from_record(r)?,
            deleted_at: r.opt_time("deleted_at")?,
        })
    }
}

/// The organization `id`, deleted or not.
pub(crate) async fn find_including_deleted(
    db: &Db,
    id: &str,
) -> Result<Option<FoundOrg>, UnitError> {
    db.read_opt(
        "SELECT id, name, country, billing_email, passkeys_required, created_at, deleted_at
         FROM orgs WHERE id = $1",
        crate::params![id],
    )
    .await
}

/// Turns the passkey policy on; `false` when it already was.
pub(crate) fn require_passkeys(w: &mut Unit<'_>, id: &str) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE orgs SET passkeys_required = 1 WHERE id = $1 AND passkeys_required = 0",
        crate::params![id],
    )? == 1)
}

pub(crate) fn relax_passkeys(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE orgs SET passkeys_required = 0 WHERE id = $1",
        crate::params![id],
    )?;
    Ok(())
}

/// The organizations `user_id` belongs to with their role there, newest first.
pub(crate) async fn of_member(
    db: &Db,
    user_id: &str,
    params: &ListParams,
) -> crate::error::ApiResult<Page<MyOrg>> {
    crate::db::page::by_key(
        db,
        params,
        "o.id, o.name, o.country, o.billing_email, o.passkeys_required, o.created_at, m.role",
        "orgs o JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1 AND o.deleted_at IS NULL",
        "o.created_at DESC, o.id DESC",
        user_id,
    )
    .await
}

/// Every organization, deleted ones included, that passes the list's `query` (name, country,
/// createdAt), newest first.
pub(crate) async fn page_all(
    db: &Db,
    params: &ListParams,
) -> crate::error::ApiResult<Page<FoundOrg>> {
    crate::db::page::filtered(
        db,
        params,
        crate::query::ORGS,
        "id, name, country, billing_email, passkeys_required, created_at, deleted_at",
        "orgs",
        None,
        "created_at DESC, id DESC",
    )
    .await
}

/// The organizations `user_id` belongs to, with the role, newest membership first.
pub(crate) async fn of_user(
    db: &Db,
    user_id: &str,
    params: &ListParams,
) -> crate::error::ApiResult<Page<UserOrg>> {
    crate::db::page::by_key(
        db,
        params,
        "o.id, o.name, m.role",
        "orgs o JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1 AND o.deleted_at IS NULL",
        "m.joined_at DESC, o.id DESC",
        user_id,
    )
    .await
}

/// Organizations whose billing address is `email` have none from now on.
pub(crate) fn clear_billing_email(w: &mut Unit<'_>, email: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE orgs SET billing_email = NULL WHERE billing_email = $1",
        crate::params![email],
    )?;
    Ok(())
}
