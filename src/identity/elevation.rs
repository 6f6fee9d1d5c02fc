//! Elevation (4.3): a session is elevated for a while after an interactive authentication;
//! for a user with a passkey only passkey authentications count.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::IdentityState;
use crate::mail::templates;
use crate::time::Timestamp;

use super::account;
use super::auth::{Caller, Credential};
use super::ceremony::{self, Purpose as Ceremony};
use super::codes::{self, NewChallenge, Purpose};
use super::passkeys;
use super::sessions::{self, AuthMethod};
use super::signin::{answer, check_code_in};
use super::store::{codes as code_store, sessions as session_store};
use super::webauthn::Verified;

/// The ways the caller could elevate: `["passkey"]` with a passkey, else `["email-otp"]`.
async fn methods(state: &crate::state::Infra, caller: &Caller) -> ApiResult<Vec<&'static str>> {
    if !caller.is_session() {
        return Ok(Vec::new());
    }
    Ok(
        if sessions::has_passkey(&state.db, &caller.user_id).await? {
            vec!["passkey"]
        } else {
            vec!["email-otp"]
        },
    )
}

/// A restricted session (4.4) may register its first passkey without elevation (4.2): it has
/// nothing to elevate with. Once the user has a passkey, every session needs that passkey's
/// proof, also a second restricted session the user left open.
pub async fn waived_for_restricted(
    state: &crate::state::Infra,
    caller: &Caller,
) -> ApiResult<bool> {
    Ok(caller.is_restricted() && !sessions::has_passkey(&state.db, &caller.user_id).await?)
}

/// Step 7 of the pipeline: 403006 with `methods` unless the session is elevated.
pub async fn require(state: &crate::state::Infra, caller: &Caller) -> ApiResult<()> {
    let methods = methods(state, caller).await?;
    if let Credential::Session {
        auth_at,
        auth_method,
        ..
    } = &caller.credential
    {
        let recent = auth_at.plus_seconds(state.config.elevation_window_secs) >= state.clock.now();
        let counts =
            methods.first() != Some(&"passkey") || auth_method == AuthMethod::Passkey.as_str();
        if recent && counts {
            return Ok(());
        }
    }
    Err(ApiError::new(
        ErrorCode::ElevatedSecurityRequired,
        "This action needs a recent interactive authentication; elevate the session first.",
    )
    .with("methods", methods))
}

/// A way to elevate a session: `passkey` (an assertion of one of the user's passkeys) or
/// `email-otp` (a code mailed to the account's address, for users without a passkey).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "kebab-case")]
#[allow(dead_code)] // the wire values are `AuthMethod::as_str`; this names them in the document
pub enum ElevationMethod {
    Passkey,
    EmailOtp,
}

/// How to elevate the session.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"method": "passkey"}))]
pub struct ElevateStart {
    /// How to elevate: one of the `methods` a 403006 answer named (`passkey` when the user has
    /// a passkey, else `email-otp`); another answers 400002.
    #[schema(value_type = ElevationMethod)]
    method: String,
}

/// The challenge of an elevation.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ElevationChallenge {
    /// The challenge to finish with `POST /v1/auth/elevate/finish`.
    challenge_id: String,
    /// For `passkey`: the WebAuthn request options (JSON form) for
    /// `navigator.credentials.get`. Absent for `email-otp`, whose code is mailed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>)]
    public_key: Option<Value>,
}

/// Starts an elevation: a passkey assertion, or a code mailed to the account's address. An
/// elevated session may take sensitive actions (creating tokens, removing passkeys, …) for 10
/// minutes.
#[utoipa::path(post, path = "/v1/auth/elevate/start", tag = "sessions", operation_id = "startElevation",
    request_body = ElevateStart,
    responses((status = 200, description = "The challenge to prove presence with.", body = ElevationChallenge)))]
pub async fn start(
    State(state): State<IdentityState>,
    caller: Caller,
    ApiJson(body): ApiJson<ElevateStart>,
) -> ApiResult<Json<ElevationChallenge>> {
    let session_id = caller.session_id()?.to_string();
    let allowed = methods(&state, &caller).await?;
    if !allowed.contains(&body.method.as_str()) {
        return Err(ApiError::validation(
            "method",
            format!("must be one of: {}", allowed.join(", ")),
        ));
    }
    let account = account::get(&state.db, &caller.user_id).await?;
    if body.method == "passkey" {
        let started =
            passkeys::start_assertion(&state, Ceremony::Elevation, &account, Some(&session_id))
                .await?;
        return Ok(Json(ElevationChallenge {
            challenge_id: started.challenge_id,
            public_key: Some(started.public_key),
        }));
    }
    let now = state.clock.now();
    let code = codes::new_numeric_code();
    let mail = templates::elevation_code(&account.email, &code, state.config.code_ttl_secs);
    let new = NewChallenge {
        purpose: Purpose::Elevation,
        email: account.email,
        user_id: Some(account.id),
        session_id: Some(session_id),
        code,
    };
    let (challenge_id, _) = codes::send(&state, new, mail, now).await?;
    Ok(Json(ElevationChallenge {
        challenge_id,
        public_key: None,
    }))
}

