//! The signed-in user (4.6): profile, e-mail change, terms acceptance, passkey requirement.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::IdentityState;
use crate::mail::templates;

use super::account::{self, Account, MeView};
use super::auth::Caller;
use super::codes::{self, NewChallenge, Purpose};
use super::notices::Notice;
use super::signin::{answer, check_code_in};
use super::store::{accounts, codes as code_store};
use super::users::Email;

/// The view read from the database (after a change made in this request, which has not yet
/// moved the cache epoch).
async fn fresh(state: &IdentityState, user_id: &str) -> ApiResult<Json<MeView>> {
    let account = account::get(&state.db, user_id).await?;
    Ok(Json(account::me_view(&account)))
}

/// The caller.
#[utoipa::path(get, path = "/v1/me", tag = "me", operation_id = "getMe",
    responses((status = 200, description = "The signed-in user.", body = MeView)))]
pub async fn get(State(state): State<IdentityState>, caller: Caller) -> ApiResult<Json<MeView>> {
    if let Some(view) = state.me.get(&caller.user_id, &state.epoch) {
        return Ok(Json(view));
    }
    let read_at = state.epoch.current();
    let account = account::get(&state.db, &caller.user_id).await?;
    let view = account::me_view(&account);
    state
        .me
        .put(&caller.user_id, view.clone(), read_at, &state.epoch);
    Ok(Json(view))
}

/// Changes to the signed-in user's profile.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"displayName": "Ada Lovelace"}))]
pub struct UpdateMe {
    /// The name shown to other members: 1 to 100 characters without control characters.
    /// `null` or blank clears it; an absent member leaves it.
    #[serde(default, with = "crate::api::extract::double_option")]
    #[schema(value_type = Option<String>)]
    display_name: Option<Option<String>>,
}

/// A display name (see `crate::names`); absent or blank clears it.
pub fn display_name(text: Option<String>) -> ApiResult<Option<String>> {
    match text.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(name) => crate::names::parse(name)
            .map(Some)
            .ok_or_else(|| ApiError::validation("displayName", crate::names::RULE)),
    }
}

/// Changes the display name (`null` or empty clears it).
#[utoipa::path(patch, path = "/v1/me", tag = "me", operation_id = "updateMe", request_body = UpdateMe,
    responses((status = 200, description = "The user after the change.", body = MeView)))]
pub async fn update(
    State(state): State<IdentityState>,
    caller: Caller,
    ApiJson(body): ApiJson<UpdateMe>,
) -> ApiResult<Json<MeView>> {
    let Some(name) = body.display_name else {
        return fresh(&state, &caller.user_id).await;
    };
    let name = display_name(name)?;
    let account = set_display_name(&state, &caller.user_id, name).await?;
    Ok(Json(account::me_view(&account)))
}

/// Sets (or clears) the user's display name; the account after it, read in the same unit.
async fn set_display_name(
    state: &IdentityState,
    user_id: &str,
    name: Option<String>,
) -> ApiResult<Account> {
    let user_id = user_id.to_string();
    state
        .db
        .write(move |w| {
            accounts::set_display_name_in(w, &user_id, name.as_deref())?;
            accounts::by_id_in(w, &user_id)?.ok_or_else(|| ApiError::not_found("The user"))
        })
        .await
}

/// The address to change to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"newEmail": "ada@lovelace.example"}))]
pub struct EmailStart {
    /// The address to change to; malformed, unchanged or taken answers 400009.
    new_email: String,
}

/// A mailed code confirming a new e-mail address.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailChallenge {
    /// The challenge to confirm with `POST /v1/me/email/verify` and the code mailed to the new
    /// address.
    challenge_id: String,
}

fn email_update_failed(why: &str) -> ApiError {
    ApiError::new(ErrorCode::EmailUpdateFailed, why.to_string())
}

/// Mails a code to the new address (elevated). Malformed, unchanged or taken: 400009.
#[utoipa::path(post, path = "/v1/me/email/start", tag = "me", operation_id = "startEmailChange", request_body = EmailStart,
    responses((status = 202, description = "A code is on its way to the new address.", body = EmailChallenge)))]
