//! Interactive sign-in (4.1, 4.2, 4.4, 4.5): e-mail codes, passkeys, the passkey second step,
//! and passkey reset. A sign-in's writes — the counted attempt, the account, the standing
//! checks (banned 403003, suspended 403004, passkeys required 403013 or a restricted session)
//! and the session — are one unit of work whose every outcome commits (see `SignIn`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::IdentityState;
use crate::mail::templates;
use crate::time::Timestamp;

use super::account::{self, Account};
use super::ceremony::{self, Purpose as Ceremony, Started};
use super::codes::{self, NewChallenge, Purpose, Verdict};
use super::passkeys;
use super::sessions::{self, AuthMethod, SessionGrant};
use super::store::{accounts, codes as code_store};
use super::users::Email;

pub(super) fn parse_email(text: &str) -> ApiResult<Email> {
    Email::parse(text).ok_or_else(|| ApiError::validation("email", "is not a valid e-mail address"))
}

/// Where to mail a sign-in code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct EmailOtpStart {
    /// The address to mail the code to; trimmed and lower-cased. Signing in with a new address
    /// creates the account.
    email: String,
}

/// A mailed sign-in code, to verify.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeSent {
    /// The challenge to verify the mailed code against (`POST /v1/auth/email-otp/verify`).
    challenge_id: String,
    /// When the code stops working (10 minutes after it was sent).
    expires_at: Timestamp,
}

/// Mails a 6-digit sign-in code. The answer is the same whether or not an account exists.
#[utoipa::path(post, path = "/v1/auth/email-otp/start", tag = "sign-in", operation_id = "startEmailOtp",
    request_body = EmailOtpStart,
    responses((status = 202, description = "A code is on its way to the address (or nowhere, if it cannot receive mail: the answer does not tell).", body = CodeSent)))]
pub async fn email_otp_start(
    State(state): State<IdentityState>,
    origin: Origin,
    ApiJson(body): ApiJson<EmailOtpStart>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let email = parse_email(&body.email)?;
    let (challenge_id, expires_at) = send_code(&state, origin, email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            challenge_id,
            expires_at,
        }),
    ))
}

/// One unit of work: the per-address start limit, the address's send quota (its refusal
/// audited), the challenge and (SMTP) the queued mail; the mail is sent after the commit.
async fn send_code(
    state: &IdentityState,
    origin: Origin,
    email: Email,
) -> ApiResult<(String, Timestamp)> {
    let now = state.clock.now();
    let code = codes::new_numeric_code();
    let mail = templates::sign_in_code(email.as_str(), &code, state.config.code_ttl_secs);
    let (key, mailer, queued) = (state.key.clone(), state.mailer.clone(), mail.clone());
    let (limit, ttl) = (
        state.config.auth_starts_per_minute,
        state.config.code_ttl_secs,
    );
    let (challenge_id, expires_at) = state
        .db
        .write(move |w| {
            if let Some(until) = super::limits::count_start_in(w, &origin, limit, now)? {
                return Ok(Err(codes::locked_out(until, now)));
            }
            let new = NewChallenge {
                purpose: Purpose::SignIn,
                email: email.as_str().to_string(),
                user_id: None,
                session_id: None,
                code,
            };
            let challenge = match codes::send_in(w, &key, &mailer, &new, &queued, now, ttl)? {
                Ok(challenge) => challenge,
                Err(until) => {
                    audit::record_in(
                        w,
                        &origin,
                        now,
                        "sign_in.code_quota_exceeded",
                        Some(email.as_str()),
                        json!({}),
                    )?;
                    return Ok(Err(codes::locked_out(until, now)));
                }
            };
            Ok(Ok(challenge))
        })
        .await??;
    state
        .mailer
        .after_commit(now, mail)
        .await
        .map_err(ApiError::internal)?;
    Ok((challenge_id, expires_at))
}

/// A mailed sign-in code, to sign in with.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"challengeId": "chl_201cyfw6vzskdenc8sp3804gva", "code": "482913"}))]
pub struct EmailOtpVerify {
    /// The `challengeId` of `POST /v1/auth/email-otp/start`.
    challenge_id: String,
    /// The 6-digit code from the mail.
    code: String,
}

/// Verifies a code and signs in, creating the user on the first verification. When the account
/// requires passkeys and has one, the answer is 403013 with a passkey challenge to finish with
/// `POST /v1/auth/passkey/finish`; without a passkey yet, the session is restricted to
/// registering one.
#[utoipa::path(post, path = "/v1/auth/email-otp/verify", tag = "sign-in", operation_id = "verifyEmailOtp",
    request_body = EmailOtpVerify,
    responses((status = 200, description = "Signed in: a new session token.", body = SessionGrant)))]
