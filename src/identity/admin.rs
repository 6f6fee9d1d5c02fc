//! Platform administration of users (6): create, read, list, edit, ban, suspend, lock
//! (erasure is `erasure.rs`).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::json;

use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::identity::IdentityState;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use crate::mail::templates;

use super::account::{self, Account, UserView};
use super::auth::Caller;
use super::notices::Notice;
use super::store::accounts;
use super::users::Email;

pub(super) fn user_not_found() -> ApiError {
    ApiError::new(ErrorCode::UserNotFoundInDb, "No user has this id.")
}

/// The user named by `{userId}`, loaded before the body is read (404001 comes first).
pub struct TargetUser(pub Account);

impl<S: Send + Sync> FromRequestParts<S> for TargetUser
where
    crate::state::Infra: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let ApiPath(id) = ApiPath::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| user_not_found())?;
        let infra = <crate::state::Infra as axum::extract::FromRef<S>>::from_ref(state);
        accounts::by_id(&infra.db, &id)
            .await?
            .map(TargetUser)
            .ok_or_else(user_not_found)
    }
}

/// A caller-chosen user id: `^[A-Za-z0-9._-]{1,64}$`, not starting with `usr_`.
fn valid_user_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !id.starts_with("usr_")
}

/// A new user, made by a platform administrator.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"id": "crm-42", "email": "grace@example.com", "displayName": "Grace Hopper"}))]
pub struct CreateUser {
    /// The id to give the user: `^[A-Za-z0-9._-]{1,64}$`, not starting with `usr_`; absent: a
    /// new `usr_…` id.
    id: Option<String>,
    /// The user's e-mail address; it is proven at the user's first sign-in.
    email: String,
    /// The name shown to other members: 1 to 100 characters.
    display_name: Option<String>,
}

/// Creates a user; an existing id or e-mail answers 400006.
#[utoipa::path(post, path = "/v1/users", tag = "users", operation_id = "createUser", request_body = CreateUser,
    responses((status = 201, description = "The new user.", body = UserView)))]
pub async fn create(
    State(state): State<IdentityState>,
    origin: Origin,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let mut errors = Vec::new();
    if body.id.as_deref().is_some_and(|id| !valid_user_id(id)) {
        errors.push(FieldError {
            field: "id".into(),
            message: "must match ^[A-Za-z0-9._-]{1,64}$ and not start with usr_".into(),
        });
    }
    let email = Email::parse(&body.email);
    if email.is_none() {
        errors.push(FieldError {
            field: "email".into(),
            message: "is not a valid e-mail address".into(),
        });
    }
    let display_name = match super::me::display_name(body.display_name) {
        Ok(name) => name,
        Err(_) => {
            errors.push(FieldError {
                field: "displayName".into(),
                message: crate::names::RULE.into(),
            });
            None
        }
    };
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validations(errors));
    };
    let id = body.id.unwrap_or_else(|| new_id("usr"));
    let account = create_user(&state, origin, id, email, display_name).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&account))))
}

/// Creates the user (e-mail not yet proven), audited, as one unit of work; 400006 when the id
/// or the address is taken.
async fn create_user(
    state: &IdentityState,
    origin: Origin,
    id: String,
    email: Email,
    display_name: Option<String>,
) -> ApiResult<Account> {
    let now = state.clock.now();
    state
        .db
        .write(move |w| {
            let email = email.as_str();
            if !account::insert_in(w, &id, email, display_name.as_deref(), now, false)? {
                return Err(ApiError::new(
                    ErrorCode::UserAlreadyExists,
                    "A user with this id or e-mail address already exists.",
                ));
            }
            audit::record_in(
                w,
                &origin,
                now,
                "user.created",
                Some(&id),
                json!({ "email": email }),
            )?;
            accounts::by_id_in(w, &id)?.ok_or_else(user_not_found)
        })
        .await
}

/// Every user, newest first.
#[utoipa::path(get, path = "/v1/users", tag = "users", operation_id = "listUsers",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("query" = Option<String>, Query)),
    responses((status = 200, description = "A page of users.", body = Page<UserView>)))]
