//! A user's account as the identity flows read it, and the views the API shows of it.

use serde::Serialize;
use sqlx::Row as _;

use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::Timestamp;

/// One row of `users`.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: Timestamp,
    pub platform_admin: bool,
    pub terms_accepted_version: Option<String>,
    pub banned_at: Option<Timestamp>,
    pub ban_reason: Option<String>,
    pub suspended_until: Option<Timestamp>,
    pub suspend_reason: Option<String>,
    pub locked_at: Option<Timestamp>,
    pub passkeys_required: bool,
    pub webauthn_handle: String,
    pub email_verified: bool,
    /// How many of the user's organizations require passkeys (4.4).
    pub organization_policies: i64,
}

pub const ACCOUNT_COLUMNS: &str = "id, email, display_name, created_at, platform_admin, terms_accepted_version, banned_at, ban_reason, suspended_until, suspend_reason, locked_at, passkeys_required, webauthn_handle, email_verified_at,
    (SELECT COUNT(*) FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = users.id AND o.passkeys_required = 1) AS organization_policies";

impl crate::db::FromRecord for Account {
    fn from_record(r: &crate::db::Record) -> Result<Account, crate::db::UnitError> {
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

/// The account of an address, inside a unit of work.
pub fn find_by_email_in(
    w: &mut crate::db::Unit<'_>,
    email: &str,
) -> Result<Option<Account>, crate::db::UnitError> {
    find_in(w, "email", email)
}

/// The account of a user id, inside a unit of work.
pub fn find_by_id_in(
    w: &mut crate::db::Unit<'_>,
    id: &str,
) -> Result<Option<Account>, crate::db::UnitError> {
    find_in(w, "id", id)
}

fn find_in(
    w: &mut crate::db::Unit<'_>,
    column: &'static str,
    value: &str,
) -> Result<Option<Account>, crate::db::UnitError> {
    use crate::db::FromRecord as _;
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE {column} = $1");
    w.query_opt(&sql, crate::params![value])?
        .as_ref()
        .map(Account::from_record)
        .transpose()
}

/// Creates a user inside a unit; `false` when the id or the e-mail is taken.
pub fn insert_in(
    w: &mut crate::db::Unit<'_>,
    id: &str,
    email: &str,
    display_name: Option<&str>,
    now: Timestamp,
    verified: bool,
) -> Result<bool, crate::db::UnitError> {
    Ok(w.execute(
        INSERT_USER,
        crate::params![
            id,
            email,
            display_name,
            now,
            super::webauthn::new_user_handle(),
            verified.then_some(now),
        ],
    )? == 1)
}

const INSERT_USER: &str =
    "INSERT INTO users (id, email, display_name, created_at, webauthn_handle, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

impl Account {
    pub fn from_row(row: &crate::db::Row) -> Result<Account, sqlx::Error> {
        let time = |name: &str| -> Result<Option<Timestamp>, sqlx::Error> {
            Ok(row
                .try_get::<Option<i64>, _>(name)?
                .map(Timestamp::from_micros))
        };
        Ok(Account {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            created_at: Timestamp::from_micros(row.try_get("created_at")?),
            platform_admin: row.try_get::<i64, _>("platform_admin")? != 0,
            terms_accepted_version: row.try_get("terms_accepted_version")?,
            banned_at: time("banned_at")?,
            ban_reason: row.try_get("ban_reason")?,
            suspended_until: time("suspended_until")?,
            suspend_reason: row.try_get("suspend_reason")?,
            locked_at: time("locked_at")?,
            passkeys_required: row.try_get::<i64, _>("passkeys_required")? != 0,
            webauthn_handle: row.try_get("webauthn_handle")?,
            email_verified: row
                .try_get::<Option<i64>, _>("email_verified_at")?
                .is_some(),
            organization_policies: row.try_get("organization_policies")?,
        })
    }

    /// 403003 when banned, 403004 while suspended.
    pub fn check_standing(&self, now: Timestamp) -> ApiResult<()> {
        if self.banned_at.is_some() {
            return Err(ApiError::new(
                ErrorCode::UserBanned,
                "This account is banned.",
            ));
        }
        if let Some(until) = self.suspended_until.filter(|u| now < *u) {
            return Err(ApiError::new(
                ErrorCode::UserSuspended,
                format!("This account is suspended until {until}."),
            )
            .with("suspendedUntil", until));
        }
        Ok(())
    }
}

pub async fn find_by_id(db: &Db, id: &str) -> ApiResult<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(Account::from_row).transpose()?)
}

pub async fn find_by_email(db: &Db, email: &str) -> ApiResult<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE email = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(Account::from_row).transpose()?)
}

pub async fn get(db: &Db, id: &str) -> ApiResult<Account> {
    find_by_id(db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("The user"))
}

/// `GET /v1/me`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: Timestamp,
    pub terms_accepted_version: Option<String>,
    /// Whether sign-in needs a passkey: the user's own setting or an organization's policy.
    pub passkeys_required: bool,
    pub platform_admin: bool,
}

impl MeView {
    pub fn new(account: &Account, passkeys_required: bool) -> MeView {
        MeView {
            id: account.id.clone(),
            email: account.email.clone(),
            display_name: account.display_name.clone(),
            created_at: account.created_at,
            terms_accepted_version: account.terms_accepted_version.clone(),
            passkeys_required,
            platform_admin: account.platform_admin,
        }
    }
}

pub fn me_view(account: &Account) -> MeView {
    MeView::new(account, super::requirement::required(account))
}

/// A user as platform administrators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: Timestamp,
    pub platform_admin: bool,
    pub terms_accepted_version: Option<String>,
    pub passkeys_required: bool,
    pub banned: bool,
    pub ban_reason: Option<String>,
    pub suspended_until: Option<Timestamp>,
    pub suspend_reason: Option<String>,
    /// A lock was applied (4.3): every credential older than `lockedAt` answers 403002.
    pub locked: bool,
    pub locked_at: Option<Timestamp>,
}

impl From<&Account> for UserView {
    fn from(a: &Account) -> Self {
        UserView {
            id: a.id.clone(),
            email: a.email.clone(),
            display_name: a.display_name.clone(),
            created_at: a.created_at,
            platform_admin: a.platform_admin,
            terms_accepted_version: a.terms_accepted_version.clone(),
            passkeys_required: a.passkeys_required,
            banned: a.banned_at.is_some(),
            ban_reason: a.ban_reason.clone(),
            suspended_until: a.suspended_until,
            suspend_reason: a.suspend_reason.clone(),
            locked: a.locked_at.is_some(),
            locked_at: a.locked_at,
        }
    }
}

/// Locks a user's credentials older than `$2` (4.3). The lock time only moves forward, so a
/// process whose clock lags cannot revive what a later lock held.
pub const LOCK_USER: &str = "UPDATE users SET locked_at = CASE WHEN locked_at IS NULL OR locked_at < $2 THEN $2 ELSE locked_at END WHERE id = $1";

/// Creates a user; `None` when the id or the e-mail is taken.
pub async fn insert<'e, E>(
    executor: E,
    id: &str,
    email: &str,
    display_name: Option<&str>,
    now: Timestamp,
    verified: bool,
) -> ApiResult<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let result = sqlx::query(INSERT_USER)
        .bind(id)
        .bind(email)
        .bind(display_name.map(str::to_string))
        .bind(now.micros())
        .bind(super::webauthn::new_user_handle())
        .bind(verified.then_some(now.micros()))
        .execute(executor)
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn find_by_handle(db: &Db, handle: &str) -> ApiResult<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE webauthn_handle = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(handle)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(Account::from_row).transpose()?)
}