pub async fn email_otp_verify(
    State(state): State<IdentityState>,
    origin: Origin,
    ApiJson(body): ApiJson<EmailOtpVerify>,
) -> ApiResult<Response> {
    let grant = verify_code(&state, origin, body.challenge_id, body.code).await?;
    Ok(grant.into_response())
}

/// One unit of work for the usual path: the attempt, the code, the account (signed up on
/// first verification), the standing checks and the session; only the passkey second step
/// (403013) starts its ceremony afterwards.
async fn verify_code(
    state: &IdentityState,
    origin: Origin,
    challenge_id: String,
    code: String,
) -> ApiResult<SessionGrant> {
    let now = state.clock.now();
    let key = state.key.clone();
    let lifetime = state.config.session_absolute_secs;
    let outcome = state
        .db
        .write(move |w| {
            let Some(challenge) = code_store::challenge_in(w, &challenge_id, Purpose::SignIn)?
            else {
                return Ok(SignIn::Refused(codes::otp_failure()));
            };
            let verdict = check_code_in(w, &key, &origin, &challenge, &code, Purpose::SignIn, now)?;
            if let Err(e) = answer(verdict, codes::otp_failure(), now) {
                return Ok(SignIn::Refused(e));
            }
            let account = match accounts::by_email_in(w, &challenge.email)? {
                Some(account) if account.email_verified => account,
                Some(mut account) => {
                    // The code proves the address, also of an account an administrator made.
                    accounts::mark_email_verified_in(w, &account.id, now)?;
                    account.email_verified = true;
                    account
                }
                None => {
                    let id = new_id("usr");
                    if account::insert_in(w, &id, &challenge.email, None, now, true)? {
                        audit::record_in(w, &origin, now, "user.signed_up", Some(&id), json!({}))?;
                    }
                    accounts::by_email_in(w, &challenge.email)?
                        .ok_or_else(|| ApiError::internal("user vanished after sign-up"))?
                }
            };
            if let Err(e) = standing_in(w, &origin, &account, now)? {
                return Ok(SignIn::Refused(e));
            }
            let mut restricted = false;
            if super::requirement::required(&account) {
                if sessions::has_passkey_in(w, &account.id)? {
                    return Ok(SignIn::SecondFactor(Box::new(account)));
                }
                restricted = true;
            }
            let grant = sessions::insert_in(
                w,
                &origin,
                &account,
                AuthMethod::EmailOtp,
                restricted,
                now,
                lifetime,
            )?;
            Ok(SignIn::Granted(Box::new(grant)))
        })
        .await?;
    match outcome {
        SignIn::Granted(grant) => Ok(*grant),
        SignIn::Refused(e) => Err(e),
        SignIn::SecondFactor(account) => Err(second_factor(state, &account).await?),
    }
}

/// How an e-mail sign-in's unit of work ended; every outcome commits (a refusal's count and
/// audit event stand).
enum SignIn {
    Granted(Box<SessionGrant>),
    Refused(ApiError),
    /// Passkeys are required and the user has one: 403013 with a passkey challenge.
    SecondFactor(Box<Account>),
}

/// Inside a unit: banned 403003 or suspended 403004, audited.
fn standing_in(
    w: &mut crate::db::Unit<'_>,
    origin: &Origin,
    account: &Account,
    now: Timestamp,
) -> Result<ApiResult<()>, crate::db::UnitError> {
    let standing = account.check_standing(now);
    if let Err(e) = &standing {
        audit::record_in(
            w,
            origin,
            now,
            "sign_in.refused",
            Some(&account.id),
            json!({ "code": e.code.code() }),
        )?;
    }
    Ok(standing)
}

/// 403013 with the passkey challenge of the second step.
async fn second_factor(state: &IdentityState, account: &Account) -> ApiResult<ApiError> {
    let started = passkeys::start_assertion(state, Ceremony::SecondFactor, account, None).await?;
    Ok(ApiError::new(
        ErrorCode::TwoFactorRequired,
        "This account signs in with a passkey after the e-mail code; finish with /v1/auth/passkey/finish.",
    )
    .with("challengeId", started.challenge_id)
    .with("publicKey", started.public_key))
}