/// The proof that finishes an elevation.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"challengeId": "chl_201cyfw6vzskdenc8sp3804gva", "code": "482913"}))]
pub struct ElevateFinish {
    /// The `challengeId` of `POST /v1/auth/elevate/start`.
    challenge_id: String,
    /// For `passkey`: the assertion, as `PublicKeyCredential.toJSON()` gives it. Send exactly
    /// one of `credential` and `code`.
    #[schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>)]
    credential: Option<Value>,
    /// For `email-otp`: the 6-digit code from the mail.
    code: Option<String>,
}

/// An elevated session.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Elevated {
    /// Always `true`.
    elevated: bool,
    /// Until when the session counts as elevated.
    elevated_until: Timestamp,
}

/// What the caller sent to finish an elevation.
enum Sent {
    /// A passkey assertion (`credential.toJSON()`).
    Credential(Value),
    /// The mailed code.
    Code(String),
}

/// What the caller proves an elevation with.
enum Proof {
    /// An assertion that verified against these stored passkeys.
    Passkey {
        verified: Verified,
        stored: Vec<passkeys::StoredPasskey>,
    },
    Code {
        challenge_id: String,
        code: String,
    },
}

/// Finishes an elevation with the passkey credential or the mailed code.
#[utoipa::path(post, path = "/v1/auth/elevate/finish", tag = "sessions", operation_id = "finishElevation",
    request_body = ElevateFinish,
    responses((status = 200, description = "The session is elevated.", body = Elevated)))]
pub async fn finish(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<ElevateFinish>,
) -> ApiResult<Json<Elevated>> {
    let session_id = caller.session_id()?.to_string();
    let sent = match (body.credential, body.code) {
        (Some(credential), None) => Sent::Credential(credential),
        (None, Some(code)) => Sent::Code(code),
        _ => {
            return Err(ApiError::validation(
                "credential",
                "send exactly one of `credential` and `code`",
            ));
        }
    };
    let elevated_at = elevate(&state, &caller, origin, session_id, body.challenge_id, sent).await?;
    Ok(Json(Elevated {
        elevated: true,
        elevated_until: elevated_at.plus_seconds(state.config.elevation_window_secs),
    }))
}

/// A passkey answer's ceremony is taken and its signature checked first; then one unit of work
/// records the passkey's use or checks the code (a wrong code's count commits), marks the
/// session authenticated and audits. When the session was elevated.
async fn elevate(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    session_id: String,
    challenge_id: String,
    sent: Sent,
) -> ApiResult<Timestamp> {
    let now = state.clock.now();
    let proof = match sent {
        Sent::Credential(credential) => {
            let ceremony = ceremony::take(state, &challenge_id, now)
                .await?
                .filter(|c| {
                    c.purpose == Ceremony::Elevation
                        && c.session_id.as_deref() == Some(session_id.as_str())
                })
                .ok_or_else(|| bad_credential("the challenge is unknown, used or expired"))?;
            let stored = passkeys::of_user(&state.db, &caller.user_id).await?;
            let verified = state
                .webauthn
                .finish_authentication(&ceremony.state, &credential, &passkeys::serialized(&stored))
                .map_err(|e| bad_credential(&format!("did not verify: {e}")))?;
            Proof::Passkey { verified, stored }
        }
        Sent::Code(code) => Proof::Code { challenge_id, code },
    };
    let (key, user_id) = (state.key.clone(), caller.user_id.clone());
    state
        .db
        .write(move |w| {
            let method = match proof {
                Proof::Passkey { verified, stored } => {
                    if !passkeys::record_use_in(w, &verified, &stored, now)? {
                        return Err(bad_credential(
                            "the passkey was used by another request at the same time",
                        ));
                    }
                    AuthMethod::Passkey
                }
                Proof::Code { challenge_id, code } => {
                    let purpose = Purpose::Elevation;
                    let Some(challenge) = code_store::challenge_in(w, &challenge_id, purpose)?
                        .filter(|c| c.session_id.as_deref() == Some(session_id.as_str()))
                    else {
                        return Ok(Err(codes::otp_failure()));
                    };
                    let verdict = check_code_in(w, &key, &origin, &challenge, &code, purpose, now)?;
                    if let Err(e) = answer(verdict, codes::otp_failure(), now) {
                        return Ok(Err(e));
                    }
                    AuthMethod::EmailOtp
                }
            };
            session_store::mark_authenticated_in(w, &session_id, method, now)?;
            audit::record_in(
                w,
                &origin,
                now,
                "session.elevated",
                Some(&user_id),
                json!({ "sessionId": session_id, "method": method.as_str() }),
            )?;
            Ok(Ok(()))
        })
        .await??;
    Ok(now)
}

fn bad_credential(reason: &str) -> ApiError {
    ApiError::validation("credential", reason)
}