pub async fn list(
    State(state): State<IdentityState>,
    params: ListParams,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(Json(accounts::page(&state.db, &params).await?))
}

/// One user (404001 when unknown).
#[utoipa::path(get, path = "/v1/users/{userId}", tag = "users", operation_id = "getUser", params(("userId" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The user.", body = UserView)))]
pub async fn get(TargetUser(user): TargetUser) -> Json<UserView> {
    Json(UserView::from(&user))
}

/// A change to a user: each member present is changed, an absent one is left as it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"email": "ada.lovelace@example.com", "displayName": "Ada Lovelace"}))]
pub struct UpdateUser {
    /// The new e-mail address (trimmed and lower-cased before it is compared); an address
    /// another account uses answers 400006. Not proven until the user signs in with it, and the
    /// old address is told. Changing it needs an elevated session; an access token with
    /// `users:write` may change it. An absent member leaves the address; it cannot be `null`.
    #[serde(default, with = "crate::api::extract::double_option")]
    #[schema(value_type = String, format = "email")]
    email: Option<Option<String>>,
    /// The new display name (1 to 100 characters, no control or bidirectional-formatting
    /// characters); `null` or an empty string clears it, an absent member leaves it.
    #[serde(default, with = "crate::api::extract::double_option")]
    #[schema(value_type = Option<String>)]
    display_name: Option<Option<String>>,
}

/// Changes a user's e-mail address and/or display name.
///
/// Changing the address needs an elevated session (403006); an access token with
/// `users:write` needs no elevation. Whether a request changes the address depends on its body
/// (an `email` other than the current one), so this is decided once the body parses, and
/// before its values are checked: a body that does not parse answers 400 first, and an
/// address change from a session that is not elevated answers 403006 even when the address is
/// malformed. A display-name change alone never needs elevation. The old address is mailed a
/// notice.
#[utoipa::path(patch, path = "/v1/users/{userId}", tag = "users", operation_id = "updateUser",
    params(("userId" = String, Path, description = "The user to change.")),
    request_body = UpdateUser,
    responses((status = 200, body = UserView, description = "The user after the change.")))]
pub async fn update(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    TargetUser(user): TargetUser,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    // Step 7 for the one member that needs it, before any value is checked (step 8): an
    // address that is not the current one (a malformed one never is). Access tokens pass.
    let changes_email = body.email.as_ref().is_some_and(|email| {
        email
            .as_deref()
            .and_then(Email::parse)
            .map(|e| e.as_str().to_string())
            != Some(user.email.clone())
    });
    if changes_email && caller.is_session() {
        super::elevation::require(&state, &caller).await?;
    }
    let mut errors = Vec::new();
    let email = match body.email {
        None => None,
        Some(text) => {
            let email = text.as_deref().and_then(Email::parse);
            if email.is_none() {
                errors.push(FieldError {
                    field: "email".into(),
                    message: "is not a valid e-mail address".into(),
                });
            }
            email
        }
    };
    let display_name = match body.display_name.map(super::me::display_name) {
        None => None,
        Some(Ok(name)) => Some(name),
        Some(Err(_)) => {
            errors.push(FieldError {
                field: "displayName".into(),
                message: crate::names::RULE.into(),
            });
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validations(errors));
    }
    let change = Edit {
        email,
        display_name,
    };
    let account = edit_user(&state, origin, user.id, change).await?;
    Ok(Json(UserView::from(&account)))
}

/// An administrator's change to a user; `None` keeps a field.
struct Edit {
    email: Option<Email>,
    display_name: Option<Option<String>>,
}

fn email_taken() -> ApiError {
    ApiError::new(
        ErrorCode::UserAlreadyExists,
        "Another user has this e-mail address.",
    )
}