pub async fn email_start(
    State(state): State<IdentityState>,
    caller: Caller,
    ApiJson(body): ApiJson<EmailStart>,
) -> ApiResult<(StatusCode, Json<EmailChallenge>)> {
    let new = Email::parse(&body.new_email)
        .ok_or_else(|| email_update_failed("The new e-mail address is not valid."))?;
    if new.as_str() == caller.email {
        return Err(email_update_failed(
            "The new e-mail address is the current one.",
        ));
    }
    if accounts::by_email(&state.db, new.as_str()).await?.is_some() {
        return Err(email_update_failed(
            "The new e-mail address cannot be used.",
        ));
    }
    let now = state.clock.now();
    let code = codes::new_numeric_code();
    let mail = templates::email_change_code(new.as_str(), &code, state.config.code_ttl_secs);
    let challenge = NewChallenge {
        purpose: Purpose::EmailChange,
        email: new.as_str().to_string(),
        user_id: Some(caller.user_id.clone()),
        session_id: Some(caller.session_id()?.to_string()),
        code,
    };
    let (challenge_id, _) = codes::send(&state, challenge, mail, now).await?;
    Ok((StatusCode::ACCEPTED, Json(EmailChallenge { challenge_id })))
}

/// The code confirming a new address.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"challengeId": "chl_201cyfw6vzskdenc8sp3804gva", "code": "482913"}))]
pub struct EmailVerify {
    /// The `challengeId` of `POST /v1/me/email/start`.
    challenge_id: String,
    /// The 6-digit code mailed to the new address.
    code: String,
}

/// Confirms the new address with the mailed code; the old address is told.
#[utoipa::path(post, path = "/v1/me/email/verify", tag = "me", operation_id = "verifyEmailChange", request_body = EmailVerify,
    responses((status = 200, description = "The user with the new address.", body = MeView)))]
pub async fn email_verify(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<EmailVerify>,
) -> ApiResult<Json<MeView>> {
    let account = change_email(&state, &caller, origin, body.challenge_id, body.code).await?;
    Ok(Json(account::me_view(&account)))
}

/// One unit of work: the code check (a wrong code's count commits), the change of address, its
/// audit event and the notice to the old address; the account after it.
async fn change_email(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    challenge_id: String,
    code: String,
) -> ApiResult<Account> {
    let now = state.clock.now();
    let (key, mailer) = (state.key.clone(), state.mailer.clone());
    let (user_id, old_email) = (caller.user_id.clone(), caller.email.clone());
    let taken = || email_update_failed("The new e-mail address cannot be used.");
    let (account, notice) = state
        .db
        .write(move |w| {
            let purpose = Purpose::EmailChange;
            let Some(challenge) = code_store::challenge_in(w, &challenge_id, purpose)?
                .filter(|c| c.user_id.as_deref() == Some(user_id.as_str()))
            else {
                return Ok(Err(codes::otp_failure()));
            };
            let verdict = check_code_in(w, &key, &origin, &challenge, &code, purpose, now)?;
            if let Err(e) = answer(verdict, codes::otp_failure(), now) {
                return Ok(Err(e));
            }
            match accounts::change_email_in(w, &user_id, &challenge.email, now) {
                Ok(true) => {}
                // The used code stands: the address was taken before this unit.
                Ok(false) => return Ok(Err(taken())),
                // Taken by a unit racing this one: this unit ends here.
                Err(e) if e.is_unique_violation() => return Err(taken()),
                Err(e) => return Err(e.into()),
            }
            audit::record_in(
                w,
                &origin,
                now,
                "user.email_changed",
                Some(&user_id),
                json!({ "from": old_email, "to": challenge.email }),
            )?;
            let what = format!(
                "The e-mail address of your account was changed to {}.",
                challenge.email
            );
            let mail = templates::security_notice(&old_email, &what, "email-changed");
            let notice = Notice::new(&mailer, mail);
            notice.queue_in(w, now)?;
            let account =
                accounts::by_id_in(w, &user_id)?.ok_or_else(|| ApiError::not_found("The user"))?;
            Ok(Ok((account, notice)))
        })
        .await??;
    notice.send(now).await;
    Ok(account)
}

