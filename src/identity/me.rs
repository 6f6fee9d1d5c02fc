//! The signed-in user (4.6): profile, e-mail change, terms acceptance, passkey requirement.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::ApiJson;
use crate::mail::templates;

use super::account::{self, MeView};
use super::auth::Caller;
use super::codes::{self, NewChallenge, Purpose};
use super::sessions;
use super::users::Email;

/// The view read from the database (after a change made in this request, which has not yet
/// moved the cache epoch).
async fn fresh(state: &AppState, user_id: &str) -> ApiResult<Json<MeView>> {
    let account = account::get(&state.db, user_id).await?;
    Ok(Json(account::me_view(&account)))
}

/// The caller.
#[utoipa::path(get, path = "/v1/me", tag = "me", responses((status = 200, body = MeView)))]
pub async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MeView>> {
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateMe {
    /// `null` clears it; an absent member leaves it.
    #[serde(default, with = "crate::http::extract::double_option")]
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
#[utoipa::path(patch, path = "/v1/me", tag = "me", request_body = UpdateMe, responses((status = 200, body = MeView)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UpdateMe>,
) -> ApiResult<Json<MeView>> {
    let Some(name) = body.display_name else {
        return fresh(&state, &caller.user_id).await;
    };
    let name = display_name(name)?;
    sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
        .bind(&caller.user_id)
        .bind(name)
        .execute(state.db.writer())
        .await?;
    fresh(&state, &caller.user_id).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmailStart {
    new_email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailChallenge {
    challenge_id: String,
}

fn email_update_failed(why: &str) -> ApiError {
    ApiError::new(ErrorCode::EmailUpdateFailed, why.to_string())
}

/// Mails a code to the new address (elevated). Malformed, unchanged or taken: 400009.
#[utoipa::path(post, path = "/v1/me/email/start", tag = "me", request_body = EmailStart, responses((status = 202, body = EmailChallenge)))]
pub async fn email_start(
    State(state): State<AppState>,
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
    if account::find_by_email(&state.db, new.as_str())
        .await?
        .is_some()
    {
        return Err(email_update_failed(
            "The new e-mail address cannot be used.",
        ));
    }
    let now = state.clock.now();
    codes::reserve_send(&state.db, new.as_str(), Purpose::EmailChange, now).await?;
    let code = codes::new_numeric_code();
    let session_id = caller.session_id()?.to_string();
    let challenge = NewChallenge {
        purpose: Purpose::EmailChange,
        email: new.as_str(),
        user_id: Some(&caller.user_id),
        session_id: Some(&session_id),
        code: &code,
    };
    let mail = templates::email_change_code(new.as_str(), &code, state.config.code_ttl_secs);
    let (challenge_id, _) = codes::issue(&state, challenge, mail, now).await?;
    Ok((StatusCode::ACCEPTED, Json(EmailChallenge { challenge_id })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmailVerify {
    challenge_id: String,
    code: String,
}

/// Confirms the new address with the mailed code; the old address is told.
#[utoipa::path(post, path = "/v1/me/email/verify", tag = "me", request_body = EmailVerify, responses((status = 200, body = MeView)))]
pub async fn email_verify(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<EmailVerify>,
) -> ApiResult<Json<MeView>> {
    let challenge = codes::find_challenge(&state.db, &body.challenge_id, Purpose::EmailChange)
        .await?
        .filter(|c| c.user_id.as_deref() == Some(caller.user_id.as_str()))
        .ok_or_else(codes::otp_failure)?;
    super::signin::verify_code(
        &state,
        &origin,
        &challenge,
        &body.code,
        Purpose::EmailChange,
        codes::otp_failure(),
    )
    .await?;
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let changed = sqlx::query("UPDATE users SET email = $2, email_verified_at = $3 WHERE id = $1")
        .bind(&caller.user_id)
        .bind(&challenge.email)
        .bind(now.micros())
        .execute(&mut *tx)
        .await;
    match changed {
        Err(e) if crate::db::is_unique_violation(&e) => {
            return Err(email_update_failed(
                "The new e-mail address cannot be used.",
            ));
        }
        other => other?,
    };
    audit::record(
        &mut *tx,
        &origin,
        now,
        "user.email_changed",
        Some(&caller.user_id),
        json!({ "from": caller.email, "to": challenge.email }),
    )
    .await?;
    tx.commit().await?;
    let notice = format!(
        "The e-mail address of your account was changed to {}.",
        challenge.email
    );
    state
        .security_notice(now, &caller.email, &notice, "email-changed")
        .await;
    fresh(&state, &caller.user_id).await
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRequirement {
    passkeys_required: bool,
    /// `"self"` and/or organization ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    required_by: Option<Vec<String>>,
}

/// Who requires the caller to sign in with a passkey.
#[utoipa::path(get, path = "/v1/me/security/require-passkeys", tag = "me", responses((status = 200, body = PasskeyRequirement)))]
pub async fn requirement(
    State(state): State<AppState>,
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
#[utoipa::path(post, path = "/v1/me/security/require-passkeys", tag = "me", responses((status = 200, body = PasskeyRequirement)))]
pub async fn require_passkeys(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
) -> ApiResult<Json<PasskeyRequirement>> {
    let account = account::get(&state.db, &caller.user_id).await?;
    if !sessions::has_passkey(&state.db, &account.id).await? {
        return Err(ApiError::new(
            ErrorCode::NoPasskeysRegistered,
            "Register a passkey before requiring passkeys.",
        ));
    }
    if super::requirement::required(&account) {
        return Err(ApiError::new(
            ErrorCode::PasskeysAlreadyRequired,
            "Passkeys are already required for this account.",
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE users SET passkeys_required = 1 WHERE id = $1 AND passkeys_required = 0",
    )
    .bind(&account.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::new(
            ErrorCode::PasskeysAlreadyRequired,
            "Passkeys are already required for this account.",
        ));
    }
    audit::record(
        &mut *tx,
        &origin,
        now,
        "user.passkeys_required",
        Some(&account.id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(PasskeyRequirement {
        passkeys_required: true,
        required_by: None,
    }))
}

/// Removes the caller's own requirement (organization policies stay).
#[utoipa::path(delete, path = "/v1/me/security/require-passkeys", tag = "me", responses((status = 204)))]
pub async fn unrequire_passkeys(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE users SET passkeys_required = 0 WHERE id = $1")
        .bind(&caller.user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "user.passkeys_not_required",
        Some(&caller.user_id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