/// One unit of work: the changes (400006 when another account has the address), one
/// `user.updated` audit event naming the changed fields (and the addresses, from and to), and
/// the notice to the old address; the user after it. The notice is sent after the commit.
/// The user's row lock comes first and the account is read under it, so an erasure that ran
/// meanwhile answers 404001 (not an address "taken" by a row that is gone).
async fn edit_user(
    state: &IdentityState,
    origin: Origin,
    user_id: String,
    edit: Edit,
) -> ApiResult<Account> {
    let now = state.clock.now();
    let mailer = state.mailer.clone();
    let (account, notice) = state
        .db
        .write(move |w| {
            // Serialises this change with an erasure (and e-mail changes) of the user.
            accounts::lock_row_in(w, &user_id)?;
            let current = accounts::by_id_in(w, &user_id)?.ok_or_else(user_not_found)?;
            let mut details = serde_json::Map::new();
            let mut fields = Vec::new();
            let mut notice = None;
            if let Some(email) = edit.email.filter(|e| e.as_str() != current.email) {
                match accounts::set_email_in(w, &user_id, email.as_str()) {
                    Ok(true) => {}
                    Ok(false) => return Err(email_taken()),
                    Err(e) if e.is_unique_violation() => return Err(email_taken()),
                    Err(e) => return Err(e.into()),
                }
                fields.push("email");
                details.insert("from".into(), json!(current.email));
                details.insert("to".into(), json!(email.as_str()));
                let what = format!(
                    "An administrator changed the e-mail address of your account to {}.",
                    email.as_str()
                );
                let mail = templates::security_notice(&current.email, &what, "email-changed");
                let queued = Notice::new(&mailer, mail);
                queued.queue_in(w, now)?;
                notice = Some(queued);
            }
            if let Some(name) = edit.display_name.filter(|n| *n != current.display_name) {
                accounts::set_display_name_in(w, &user_id, name.as_deref())?;
                fields.push("displayName");
            }
            if !fields.is_empty() {
                details.insert("fields".into(), json!(fields));
                audit::record_in(
                    w,
                    &origin,
                    now,
                    "user.updated",
                    Some(&user_id),
                    serde_json::Value::Object(details),
                )?;
            }
            let account = accounts::by_id_in(w, &user_id)?.ok_or_else(user_not_found)?;
            Ok((account, notice))
        })
        .await?;
    if let Some(notice) = notice {
        notice.send(now).await;
    }
    Ok(account)
}

/// Why a user is banned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Chargeback fraud on three organizations."}))]
pub struct Ban {
    /// Why: 1 to 500 characters, kept in the audit log.
    reason: String,
}

/// A change of a user's standing by a platform administrator.
enum Change {
    Ban {
        reason: String,
    },
    Unban,
    Suspend {
        until: Timestamp,
        reason: String,
    },
    Unsuspend,
    /// Every credential that exists now answers 403002 for good.
    Lock,
}

impl Change {
    fn action(&self) -> &'static str {
        match self {
            Change::Ban { .. } => "user.banned",
            Change::Unban => "user.unbanned",
            Change::Suspend { .. } => "user.suspended",
            Change::Unsuspend => "user.unsuspended",
            Change::Lock => "user.locked",
        }
    }

    fn details(&self) -> serde_json::Value {
        match self {
            Change::Ban { reason } => json!({ "reason": reason }),
            Change::Suspend { until, reason } => json!({ "until": until, "reason": reason }),
            Change::Unban | Change::Unsuspend | Change::Lock => json!({}),
        }
    }

    fn apply_in(&self, w: &mut Unit<'_>, user_id: &str, now: Timestamp) -> Result<(), UnitError> {
        match self {
            Change::Ban { reason } => accounts::ban_in(w, user_id, now, reason),
            Change::Unban => accounts::unban_in(w, user_id),
            Change::Suspend { until, reason } => accounts::suspend_in(w, user_id, *until, reason),
            Change::Unsuspend => accounts::unsuspend_in(w, user_id),
            Change::Lock => accounts::lock_in(w, user_id, now),
        }
    }
}

