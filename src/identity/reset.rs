//! Passkey reset (4.5): account recovery by a mailed code. The start does the same work for
//! known and unknown addresses (4.1); the finish removes every passkey, ends every other
//! session, locks what existed (4.3), starts the recovery hold (4.5) and returns a session.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::ApiJson;
use crate::mail::templates;

use super::account;
use super::codes::{self, NewChallenge, Purpose, Verdict};
use super::sessions::{self, AuthMethod, SessionGrant};
use super::signin::{answer, parse_email, verify_code};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetStart {
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    accepted: bool,
}

/// Mails a passkey reset code when the account exists, a notice when none does; the answer,
/// the writes and so the time are the same either way (4.1).
#[utoipa::path(post, path = "/v1/auth/passkey-reset/start", tag = "sign-in", request_body = ResetStart,
    responses((status = 202, body = Accepted)))]
pub async fn reset_start(
    State(state): State<AppState>,
    origin: Origin,
    ApiJson(body): ApiJson<ResetStart>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let email = parse_email(&body.email)?;
    let now = state.clock.now();
    super::limits::count_start(&state, &origin, now).await?;
    let account = account::find_by_email(&state.db, email.as_str()).await?;
    // Over the quota nothing is mailed, and the answer does not say so. Otherwise both paths
    // count the send, store a challenge, mail and audit: an unknown address's challenge has
    // a code nobody is told.
    if codes::reserve_send(&state.db, email.as_str(), Purpose::PasskeyReset, now)
        .await
        .is_ok()
    {
        let code = codes::new_reset_code();
        let new = NewChallenge {
            purpose: Purpose::PasskeyReset,
            email: email.as_str(),
            user_id: account.as_ref().map(|a| a.id.as_str()),
            session_id: None,
            code: &code,
        };
        let mail = match &account {
            Some(_) => {
                templates::passkey_reset_code(email.as_str(), &code, state.config.code_ttl_secs)
            }
            None => templates::passkey_reset_no_account(email.as_str()),
        };
        codes::issue(&state, new, mail, now).await?;
        // No address of a non-user is kept in the audit log.
        audit::record(
            state.db.writer(),
            &origin,
            now,
            "passkey_reset.requested",
            account.as_ref().map(|a| a.id.as_str()),
            json!({}),
        )
        .await?;
    }
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: true })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetFinish {
    email: String,
    code: String,
}

fn wrong_reset_code() -> ApiError {
    ApiError::new(
        ErrorCode::WrongPasskeyResetCode,
        "The passkey reset code is wrong or expired.",
    )
}

/// Removes every passkey, ends every other session, locks access tokens (403002), mails the
/// user and returns a session (restricted when passkeys are required).
#[utoipa::path(post, path = "/v1/auth/passkey-reset/finish", tag = "sign-in", request_body = ResetFinish,
    responses((status = 200, body = SessionGrant)))]
pub async fn reset_finish(
    State(state): State<AppState>,
    origin: Origin,
    ApiJson(body): ApiJson<ResetFinish>,
) -> ApiResult<Response> {
    let email = parse_email(&body.email)?;
    let now = state.clock.now();
    let challenge =
        codes::latest_challenge(&state.db, email.as_str(), Purpose::PasskeyReset, now).await?;
    let code = body.code.trim().to_ascii_uppercase();
    match &challenge {
        Some(challenge) => {
            verify_code(
                &state,
                &origin,
                challenge,
                &code,
                Purpose::PasskeyReset,
                wrong_reset_code(),
            )
            .await?
        }
        None => {
            // No live code for this address: the same lockout rules and the same answer.
            let address = email.as_str().to_string();
            let verdict = state
                .db
                .write(move |w| {
                    let purpose = Purpose::PasskeyReset;
                    if let Some(until) = codes::reserve_attempt_in(w, &address, purpose, now)? {
                        return Ok(Verdict::LockedOut(until));
                    }
                    codes::record_failure_in(w, &address, purpose, now)?;
                    Ok(Verdict::Wrong)
                })
                .await?;
            answer(verdict, wrong_reset_code(), now)?;
            return Err(wrong_reset_code());
        }
    }
    let account = account::find_by_email(&state.db, email.as_str())
        .await?
        .ok_or_else(wrong_reset_code)?;
    account.check_standing(now)?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
        .bind(&account.id)
        .execute(&mut *tx)
        .await?;
    sessions::revoke_all_but(&mut tx, &account.id, None, now).await?;
    let held_until = now.plus_seconds(state.config.recovery_hold_secs);
    let held = super::recovery::start(&mut tx, &account.id, now).await?;
    // Credentials issued before this instant answer 403002 for good.
    sqlx::query(crate::identity::account::LOCK_USER)
        .bind(&account.id)
        .bind(now.micros())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "passkey_reset.completed",
        Some(&account.id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    let notice =
        "Your passkeys were reset: every passkey was removed and your other sessions were ended.";
    state
        .security_notice(now, &account.email, notice, "passkey-reset")
        .await;
    super::recovery::notify(&state, &account.email, &held, held_until, now).await;
    let account = account::get(&state.db, &account.id).await?;
    let restricted = super::requirement::required(&account);
    Ok(sessions::start(
        &state,
        &origin,
        &account,
        AuthMethod::PasskeyReset,
        restricted,
    )
    .await?
    .into_response())
}