/// Whether, and by whom, the user must sign in with a passkey.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRequirement {
    /// Whether sign-in needs a passkey.
    passkeys_required: bool,
    /// Who requires it: `"self"` (the user's own setting) and the ids of organizations whose
    /// policy does. Only in the answer of `GET`.
    #[serde(skip_serializing_if = "Option::is_none")]
    required_by: Option<Vec<String>>,
}

/// Who requires the caller to sign in with a passkey.
#[utoipa::path(get, path = "/v1/me/security/require-passkeys", tag = "me", operation_id = "getMyPasskeyRequirement",
    responses((status = 200, description = "Whether and by whom passkeys are required.", body = PasskeyRequirement)))]
pub async fn requirement(
    State(state): State<IdentityState>,
    caller: Caller,
) -> ApiResult<Json<PasskeyRequirement>> {
    let account = account::get(&state.db, &caller.user_id).await?;
    let by = super::requirement::required_by(&state.db, &account).await?;
    Ok(Json(PasskeyRequirement {
        passkeys_required: !by.is_empty(),
        required_by: Some(by),
    }))
}

/// Requires a passkey after every e-mail code from the next sign-in on (elevated).
#[utoipa::path(post, path = "/v1/me/security/require-passkeys", tag = "me", operation_id = "requireMyPasskeys",
    responses((status = 200, description = "Passkeys are now required.", body = PasskeyRequirement)))]
pub async fn require_passkeys(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
) -> ApiResult<Json<PasskeyRequirement>> {
    require_own_passkeys(&state, &caller.user_id, origin).await?;
    Ok(Json(PasskeyRequirement {
        passkeys_required: true,
        required_by: None,
    }))
}

/// Turns the user's own requirement on, audited, as one unit of work: 400 without a passkey,
/// 409 when passkeys are required already (by the user or an organization).
async fn require_own_passkeys(
    state: &IdentityState,
    user_id: &str,
    origin: Origin,
) -> ApiResult<()> {
    let now = state.clock.now();
    let user_id = user_id.to_string();
    state
        .db
        .write(move |w| {
            let account =
                accounts::by_id_in(w, &user_id)?.ok_or_else(|| ApiError::not_found("The user"))?;
            if !super::sessions::has_passkey_in(w, &account.id)? {
                return Err(ApiError::new(
                    ErrorCode::NoPasskeysRegistered,
                    "Register a passkey before requiring passkeys.",
                ));
            }
            if super::requirement::required(&account)
                || !accounts::require_passkeys_in(w, &user_id)?
            {
                return Err(ApiError::new(
                    ErrorCode::PasskeysAlreadyRequired,
                    "Passkeys are already required for this account.",
                ));
            }
            audit::record_in(
                w,
                &origin,
                now,
                "user.passkeys_required",
                Some(&user_id),
                json!({}),
            )?;
            Ok(())
        })
        .await
}

/// Removes the caller's own requirement (organization policies stay).
#[utoipa::path(delete, path = "/v1/me/security/require-passkeys", tag = "me", operation_id = "unrequireMyPasskeys",
    responses((status = 204, description = "The user's own requirement is off; organization policies still apply.")))]
pub async fn unrequire_passkeys(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
) -> ApiResult<StatusCode> {
    lift_own_requirement(&state, &caller.user_id, origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns the user's own requirement off, audited, as one unit of work.
async fn lift_own_requirement(
    state: &IdentityState,
    user_id: &str,
    origin: Origin,
) -> ApiResult<()> {
    let now = state.clock.now();
    let user_id = user_id.to_string();
    state
        .db
        .write(move |w| {
            accounts::unrequire_passkeys_in(w, &user_id)?;
            audit::record_in(
                w,
                &origin,
                now,
                "user.passkeys_not_required",
                Some(&user_id),
                json!({}),
            )?;
            Ok(())
        })
        .await
}