/// Applies one change to a user and audits it, as one unit of work; the user after it
/// (404001 when an erasure removed the user meanwhile; the unit then records nothing).
async fn change(
    state: &IdentityState,
    origin: &Origin,
    user_id: &str,
    change: Change,
) -> ApiResult<Account> {
    let now = state.clock.now();
    let (origin, user_id) = (origin.clone(), user_id.to_string());
    state
        .db
        .write(move |w| {
            change.apply_in(w, &user_id, now)?;
            let (action, details) = (change.action(), change.details());
            audit::record_in(w, &origin, now, action, Some(&user_id), details)?;
            accounts::by_id_in(w, &user_id)?.ok_or_else(user_not_found)
        })
        .await
}

/// Bans a user: sign-in and every token answer 403003.
#[utoipa::path(post, path = "/v1/users/{userId}/ban", tag = "users", operation_id = "banUser", params(("userId" = String, Path, description = "The user's id.")), request_body = Ban,
    responses((status = 200, description = "The banned user.", body = UserView)))]
pub async fn ban(
    State(state): State<IdentityState>,
    origin: Origin,
    TargetUser(user): TargetUser,
    ApiJson(body): ApiJson<Ban>,
) -> ApiResult<Json<UserView>> {
    let reason = required_reason(&body.reason)?;
    let account = change(&state, &origin, &user.id, Change::Ban { reason }).await?;
    Ok(Json(UserView::from(&account)))
}

/// Lifts a ban.
#[utoipa::path(delete, path = "/v1/users/{userId}/ban", tag = "users", operation_id = "unbanUser", params(("userId" = String, Path, description = "The user's id.")),
    responses((status = 204, description = "The ban is lifted (or there was none).")))]
pub async fn unban(
    State(state): State<IdentityState>,
    origin: Origin,
    TargetUser(user): TargetUser,
) -> ApiResult<StatusCode> {
    change(&state, &origin, &user.id, Change::Unban).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Until when, and why, a user is suspended.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"until": "2026-12-01T00:00:00Z", "reason": "Unpaid invoices under review."}))]
pub struct Suspend {
    /// When the suspension ends: in the future.
    until: Timestamp,
    /// Why: 1 to 500 characters, kept in the audit log.
    reason: String,
}

fn required_reason(reason: &str) -> ApiResult<String> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::validation(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    Ok(reason.to_string())
}

/// Suspends a user until a time: every token answers 403004 until then.
#[utoipa::path(post, path = "/v1/users/{userId}/suspend", tag = "users", operation_id = "suspendUser", params(("userId" = String, Path, description = "The user's id.")), request_body = Suspend,
    responses((status = 200, description = "The suspended user.", body = UserView)))]
pub async fn suspend(
    State(state): State<IdentityState>,
    origin: Origin,
    TargetUser(user): TargetUser,
    ApiJson(body): ApiJson<Suspend>,
) -> ApiResult<Json<UserView>> {
    if body.until <= state.clock.now() {
        return Err(ApiError::validation("until", "must be in the future"));
    }
    let reason = required_reason(&body.reason)?;
    let suspension = Change::Suspend {
        until: body.until,
        reason,
    };
    let account = change(&state, &origin, &user.id, suspension).await?;
    Ok(Json(UserView::from(&account)))
}

/// Lifts a suspension.
#[utoipa::path(delete, path = "/v1/users/{userId}/suspend", tag = "users", operation_id = "unsuspendUser", params(("userId" = String, Path, description = "The user's id.")),
    responses((status = 204, description = "The suspension is lifted (or there was none).")))]
pub async fn unsuspend(
    State(state): State<IdentityState>,
    origin: Origin,
    TargetUser(user): TargetUser,
) -> ApiResult<StatusCode> {
    change(&state, &origin, &user.id, Change::Unsuspend).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Locks a user: every session and access token that exists now answers 403002 for good;
/// sessions the user starts later are unaffected.
#[utoipa::path(post, path = "/v1/users/{userId}/lock", tag = "users", operation_id = "lockUser", params(("userId" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The locked user.", body = UserView)))]
pub async fn lock(
    State(state): State<IdentityState>,
    origin: Origin,
    TargetUser(user): TargetUser,
) -> ApiResult<Json<UserView>> {
    let account = change(&state, &origin, &user.id, Change::Lock).await?;
    Ok(Json(UserView::from(&account)))
}
