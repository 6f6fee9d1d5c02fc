//! Passkey reset (4.5): account recovery by a mailed code. The start does the same work for
//! known and unknown addresses (4.1); the finish removes every passkey, ends every other
//! session, locks what existed (4.3), starts the recovery hold (4.5) and returns a session.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::IdentityState;
use crate::mail::templates;

use super::codes::{self, NewChallenge, Purpose};
use super::notices::Notice;
use super::sessions::{self, AuthMethod, SessionGrant};
use super::signin::{answer, check_code_in, parse_email};
use super::store::{accounts, codes as code_store, passkeys, sessions as session_store};
use super::users::Email;

/// The account whose passkeys to reset.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct ResetStart {
    /// The account's address; trimmed and lower-cased.
    email: String,
}

/// A request that was taken; what follows happens by mail.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Always `true`: the request was taken, whether or not an account has this address.
    accepted: bool,
}

/// Mails a passkey reset code when the account exists, a notice when none does; the answer,
/// the writes and so the time are the same either way, so the answer does not tell whether an
/// account exists.
#[utoipa::path(post, path = "/v1/auth/passkey-reset/start", tag = "sign-in", operation_id = "startPasskeyReset",
    request_body = ResetStart,
    responses((status = 202, description = "Taken: a code (or, for an unknown address, a notice) is on its way.", body = Accepted)))]
pub async fn reset_start(
    State(state): State<IdentityState>,
    origin: Origin,
    ApiJson(body): ApiJson<ResetStart>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let email = parse_email(&body.email)?;
    request(&state, origin, email).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: true })))
}

/// One unit of work: the start limit (403005), the account, the send quota, the challenge, the
/// queued mail and the audit event; the mail is sent after the commit.
async fn request(state: &IdentityState, origin: Origin, email: Email) -> ApiResult<()> {
    let now = state.clock.now();
    let (key, mailer) = (state.key.clone(), state.mailer.clone());
    let (limit, ttl) = (
        state.config.auth_starts_per_minute,
        state.config.code_ttl_secs,
    );
    let sent = state
        .db
        .write(move |w| {
            if let Some(until) = super::limits::count_start_in(w, &origin, limit, now)? {
                return Ok(Err(codes::locked_out(until, now)));
            }
            let email = email.as_str();
            let account = accounts::by_email_in(w, email)?;
            let code = codes::new_reset_code();
            let mail = match &account {
                Some(_) => templates::passkey_reset_code(email, &code, ttl),
                None => templates::passkey_reset_no_account(email),
            };
            let user_id = account.map(|a| a.id);
            // An unknown address's challenge has a code nobody is told.
            let new = NewChallenge {
                purpose: Purpose::PasskeyReset,
                email: email.to_string(),
                user_id: user_id.clone(),
                session_id: None,
                code,
            };
            // Over the quota nothing is mailed, and the answer does not say so.
            if codes::send_in(w, &key, &mailer, &new, &mail, now, ttl)?.is_err() {
                return Ok(Ok(None));
            }
            // No address of a non-user is kept in the audit log.
            audit::record_in(
                w,
                &origin,
                now,
                "passkey_reset.requested",
                user_id.as_deref(),
                json!({}),
            )?;
            Ok(Ok(Some(mail)))
        })
        .await??;
    if let Some(mail) = sent {
        state
            .mailer
            .after_commit(now, mail)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(())
}

/// The mailed reset code, to reset passkeys with.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "code": "K7QM4ZPX"}))]
pub struct ResetFinish {
    /// The account's address, as given to `POST /v1/auth/passkey-reset/start`.
    email: String,
    /// The 8-character code from the mail; case and surrounding spaces do not matter.
    code: String,
}

fn wrong_reset_code() -> ApiError {
    ApiError::new(
        ErrorCode::WrongPasskeyResetCode,
        "The passkey reset code is wrong or expired.",
    )
}

/// What a passkey reset's unit of work answers with, and mails after it commits.
struct Reset {
    grant: SessionGrant,
    notices: Vec<Notice>,
}

/// Removes every passkey, ends every other session, locks access tokens (they answer 403002),
/// mails the user and returns a session: restricted to registering a passkey when passkeys are
/// required. For a while afterwards (the recovery hold), administrator routes and
/// organizations that require passkeys answer 403005.
#[utoipa::path(post, path = "/v1/auth/passkey-reset/finish", tag = "sign-in", operation_id = "finishPasskeyReset",
    request_body = ResetFinish,
    responses((status = 200, description = "Signed in: a new session token.", body = SessionGrant)))]
pub async fn reset_finish(
    State(state): State<IdentityState>,
    origin: Origin,
    ApiJson(body): ApiJson<ResetFinish>,
) -> ApiResult<Response> {
    let email = parse_email(&body.email)?;
    let code = body.code.trim().to_ascii_uppercase();
    Ok(reset(&state, origin, email, code).await?.into_response())
}

/// One unit of work: the code check (whose failures count and commit), the reset, the recovery
/// hold, the notices and the new session; the notices are sent after the commit.
async fn reset(
    state: &IdentityState,
    origin: Origin,
    email: Email,
    code: String,
) -> ApiResult<SessionGrant> {
    let now = state.clock.now();
    let (key, mailer) = (state.key.clone(), state.mailer.clone());
    let held_until = now.plus_seconds(state.config.recovery_hold_secs);
    let lifetime = state.config.session_absolute_secs;
    let reset = state
        .db
        .write(move |w| {
            let (address, purpose) = (email.as_str(), Purpose::PasskeyReset);
            let Some(challenge) = code_store::latest_challenge_in(w, address, purpose, now)? else {
                // No live code for this address: the same lockout rules and the same answer.
                if let Some(until) = codes::reserve_attempt_in(w, address, purpose, now)? {
                    return Ok(Err(codes::locked_out(until, now)));
                }
                codes::record_failure_in(w, address, purpose, now)?;
                return Ok(Err(wrong_reset_code()));
            };
            let verdict = check_code_in(w, &key, &origin, &challenge, &code, purpose, now)?;
            if let Err(e) = answer(verdict, wrong_reset_code(), now) {
                return Ok(Err(e));
            }
            let Some(account) = accounts::by_email_in(w, address)? else {
                return Ok(Err(wrong_reset_code()));
            };
            if let Err(e) = account.check_standing(now) {
                return Ok(Err(e));
            }
            passkeys::delete_all_in(w, &account.id)?;
            session_store::revoke_all_but_in(w, &account.id, None, now)?;
            let held = super::recovery::start_in(w, &account.id, now)?;
            // Credentials issued before this instant answer 403002 for good.
            accounts::lock_in(w, &account.id, now)?;
            audit::record_in(
                w,
                &origin,
                now,
                "passkey_reset.completed",
                Some(&account.id),
                json!({}),
            )?;
            let what = "Your passkeys were reset: every passkey was removed and your other sessions were ended.";
            let mail = templates::security_notice(&account.email, what, "passkey-reset");
            let mut notices = vec![Notice::new(&mailer, mail)];
            notices.extend(super::recovery::notices(
                &mailer,
                &account.email,
                &held,
                held_until,
            ));
            for notice in &notices {
                notice.queue_in(w, now)?;
            }
            let restricted = super::requirement::required(&account);
            let grant = sessions::insert_in(
                w,
                &origin,
                &account,
                AuthMethod::PasskeyReset,
                restricted,
                now,
                lifetime,
            )?;
            Ok(Ok(Reset { grant, notices }))
        })
        .await??;
    for notice in reset.notices {
        notice.send(now).await;
    }
    Ok(reset.grant)
}