/// Inside a unit of work: verifies a mailed code with the lockout rules and audits a failure
/// or a lockout. Every outcome commits.
pub fn check_code_in(
    w: &mut crate::db::Unit<'_>,
    key: &crate::server_key::ServerKey,
    origin: &Origin,
    challenge: &codes::Challenge,
    code: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Verdict, crate::db::UnitError> {
    let verdict = codes::verify_in(w, key, challenge, code, purpose, now)?;
    let action = match verdict {
        Verdict::Verified => return Ok(verdict),
        Verdict::Wrong => "code.failed",
        Verdict::LockedOut(_) => "code.locked_out",
    };
    let subject = challenge.user_id.as_deref().unwrap_or(&challenge.email);
    audit::record_in(
        w,
        origin,
        now,
        action,
        Some(subject),
        json!({ "purpose": purpose.as_str() }),
    )?;
    Ok(verdict)
}

/// The answer to a verdict: nothing when verified, `wrong` or 403005 otherwise.
pub(super) fn answer(verdict: Verdict, wrong: ApiError, now: Timestamp) -> ApiResult<()> {
    match verdict {
        Verdict::Verified => Ok(()),
        Verdict::Wrong => Err(wrong),
        Verdict::LockedOut(until) => Err(codes::locked_out(until, now)),
    }
}

/// Whose passkeys to sign in with.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct PasskeyStart {
    /// The account's address, to offer its passkeys; without it the browser offers any
    /// discoverable passkey of this site.
    email: Option<String>,
}

/// Starts a passkey sign-in: for an e-mail's passkeys, or discoverable without one.
#[utoipa::path(post, path = "/v1/auth/passkey/start", tag = "sign-in", operation_id = "startPasskeySignIn",
    request_body = PasskeyStart,
    responses((status = 200, description = "The WebAuthn challenge to answer with `navigator.credentials.get`.", body = Started)))]
pub async fn passkey_start(
    State(state): State<IdentityState>,
    origin: Origin,
    ApiJson(body): ApiJson<PasskeyStart>,
) -> ApiResult<Json<Started>> {
    // Parameters (step 8) before the limit (step 9), as the other starts do.
    let email = body.email.as_deref().map(parse_email).transpose()?;
    Ok(Json(start_assertion(&state, origin, email).await?))
}

/// The options are prepared first (reads only); then one unit of work counts the start (over
/// the limit 403005 comes before any other answer) and stores the ceremony.
async fn start_assertion(
    state: &IdentityState,
    origin: Origin,
    email: Option<Email>,
) -> ApiResult<Started> {
    let now = state.clock.now();
    let prepared = match email {
        Some(email) => match accounts::by_email(&state.db, email.as_str()).await? {
            Some(account) => passkeys::assertion_options(state, &account).await.map(
                |(public_key, ceremony_state)| {
                    let pending = ceremony::Pending {
                        purpose: Ceremony::SignIn,
                        user_id: Some(account.id),
                        session_id: None,
                        state: ceremony_state,
                    };
                    (public_key, pending)
                },
            ),
            None => Err(ApiError::new(
                ErrorCode::NoPasskeysRegistered,
                "No passkeys are registered for this e-mail address.",
            )),
        },
        None => state
            .webauthn
            .start_discoverable()
            .map_err(ApiError::internal)
            .map(|(public_key, ceremony_state)| {
                let pending = ceremony::Pending {
                    purpose: Ceremony::Discoverable,
                    user_id: None,
                    session_id: None,
                    state: ceremony_state,
                };
                (public_key, pending)
            }),
    };
    let (limit, ttl) = (
        state.config.auth_starts_per_minute,
        state.config.code_ttl_secs,
    );
    state
        .db
        .write(move |w| {
            if let Some(until) = super::limits::count_start_in(w, &origin, limit, now)? {
                return Ok(Err(codes::locked_out(until, now)));
            }
            let (public_key, pending) = match prepared {
                Ok(prepared) => prepared,
                Err(e) => return Ok(Err(e)),
            };
            let challenge_id = ceremony::store_in(w, &pending, now, ttl)?;
            Ok(Ok(Started {
                challenge_id,
                public_key,
            }))
        })
        .await?
}

/// The assertion that finishes a passkey sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "challengeId": "chl_35rjfj2xbahw0gqnmf2kdpb0nr",
    "credential": {
        "id": "b3Bh...", "rawId": "b3Bh...", "type": "public-key",
        "response": {"clientDataJSON": "eyJ0...", "authenticatorData": "SZYN...", "signature": "MEUC...", "userHandle": "dXNy..."},
        "clientExtensionResults": {}
    }
}))]
pub struct PasskeyFinish {
    /// The `challengeId` of `POST /v1/auth/passkey/start`, or of the 403013 answer after an
    /// e-mail code.
    challenge_id: String,
    /// The assertion, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    credential: Value,
}

fn assertion_failed() -> ApiError {
    ApiError::new(
        ErrorCode::AuthenticationRequired,
        "The challenge is unknown, used or expired, or the passkey assertion did not verify.",
    )
}

/// An assertion that verified: whose, against which stored passkeys.
struct Asserted {
    account: Account,
    verified: super::webauthn::Verified,
    stored: Vec<passkeys::StoredPasskey>,
}

