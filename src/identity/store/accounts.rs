//! `users`: the account every flow reads, sign-up, and the changes made to a user.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::error::ApiResult;
use crate::identity::account::{Account, UserView};
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

/// The columns of [`Account`], with the count of the user's organizations whose policy
/// requires passkeys (4.4).
macro_rules! account_columns {
    () => {
        "id, email, display_name, created_at, platform_admin, terms_accepted_version, banned_at, ban_reason, suspended_until, suspend_reason, locked_at, passkeys_required, webauthn_handle, email_verified_at,
            (SELECT COUNT(*) FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = users.id AND o.passkeys_required = 1) AS organization_policies"
    };
}

const ACCOUNT_COLUMNS: &str = account_columns!();
const BY_ID: &str = concat!("SELECT ", account_columns!(), " FROM users WHERE id = $1");
const BY_EMAIL: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM users WHERE email = $1"
);
const BY_HANDLE: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM users WHERE webauthn_handle = $1"
);

impl FromRecord for Account {
    fn from_record(r: &Record) -> Result<Account, UnitError> {
        Ok(Account {
            id: r.text("id")?,
            email: r.text("email")?,
            display_name: r.opt_text("display_name")?,
            created_at: r.time("created_at")?,
            platform_admin: r.flag("platform_admin")?,
            terms_accepted_version: r.opt_text("terms_accepted_version")?,
            banned_at: r.opt_time("banned_at")?,
            ban_reason: r.opt_text("ban_reason")?,
            suspended_until: r.opt_time("suspended_until")?,
            suspend_reason: r.opt_text("suspend_reason")?,
            locked_at: r.opt_time("locked_at")?,
            passkeys_required: r.flag("passkeys_required")?,
            webauthn_handle: r.text("webauthn_handle")?,
            email_verified: r.opt_int("email_verified_at")?.is_some(),
            organization_policies: r.int("organization_policies")?,
        })
    }
}

impl FromRecord for UserView {
    fn from_record(r: &Record) -> Result<UserView, UnitError> {
        Account::from_record(r).map(|account| UserView::from(&account))
    }
}

/// The account with this e-mail address.
pub(crate) fn by_email_in(w: &mut Unit<'_>, email: &str) -> Result<Option<Account>, UnitError> {
    one_in(w, BY_EMAIL, email)
}

/// The account with this id.
pub(crate) fn by_id_in(w: &mut Unit<'_>, id: &str) -> Result<Option<Account>, UnitError> {
    one_in(w, BY_ID, id)
}

fn one_in(w: &mut Unit<'_>, sql: &str, key: &str) -> Result<Option<Account>, UnitError> {
    w.query_opt(sql, crate::params![key])?
        .as_ref()
        .map(Account::from_record)
        .transpose()
}

pub(crate) async fn by_id(db: &Db, id: &str) -> Result<Option<Account>, UnitError> {
    db.read_opt(BY_ID, crate::params![id]).await
}

pub(crate) async fn by_email(db: &Db, email: &str) -> Result<Option<Account>, UnitError> {
    db.read_opt(BY_EMAIL, crate::params![email]).await
}

/// The account a discoverable passkey names by its WebAuthn user handle.
pub(crate) async fn by_webauthn_handle(
    db: &Db,
    handle: &str,
) -> Result<Option<Account>, UnitError> {
    db.read_opt(BY_HANDLE, crate::params![handle]).await
}

/// A page of every user, newest first, filtered by the list's `query`.
pub(crate) async fn page(db: &Db, params: &ListParams) -> ApiResult<Page<UserView>> {
    crate::db::page::filtered(
        db,
        params,
        crate::query::USERS,
        ACCOUNT_COLUMNS,
        "users",
        None,
        "created_at DESC, id DESC",
    )
    .await
}

/// A new user's row.
pub(crate) struct NewUser<'a> {
    pub(crate) id: &'a str,
    pub(crate) email: &'a str,
    pub(crate) display_name: Option<&'a str>,
    pub(crate) webauthn_handle: &'a str,
    /// When the address was proven, if it was.
    pub(crate) verified_at: Option<Timestamp>,
}

/// Inserts a user; `false` when the id or the e-mail address is taken.
pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    user: &NewUser<'_>,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "INSERT INTO users (id, email, display_name, created_at, webauthn_handle, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        crate::params![
            user.id,
            user.email,
            user.display_name,
            now,
            user.webauthn_handle,
            user.verified_at,
        ],
    )? == 1)
}

