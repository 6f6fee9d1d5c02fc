//! A user's account as the identity flows read it, and the views the API shows of it.

use serde::Serialize;

use crate::db::{Db, Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::Timestamp;

use super::store::accounts::{self, NewUser};
use super::store::erasure;

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

/// Signs a user up inside a unit, with a new WebAuthn user handle; `false` when the id or the
/// e-mail address is taken, or the id was an erased user's (never given again). On `false`
/// the caller ends the unit with an error, which also undoes an insert made before a racing
/// erasure of the same id committed.
pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    id: &str,
    email: &str,
    display_name: Option<&str>,
    now: Timestamp,
    verified: bool,
) -> Result<bool, UnitError> {
    if erasure::is_erased_in(w, id)? {
        return Ok(false);
    }
    let handle = super::webauthn::new_user_handle();
    let user = NewUser {
        id,
        email,
        display_name,
        webauthn_handle: &handle,
        verified_at: verified.then_some(now),
    };
    // Asked again after the insert: on PostgreSQL an insert of an id whose erasure is under way
    // waits for it, and then sees its tombstone only in a statement of its own.
    Ok(accounts::insert_in(w, &user, now)? && !erasure::is_erased_in(w, id)?)
}

impl Account {
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

/// The user, or 404 "The user".
/// The account `id`, read inside a unit of work (for other domains' units).
pub(crate) fn find_by_id_in(
    w: &mut crate::db::Unit<'_>,
    id: &str,
) -> Result<Option<Account>, crate::db::UnitError> {
    super::store::accounts::by_id_in(w, id)
}

pub async fn get(db: &Db, id: &str) -> ApiResult<Account> {
    accounts::by_id(db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("The user"))
}

/// `GET /v1/me`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "usr_m9s346q3d25vt4f5v37e3s3e28", "email": "ada@lovelace.example", "displayName": "Ada Lovelace", "createdAt": "2026-11-02T09:12:40Z", "passkeysRequired": false, "platformAdmin": false, "termsAcceptedVersion": "2026-01"}))]
pub struct MeView {
    /// The user's id (`usr_…`, or the id an administrator chose).
    pub id: String,
    /// The verified e-mail address, lower-case.
    pub email: String,
    /// The name shown to other members; `null` until set.
    pub display_name: Option<String>,
    /// When the account was created.
    pub created_at: Timestamp,
    /// The terms version the user accepted last; `null` before the first acceptance.
    pub terms_accepted_version: Option<String>,
    /// Whether sign-in needs a passkey: the user's own setting or an organization's policy.
    pub passkeys_required: bool,
    /// Whether the user administers the platform.
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
#[schema(example = json!({"id": "usr_m9s346q3d25vt4f5v37e3s3e28", "email": "ada@lovelace.example", "displayName": "Ada Lovelace", "createdAt": "2026-11-02T09:12:40Z", "passkeysRequired": false, "platformAdmin": false, "termsAcceptedVersion": "2026-01", "banned": false, "banReason": null, "locked": false, "lockedAt": null, "suspendedUntil": null, "suspendReason": null}))]
pub struct UserView {
    /// The user's id.
    pub id: String,
    /// The e-mail address, lower-case.
    pub email: String,
    /// The name shown to other members; `null` until set.
    pub display_name: Option<String>,
    /// When the account was created.
    pub created_at: Timestamp,
    /// Whether the user administers the platform.
    pub platform_admin: bool,
    /// The terms version the user accepted last; `null` before the first acceptance.
    pub terms_accepted_version: Option<String>,
    /// Whether the user chose to sign in with passkeys only.
    pub passkeys_required: bool,
    /// Whether a ban is in force: every request of the user answers 403003.
    pub banned: bool,
    /// Why the user was banned; `null` when not banned.
    pub ban_reason: Option<String>,
    /// When a suspension in force ends (its requests answer 403004 until then); `null` when
    /// not suspended.
    pub suspended_until: Option<Timestamp>,
    /// Why the user was suspended; `null` when not suspended.
    pub suspend_reason: Option<String>,
    /// A lock was applied: every credential older than `lockedAt` answers 403002.
    pub locked: bool,
    /// When the last lock was applied; `null` if never.
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