/// Checks an assertion against the ceremony and the user's stored passkeys: reads and the
/// signature check, outside any unit of work. `Err` carries the user the assertion claimed, if
/// known, for the audit log.
async fn check_assertion(
    state: &IdentityState,
    ceremony: &ceremony::Ceremony,
    credential: &Value,
) -> ApiResult<Result<Asserted, Option<String>>> {
    let account = if ceremony.purpose == Ceremony::Discoverable {
        let Ok((handle, _)) = state.webauthn.identify(credential) else {
            return Ok(Err(None));
        };
        match accounts::by_webauthn_handle(&state.db, &handle).await? {
            Some(account) => account,
            None => return Ok(Err(None)),
        }
    } else {
        let Some(user_id) = ceremony.user_id.clone() else {
            return Ok(Err(None));
        };
        account::get(&state.db, &user_id).await?
    };
    let stored = passkeys::of_user(&state.db, &account.id).await?;
    let serialized = passkeys::serialized(&stored);
    let verified = if ceremony.purpose == Ceremony::Discoverable {
        state
            .webauthn
            .finish_discoverable(&ceremony.state, credential, &serialized)
    } else {
        state
            .webauthn
            .finish_authentication(&ceremony.state, credential, &serialized)
    };
    Ok(match verified {
        Ok(verified) => Ok(Asserted {
            account,
            verified,
            stored,
        }),
        Err(_) => Err(Some(account.id)),
    })
}

/// Finishes a passkey sign-in, or the passkey step after an e-mail code (403013).
#[utoipa::path(post, path = "/v1/auth/passkey/finish", tag = "sign-in", operation_id = "finishPasskeySignIn",
    request_body = PasskeyFinish,
    responses((status = 200, description = "Signed in: a new session token.", body = SessionGrant)))]
pub async fn passkey_finish(
    State(state): State<IdentityState>,
    origin: Origin,
    ApiJson(body): ApiJson<PasskeyFinish>,
) -> ApiResult<Response> {
    let grant = finish_assertion(&state, origin, &body.challenge_id, &body.credential).await?;
    Ok(grant.into_response())
}

/// The ceremony is read, the signature checked outside any transaction, then one unit of work
/// takes the ceremony (only one finish can), records the passkey's use (of two racing
/// assertions with one counter only one counts), checks the account's standing and starts the
/// session; a failure is audited and uses the ceremony up too.
async fn finish_assertion(
    state: &IdentityState,
    origin: Origin,
    challenge_id: &str,
    credential: &Value,
) -> ApiResult<SessionGrant> {
    let now = state.clock.now();
    let ceremony = crate::identity::store::ceremonies::pending(&state.db, challenge_id, now)
        .await?
        .filter(|c| {
            matches!(
                c.purpose,
                Ceremony::SignIn | Ceremony::Discoverable | Ceremony::SecondFactor
            )
        })
        .ok_or_else(assertion_failed)?;
    let checked = check_assertion(state, &ceremony, credential).await?;
    let lifetime = state.config.session_absolute_secs;
    let challenge_id = challenge_id.to_string();
    let outcome = state
        .db
        .write(move |w| {
            if crate::identity::store::ceremonies::take_in(w, &challenge_id, now)?.is_none() {
                // Another finish took it first.
                return Ok(SignIn::Refused(assertion_failed()));
            }
            let failed = |w: &mut crate::db::Unit<'_>, subject: Option<&str>| {
                audit::record_in(
                    w,
                    &origin,
                    now,
                    "sign_in.passkey_failed",
                    subject,
                    json!({}),
                )
                .map(|()| SignIn::Refused(assertion_failed()))
            };
            let asserted = match checked {
                Ok(asserted) => asserted,
                Err(subject) => return Ok(failed(w, subject.as_deref())?),
            };
            let id = asserted.account.id.as_str();
            if !passkeys::record_use_in(w, &asserted.verified, &asserted.stored, now)? {
                return Ok(failed(w, Some(id))?);
            }
            // Read again inside the unit: a ban committed since the check counts.
            let Some(account) = accounts::by_id_in(w, id)? else {
                return Ok(failed(w, Some(id))?);
            };
            let account = &account;
            if let Err(e) = standing_in(w, &origin, account, now)? {
                return Ok(SignIn::Refused(e));
            }
            let grant = sessions::insert_in(
                w,
                &origin,
                account,
                AuthMethod::Passkey,
                false,
                now,
                lifetime,
            )?;
            Ok(SignIn::Granted(Box::new(grant)))
        })
        .await?;
    match outcome {
        SignIn::Granted(grant) => Ok(*grant),
        SignIn::Refused(e) => Err(e),
        SignIn::SecondFactor(_) => Err(ApiError::internal("a passkey is its own second step")),
    }
}