/// Records that the address is proven, unless it was already.
pub(crate) fn mark_email_verified_in(
    w: &mut Unit<'_>,
    id: &str,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
        crate::params![id, now],
    )?;
    Ok(())
}

/// Takes the user's row lock for the rest of the unit (PostgreSQL; a SQLite unit holds the
/// whole database), so checks that count the user's rows cannot race.
pub(crate) fn lock_row_in(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute("UPDATE users SET id = id WHERE id = $1", crate::params![id])?;
    Ok(())
}

pub(crate) fn grant_platform_admin_in(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET platform_admin = 1 WHERE id = $1",
        crate::params![id],
    )?;
    Ok(())
}

/// Locks the user's credentials older than `at` (4.3). The lock time only moves forward, so a
/// process whose clock lags cannot revive what a later lock held.
pub(crate) fn lock_in(w: &mut Unit<'_>, id: &str, at: Timestamp) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET locked_at = CASE WHEN locked_at IS NULL OR locked_at < $2 THEN $2 ELSE locked_at END WHERE id = $1",
        crate::params![id, at],
    )?;
    Ok(())
}

pub(crate) fn ban_in(
    w: &mut Unit<'_>,
    id: &str,
    at: Timestamp,
    reason: &str,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET banned_at = $2, ban_reason = $3 WHERE id = $1",
        crate::params![id, at, reason],
    )?;
    Ok(())
}

pub(crate) fn unban_in(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET banned_at = NULL, ban_reason = NULL WHERE id = $1",
        crate::params![id],
    )?;
    Ok(())
}

pub(crate) fn suspend_in(
    w: &mut Unit<'_>,
    id: &str,
    until: Timestamp,
    reason: &str,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET suspended_until = $2, suspend_reason = $3 WHERE id = $1",
        crate::params![id, until, reason],
    )?;
    Ok(())
}

pub(crate) fn unsuspend_in(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET suspended_until = NULL, suspend_reason = NULL WHERE id = $1",
        crate::params![id],
    )?;
    Ok(())
}

pub(crate) fn set_display_name_in(
    w: &mut Unit<'_>,
    id: &str,
    name: Option<&str>,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET display_name = $2 WHERE id = $1",
        crate::params![id, name],
    )?;
    Ok(())
}

/// Moves the user to a proven new address; `false` when another user has it. Two users
/// racing for one address on PostgreSQL meet the unique index instead (the unit fails).
pub(crate) fn change_email_in(
    w: &mut Unit<'_>,
    id: &str,
    email: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE users SET email = $2, email_verified_at = $3
         WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM users other WHERE other.email = $2 AND other.id <> $1)",
        crate::params![id, email, now],
    )? == 1)
}

/// Gives the user an address set by an administrator, not yet proven (the next sign-in with it
/// proves it); `false` when another user has it. Two units racing for one address on
/// PostgreSQL meet the unique index instead (the unit fails).
pub(crate) fn set_email_in(w: &mut Unit<'_>, id: &str, email: &str) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE users SET email = $2, email_verified_at = NULL
         WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM users other WHERE other.email = $2 AND other.id <> $1)",
        crate::params![id, email],
    )? == 1)
}

/// Turns the user's own passkey requirement on; `false` when it already was.
pub(crate) fn require_passkeys_in(w: &mut Unit<'_>, id: &str) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE users SET passkeys_required = 1 WHERE id = $1 AND passkeys_required = 0",
        crate::params![id],
    )? == 1)
}

pub(crate) fn unrequire_passkeys_in(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET passkeys_required = 0 WHERE id = $1",
        crate::params![id],
    )?;
    Ok(())
}

pub(crate) fn accept_terms_in(w: &mut Unit<'_>, id: &str, version: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE users SET terms_accepted_version = $2 WHERE id = $1",
        crate::params![id, version],
    )?;
    Ok(())
}

/// The organizations the user belongs to whose passkey policy is on, oldest first.
pub(crate) async fn organizations_requiring_passkeys(
    db: &Db,
    user_id: &str,
) -> Result<Vec<String>, UnitError> {
    db.read_all(
        "SELECT o.id FROM orgs o JOIN memberships m ON m.org_id = o.id
         WHERE m.user_id = $1 AND o.passkeys_required = 1 ORDER BY o.created_at",
        crate::params![user_id],
    )
    .await
}
